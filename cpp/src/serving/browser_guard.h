// What keeps web pages from using a server they should not reach: Host
// (DNS rebinding), Origin (cross-site requests) and Content-Type (CORS
// "simple" requests) checks (internal).
#pragma once

#include <optional>
#include <string_view>

#include "http_types.h"
#include "route.h"
#include "server_state.h"

namespace mlship::serving::internal {

// The refusal for a request a browser may have been tricked into sending,
// or nullopt to go on:
// - Host (all but the health probes): on a loopback address only
//   localhost, 127.0.0.1, [::1], the bound address and
//   options.allowed_hosts; elsewhere only allowed_hosts when it is set.
//   A DNS-rebinding page reaches the server under its own name, so it is
//   refused here. 403.
// - Origin (when present): only options.allowed_origins, or the server's
//   own origin when the Host was checked. 403.
// - Content-Type of an infer request: application/json or
//   application/octet-stream; a missing one only without Origin (a
//   non-browser client). 415. Browsers send text/plain, form types or no
//   type without a CORS preflight, so these would get through otherwise.
// An allowed cross-origin preflight (OPTIONS) gets its 204 here.
std::optional<HttpResponse> ScreenBrowserRequest(const ServerState& state, const http::request_header<>& header,
                                                 const Route& route);

// The Origin header when options.allowed_origins lets it read responses
// (the session echoes it in Access-Control-Allow-Origin); empty otherwise.
std::string_view AllowedCorsOrigin(const ServerState& state, const http::request_header<>& header);

// Sets the headers that keep browsers from misusing a response: no MIME
// sniffing, no framing (clickjacking), and for HTML (the dashboard) a
// Content-Security-Policy that allows only its own inline script and style
// and requests to this server.
void AddBrowserSafetyHeaders(HttpResponse& response);

}  // namespace mlship::serving::internal
