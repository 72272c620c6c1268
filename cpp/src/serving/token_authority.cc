// Bearer tokens, scopes, token buckets and dashboard sessions.
#include "token_authority.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <openssl/rand.h>

#include "auth.h"

namespace mlship::serving::internal {

namespace {

constexpr std::string_view kSessionCookie = "mlship_session";

std::string Hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

std::string_view View(const TokenDigest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

AuthDecision Deny(AuthDecision::Outcome outcome, std::string message) {
  AuthDecision decision;
  decision.outcome = outcome;
  decision.message = std::move(message);
  return decision;
}

std::string Number(double x) {
  if (x == std::floor(x) && x < 1e15) return std::to_string(static_cast<int64_t>(x));
  std::string text = std::to_string(x);
  while (text.back() == '0') text.pop_back();
  return text;
}

// How messages name a credential.
std::string Shown(const TokenEntry& entry, bool legacy) {
  if (legacy) return entry.name == "token" ? "the server token (--token)" : "the admin token (--admin-token)";
  return "the token '" + entry.name + "'";
}

}  // namespace

TokenAuthority::TokenAuthority(const HttpServerOptions& options)
    : token_file_(options.token_file),
      token_(options.token),
      admin_token_(options.admin_token),
      session_ttl_(options.dashboard_session_ttl),
      max_sessions_(std::max<std::size_t>(1, options.max_dashboard_sessions)),
      clock_(options.clock != nullptr ? options.clock : SystemClock::Default()) {
  TokenEntry token;
  token.name = "token";
  token.sha256 = Sha256(options.token);
  token.scopes = kScopeInfer | kScopeRead;
  token.rate_per_s = options.rate_limit_per_s;
  token.burst = options.rate_limit_burst > 0 ? options.rate_limit_burst : std::max(1.0, std::floor(token.rate_per_s));
  TokenEntry admin;
  admin.name = "admin_token";
  admin.sha256 = Sha256(options.admin_token);
  admin.scopes = kScopeAdmin;
  for (TokenEntry* entry : {&token, &admin}) {
    if (entry == &token ? token_.empty() : admin_token_.empty()) continue;
    Slot slot;
    slot.entry = std::move(*entry);
    slot.legacy = true;
    slot.tokens = slot.entry.burst;
    slot.refilled = clock_->Now();
    slots_.push_back(std::move(slot));
  }
}

Status TokenAuthority::Load() {
  if (token_file_.empty()) return Status::Ok();
  return Reload();
}

Status TokenAuthority::Reload() {
  if (token_file_.empty()) {
    return Status::FailedPrecondition("this server has no token file to reload; start it with token_file "
                                      "(--token-file)");
  }
  ASSIGN_OR_RETURN(std::vector<TokenEntry> entries, ReadTokenFile(token_file_));
  std::lock_guard<std::mutex> lock(mu_);
  slots_ = BuildSlots(std::move(entries));
  return Status::Ok();
}

std::vector<TokenAuthority::Slot> TokenAuthority::BuildSlots(std::vector<TokenEntry> entries) const {
  std::vector<Slot> slots;
  for (const Slot& slot : slots_) {
    if (slot.legacy) slots.push_back(slot);
  }
  const Clock::TimePoint now = clock_->Now();
  for (TokenEntry& entry : entries) {
    Slot slot;
    slot.tokens = entry.burst;
    slot.refilled = now;
    // A reload must not hand a busy token a fresh bucket.
    const int old = FindByDigest(entry.sha256);
    if (old >= 0 && !slots_[old].legacy && slots_[old].entry.rate_per_s > 0) {
      slot.tokens = std::min(entry.burst, slots_[old].tokens);
      slot.refilled = slots_[old].refilled;
    }
    slot.entry = std::move(entry);
    slots.push_back(std::move(slot));
  }
  return slots;
}

bool TokenAuthority::Enabled() const { return !token_.empty() || !token_file_.empty(); }

bool TokenAuthority::AdminConfigured() const { return !admin_token_.empty() || !token_file_.empty(); }

bool TokenAuthority::HasAdmin() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return (s.entry.scopes & kScopeAdmin) != 0; });
}

int TokenAuthority::FindByToken(std::string_view given) const {
  // Hash once, then compare against every digest without stopping at a
  // match, so the time taken says nothing about which token (if any)
  // matched or how much of a guess was right.
  const TokenDigest digest = Sha256(given);
  int found = -1;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const bool match = ConstantTimeEquals(View(digest), View(slots_[i].entry.sha256));
    found = match ? static_cast<int>(i) : found;
  }
  return found;
}

int TokenAuthority::FindByDigest(const TokenDigest& digest) const {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].entry.sha256 == digest) return static_cast<int>(i);
  }
  return -1;
}

std::optional<int64_t> TokenAuthority::Take(Slot& slot) {
  const double rate = slot.entry.rate_per_s;
  if (rate <= 0) return std::nullopt;
  const Clock::TimePoint now = clock_->Now();
  if (now > slot.refilled) {
    const double elapsed = std::chrono::duration<double>(now - slot.refilled).count();
    slot.tokens = std::min(slot.entry.burst, slot.tokens + elapsed * rate);
    slot.refilled = now;
  }
  if (slot.tokens >= 1) {
    slot.tokens -= 1;
    return std::nullopt;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - slot.tokens) / rate)));
}

std::string TokenAuthority::CallerName(std::string_view authorization) const {
  if (authorization.empty()) return "anonymous";
  StatusOr<std::string_view> given = BearerTokenOf(authorization);
  if (!given.ok()) return "anonymous";
  std::lock_guard<std::mutex> lock(mu_);
  const int index = FindByToken(*given);
  return index < 0 ? "anonymous" : slots_[index].entry.name;
}

