// Who may call what: the server's bearer tokens (token, admin_token, the
// scoped token file), their rate limits, and the dashboard's login sessions
// (internal).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/clock.h"
#include "mlship/serving/http_server.h"
#include "mlship/status.h"
#include "token_file.h"

namespace mlship::serving::internal {

// The answer to "may this request go on?".
struct AuthDecision {
  enum class Outcome { kAllowed, kUnauthenticated, kForbidden, kRateLimited };
  Outcome outcome = Outcome::kAllowed;
  // Why not (never the secret); empty when allowed.
  std::string message;
  // For kRateLimited: whole seconds until the next request would pass.
  int64_t retry_after_s = 0;
};

// Thread-safe: one mutex guards the token set, the buckets and the
// sessions; the per-request work under it is a scan of at most
// kMaxTokenEntries digests.
class TokenAuthority {
 public:
  explicit TokenAuthority(const HttpServerOptions& options);

  // Reads options.token_file, if set (HttpServer::Create calls it).
  Status Load();
  // Re-reads the file; on error keeps the current set. FailedPrecondition
  // without a token_file.
  Status Reload();

  // Whether the non-repository routes need a credential: `token` or a
  // token file is set.
  bool Enabled() const;
  // Whether the repository endpoints can be opened at all: admin_token or
  // a token file is set.
  bool AdminConfigured() const;
  // Whether some credential has the admin scope now.
  bool HasAdmin() const;

  // Checks a request that needs `scope` (a TokenScope): by its
  // Authorization header when there is one, else (for a GET that needs only
  // read) by its mlship_session cookie. `token` opens infer and read,
  // `admin_token` admin (either elsewhere is "not valid", as before scoped
  // tokens); a file token opens its scopes, and is 403 elsewhere. A
  // credential over its rate limit is kRateLimited.
  AuthDecision Authorize(std::string_view authorization, std::string_view cookie_header, bool is_get, unsigned scope);

  // Logs in with `token` (sent in the login form): it must be `token` or a
  // file token with the read scope. Returns the new session's id for the
  // cookie; Unauthenticated for an unknown token, PermissionDenied for one
  // without read. The oldest session is ended when max_dashboard_sessions
  // are held.
  StatusOr<std::string> StartSession(std::string_view token);
  // Ends the session named by the Cookie header, if any.
  void EndSession(std::string_view cookie_header);
  // Whether the Cookie header names a live session (for the login page).
  bool HasSession(std::string_view cookie_header);
  // Who an Authorization header says the caller is, for the audit log: the
  // name of the credential it carries ("token", "admin_token", or a token
  // file entry's name), else "anonymous". Never the token itself; takes no
  // request from any rate limit.
  std::string CallerName(std::string_view authorization) const;
  // Sessions held now (expired ones are dropped when a session starts).
  std::size_t SessionCount() const;

 private:
  // A credential and its rate-limit bucket.
  struct Slot {
    TokenEntry entry;
    // Set for `token` and `admin_token`, whose wrong-scope use answers 401
    // as before scoped tokens existed.
    bool legacy = false;
    // Requests the bucket holds now (up to entry.burst).
    double tokens = 0;
    // When `tokens` was last brought up to date.
    Clock::TimePoint refilled{};
  };
  // A dashboard login.
  struct SessionInfo {
    // The token that logged in; it must still hold the read scope.
    TokenDigest token{};
    Clock::TimePoint started{};
  };

  // The slots of `entries` after the legacy ones, carrying bucket state
  // over from the current slots for the same digests. Requires mu_.
  std::vector<Slot> BuildSlots(std::vector<TokenEntry> entries) const;
  // The slot whose token is `given` (constant time over all slots), or -1.
  // Requires mu_.
  int FindByToken(std::string_view given) const;
  // The slot with `digest`, or -1. Requires mu_.
  int FindByDigest(const TokenDigest& digest) const;
  // Takes a request from slot `index`'s bucket; the seconds to wait when
  // empty. Requires mu_.
  std::optional<int64_t> Take(Slot& slot);
  // Key of the session named by the Cookie header, or empty.
  static std::string SessionKey(std::string_view cookie_header);

  // Fixed at construction.
  const std::string token_file_;
  const std::string token_;
  const std::string admin_token_;
  const std::chrono::seconds session_ttl_;
  const std::size_t max_sessions_;
  Clock* const clock_;

  mutable std::mutex mu_;
  // The legacy slots first, then the file's. Guarded by mu_.
  std::vector<Slot> slots_;
  // Sessions by the hex SHA-256 of their id (so a lookup's timing says
  // nothing about real ids). Guarded by mu_.
  std::map<std::string, SessionInfo, std::less<>> sessions_;
};

}  // namespace mlship::serving::internal
