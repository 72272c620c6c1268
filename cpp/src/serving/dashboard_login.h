// The dashboard's login: a form that trades a token with the read scope for
// a session cookie, so the dashboard works in a browser on a server with
// tokens (internal).
//
//   GET  /dashboard/login   the form (or, when logged in, a log-out button)
//   POST /dashboard/login   token=<token> (application/x-www-form-urlencoded):
//                           303 to /dashboard with
//                           Set-Cookie: mlship_session=<64 hex>; HttpOnly;
//                           SameSite=Strict; Path=/; Max-Age=<ttl> (+ Secure
//                           over TLS)
//   POST /dashboard/logout  ends the session, clears the cookie, 303 to the form
//
// The cookie opens only the read scope, and only on GET: a page elsewhere
// that makes the browser send it can read nothing (same-origin policy) and
// change nothing. It expires after dashboard_session_ttl and stops working
// when its token leaves the token file. Without any token configured the
// dashboard needs no login and these pages redirect to it.
#pragma once

#include <optional>
#include <string_view>

#include "http_types.h"
#include "server_state.h"

namespace mlship::serving::internal {

inline constexpr std::string_view kDashboardLoginPath = "/dashboard/login";
inline constexpr std::string_view kDashboardLogoutPath = "/dashboard/logout";

// Whether `path` is one of the login pages, which need no credential.
bool IsDashboardLoginPath(std::string_view path);

// The refusal of a login or logout request whose body is too large to read
// (over 8 KiB, or of unknown length), before it is read; nullopt to go on.
std::optional<HttpResponse> ScreenLoginHeader(const http::request_header<>& header);

// 303 See Other to `location`.
HttpResponse RedirectResponse(std::string_view location);

HttpResponse HandleDashboardLogin(ServerState& state, const HttpRequest& request);
HttpResponse HandleDashboardLogout(ServerState& state, const HttpRequest& request);

}  // namespace mlship::serving::internal