AuthDecision TokenAuthority::Authorize(std::string_view authorization, std::string_view cookie_header, bool is_get,
                                       unsigned scope) {
  using Outcome = AuthDecision::Outcome;
  if (!authorization.empty()) {
    StatusOr<std::string_view> given = BearerTokenOf(authorization);
    if (!given.ok()) return Deny(Outcome::kUnauthenticated, given.status().message());
    std::lock_guard<std::mutex> lock(mu_);
    const int index = FindByToken(*given);
    if (index < 0) return Deny(Outcome::kUnauthenticated, "the bearer token is not valid for this server");
    Slot& slot = slots_[index];
    if ((slot.entry.scopes & scope) == 0) {
      // token and admin_token keep their meaning from before scopes: each
      // is simply not a token of the other's endpoints.
      if (slot.legacy) return Deny(Outcome::kUnauthenticated, "the bearer token is not valid for this server");
      return Deny(Outcome::kForbidden, "this endpoint needs a token with the '" +
                                           std::string(ScopeName(static_cast<TokenScope>(scope))) + "' scope; " +
                                           Shown(slot.entry, false) + " has: " + ScopeList(slot.entry.scopes));
    }
    if (const std::optional<int64_t> wait = Take(slot)) {
      AuthDecision decision = Deny(Outcome::kRateLimited, Shown(slot.entry, slot.legacy) + " is over its rate limit of " +
                                                              Number(slot.entry.rate_per_s) + " requests/s (burst " +
                                                              Number(slot.entry.burst) + "); retry after " +
                                                              std::to_string(*wait) + " s");
      decision.retry_after_s = *wait;
      return decision;
    }
    return {};
  }
  const std::string key = SessionKey(cookie_header);
  // A login opens only reads: a page on another site that makes the
  // browser send the cookie (CSRF) can then change nothing.
  if (!key.empty() && is_get && scope == kScopeRead) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = sessions_.find(key);
    if (it == sessions_.end() || clock_->Now() - it->second.started >= session_ttl_) {
      if (it != sessions_.end()) sessions_.erase(it);
      return Deny(Outcome::kUnauthenticated,
                  "the dashboard login has expired or ended; log in again at /dashboard/login");
    }
    const int index = FindByDigest(it->second.token);
    if (index < 0 || (slots_[index].entry.scopes & kScopeRead) == 0) {
      sessions_.erase(it);
      return Deny(Outcome::kUnauthenticated, "the token this dashboard login used is no longer valid; log in again "
                                             "at /dashboard/login");
    }
    Slot& slot = slots_[index];
    if (const std::optional<int64_t> wait = Take(slot)) {
      AuthDecision decision =
          Deny(Outcome::kRateLimited, Shown(slot.entry, slot.legacy) + " is over its rate limit; retry after " +
                                          std::to_string(*wait) + " s");
      decision.retry_after_s = *wait;
      return decision;
    }
    return {};
  }
  return Deny(Outcome::kUnauthenticated, "this server requires a token: send the header 'Authorization: Bearer <token>'");
}

StatusOr<std::string> TokenAuthority::StartSession(std::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  const int index = FindByToken(token);
  if (index < 0) return Status::Unauthenticated("the token is not valid for this server");
  const Slot& slot = slots_[index];
  if ((slot.entry.scopes & kScopeRead) == 0) {
    return Status::FailedPrecondition(Shown(slot.entry, slot.legacy) +
                                      " lacks the 'read' scope the dashboard needs; it has: " +
                                      ScopeList(slot.entry.scopes));
  }
  unsigned char id[32];
  if (RAND_bytes(id, sizeof id) != 1) return Status::Internal("no random bytes for a session id");
  const std::string cookie = Hex(id, sizeof id);
  const Clock::TimePoint now = clock_->Now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = now - it->second.started >= session_ttl_ ? sessions_.erase(it) : std::next(it);
  }
  while (sessions_.size() >= max_sessions_) {
    const auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.started < b.second.started;
    });
    sessions_.erase(oldest);
  }
  const TokenDigest key = Sha256(cookie);
  sessions_[Hex(key.data(), key.size())] = SessionInfo{slot.entry.sha256, now};
  return cookie;
}

void TokenAuthority::EndSession(std::string_view cookie_header) {
  const std::string key = SessionKey(cookie_header);
  if (key.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(key);
}

bool TokenAuthority::HasSession(std::string_view cookie_header) {
  return Authorize({}, cookie_header, /*is_get=*/true, kScopeRead).outcome == AuthDecision::Outcome::kAllowed;
}

std::size_t TokenAuthority::SessionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

std::string TokenAuthority::SessionKey(std::string_view cookie_header) {
  // "a=1; mlship_session=<hex>; b=2": the first mlship_session wins.
  while (!cookie_header.empty()) {
    const std::size_t end = cookie_header.find(';');
    std::string_view pair = cookie_header.substr(0, end);
    cookie_header.remove_prefix(end == std::string_view::npos ? cookie_header.size() : end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() <= kSessionCookie.size() || pair.substr(0, kSessionCookie.size()) != kSessionCookie ||
        pair[kSessionCookie.size()] != '=') {
      continue;
    }
    std::string_view value = pair.substr(kSessionCookie.size() + 1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.size() != 64) return {};
    const TokenDigest key = Sha256(value);
    return Hex(key.data(), key.size());
  }
  return {};
}

}  // namespace mlship::serving::internal
