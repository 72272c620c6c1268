// SHA-256 of files and bytes, with OpenSSL's libcrypto (Debian libssl-dev):
// the digest every repository manifest records for every file it lists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlship/status.h"

namespace mlship::repository {

// The lowercase hex digest of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// A file's digest and size, read in chunks (never the whole file at once).
struct FileDigest {
  std::string sha256;
  int64_t bytes = 0;
};

// Hashes the regular file at `path`. NotFound when it is missing;
// InvalidArgument when it is not a regular file (a directory, a symbolic
// link: links are refused so nothing in a repository can point outside it);
// Internal on a read error.
StatusOr<FileDigest> Sha256File(const std::string& path);

// Copies the regular file `from` to `to` (created or truncated, then
// fsync'ed) and hashes it in the same pass.
StatusOr<FileDigest> CopyAndHash(const std::string& from, const std::string& to);

}  // namespace mlship::repository
