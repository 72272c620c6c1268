// The scoped-token file: hashed bearer tokens with scopes and rate limits
// (internal).
//
// Format: JSON Lines, one object per line; blank lines and lines starting
// with '#' are skipped:
//
//   {"name": "ci", "sha256": "<64 hex digits>", "scopes": ["infer", "read"], "rate_per_s": 50, "burst": 100}
//
// name: 1..64 of [A-Za-z0-9_.-], unique in the file (named in logs and
// errors instead of the secret). sha256: the hex SHA-256 of the token's
// bytes (the token itself never sits in the file). scopes: a non-empty
// list of "infer", "read", "admin". rate_per_s (optional, > 0): the
// sustained requests per second this token may make; burst (optional,
// >= 1, default max(1, rate_per_s)): how many it may make at once. Without
// rate_per_s the token is not rate limited. `mlship token create` writes
// such lines.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/status.h"

namespace mlship::serving::internal {

// A SHA-256 digest.
using TokenDigest = std::array<unsigned char, 32>;

// What a credential may do; a bit set.
enum TokenScope : unsigned {
  kScopeInfer = 1u << 0,  // POST infer and outcomes
  kScopeRead = 1u << 1,   // GET metadata, readiness, /metrics, the dashboard, other extra routes
  kScopeAdmin = 1u << 2,  // the repository endpoints: load, unload, index, rollouts
};

// The scope's name as the file spells it ("infer", "read", "admin").
std::string_view ScopeName(TokenScope scope);
// "infer, read" for a bit set; "none" when empty.
std::string ScopeList(unsigned scopes);

// One line of the file.
struct TokenEntry {
  // Names the token in errors and logs.
  std::string name;
  // SHA-256 of the token.
  TokenDigest sha256{};
  // TokenScope bits.
  unsigned scopes = 0;
  // Sustained requests per second; 0 = no limit.
  double rate_per_s = 0;
  // Bucket size (requests at once); meaningful when rate_per_s > 0.
  double burst = 0;
};

// The largest token file read; larger files are refused whole.
inline constexpr std::size_t kMaxTokenFileBytes = std::size_t{1} << 20;
// The most entries a file may hold (so the per-request scan stays cheap).
inline constexpr std::size_t kMaxTokenEntries = 1000;

// SHA-256 of `bytes` (OpenSSL libcrypto, EVP). A fast hash is right here:
// tokens are long random secrets (32+ random bytes), not passwords people
// choose, so no dictionary or brute-force search can find one from its
// hash, and a slow KDF (bcrypt, scrypt, argon2) would add milliseconds to
// every request for no gain.
TokenDigest Sha256(std::string_view bytes);

// Parses the text of a token file; `source` names it in errors, which say
// the line number and what was expected there (never a secret: the file
// holds none).
StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text, std::string_view source);

// Reads and parses the file at `path` (at most kMaxTokenFileBytes).
StatusOr<std::vector<TokenEntry>> ReadTokenFile(const std::string& path);

}  // namespace mlship::serving::internal
