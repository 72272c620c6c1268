// Host, Origin and Content-Type checks against browser-borne requests.
#include "browser_guard.h"

#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>

namespace mlship::serving::internal {
namespace beast = boost::beast;

namespace {

std::string_view View(beast::string_view text) { return {text.data(), text.size()}; }

// How a value from a header is quoted in messages: bounded.
std::string Shown(std::string_view value) {
  constexpr std::size_t kMaxShown = 100;
  std::string out = "'";
  out += value.substr(0, kMaxShown);
  if (value.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

// "name" of "name:port" or "[v6]" of "[v6]:port".
std::string_view HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const std::size_t colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool ListHas(const std::vector<std::string>& list, std::string_view value) {
  for (const std::string& item : list) {
    if (item == "*" || beast::iequals(item, value)) return true;
  }
  return false;
}

// Whether the server is bound to a loopback address (where a browser on
// the same machine is the main threat).
bool BoundToLoopback(const HttpServerOptions& options) {
  if (options.host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(options.host, ec);
  return !ec && address.is_loopback();
}

// Whether the Host header is checked at all for this server.
bool ChecksHost(const HttpServerOptions& options) {
  return BoundToLoopback(options) || !options.allowed_hosts.empty();
}

bool HostAllowed(const HttpServerOptions& options, std::string_view host_header) {
  const std::string_view name = HostName(host_header);
  if (ListHas(options.allowed_hosts, name)) return true;
  if (!BoundToLoopback(options)) return false;
  if (beast::iequals(name, "localhost") || beast::iequals(name, options.host)) return true;
  if (name == "[::1]") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(name), ec);
  return !ec && address.is_loopback();
}

// Whether `origin` is the server's own ("http://" or "https://" + Host),
// which counts only where the Host itself is checked.
bool SameOrigin(const HttpServerOptions& options, std::string_view origin, std::string_view host_header) {
  if (!ChecksHost(options) || host_header.empty()) return false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.size() == scheme.size() + host_header.size() && beast::iequals(origin.substr(0, scheme.size()), scheme) &&
        beast::iequals(origin.substr(scheme.size()), host_header)) {
      return true;
    }
  }
  return false;
}

HttpResponse Preflight(std::string_view origin) {
  HttpResponse response{http::status::no_content, 11};
  response.set(http::field::access_control_allow_origin, origin);
  response.set(http::field::access_control_allow_methods, "GET, POST");
  response.set(http::field::access_control_allow_headers,
               "Authorization, Content-Type, Inference-Header-Content-Length, mlship-routing-key");
  response.set(http::field::access_control_max_age, "600");
  response.set(http::field::vary, "Origin");
  return response;
}

}  // namespace

void AddBrowserSafetyHeaders(HttpResponse& response) {
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::x_frame_options, "DENY");
  const std::string_view type = View(response[http::field::content_type]);
  // A page that set its own policy (the login form) keeps it.
  if (beast::iequals(type.substr(0, 9), "text/html") && response.find("Content-Security-Policy") == response.end()) {
    // The dashboard is one page with inline script and style, drawing on a
    // canvas and fetching its data from this server.
    response.set("Content-Security-Policy",
                 "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
                 "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  }
}

std::string_view AllowedCorsOrigin(const ServerState& state, const http::request_header<>& header) {
  const std::string_view origin = View(header[http::field::origin]);
  if (origin.empty() || !ListHas(state.options.allowed_origins, origin)) return {};
  return origin;
}

std::optional<HttpResponse> ScreenBrowserRequest(const ServerState& state, const http::request_header<>& header,
                                                 const Route& route) {
  const HttpServerOptions& options = state.options;
  const std::string_view host = View(header[http::field::host]);
  const bool probe = route.kind == RouteKind::kHealthLive || route.kind == RouteKind::kHealthReady;
  // HTTP/1.0 clients may send no Host; browsers always send one.
  if (!probe && !host.empty() && ChecksHost(options) && !HostAllowed(options, host)) {
    return ErrorResponse(403, "Host " + Shown(host) +
                                  " is not a name this server answers to (a web page reaching it through DNS "
                                  "rebinding would look like this); expected localhost, 127.0.0.1 or [::1]" +
                                  std::string(options.allowed_hosts.empty() ? "" : " or one of allowed_hosts") +
                                  "; add the name to allowed_hosts (--allowed-hosts) to serve it");
  }
  const std::string_view origin = View(header[http::field::origin]);
  if (!origin.empty() && !ListHas(options.allowed_origins, origin) && !SameOrigin(options, origin, host)) {
    return ErrorResponse(403, "requests from web pages at Origin " + Shown(origin) +
                                  " are not allowed; add the origin to allowed_origins (--allowed-origins) to let "
                                  "that site call this server");
  }
  if (header.method() == http::verb::options && !origin.empty()) return Preflight(origin);
  if (route.kind == RouteKind::kModelInfer || route.kind == RouteKind::kModelExplain) {
    const std::string_view type = View(header[http::field::content_type]);
    const std::string_view media = type.substr(0, type.find(';'));
    std::string_view trimmed = media;
    while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
    const bool json_or_binary =
        beast::iequals(trimmed, "application/json") || beast::iequals(trimmed, "application/octet-stream");
    if (!json_or_binary && !(type.empty() && origin.empty())) {
      return ErrorResponse(415, "infer requests must have Content-Type application/json (or "
                                "application/octet-stream with binary tensors); got " +
                                    (type.empty() ? std::string("none") : Shown(type)));
    }
  }
  return std::nullopt;
}

}  // namespace mlship::serving::internal
