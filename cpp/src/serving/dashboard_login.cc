// The dashboard login form, its session cookie and the log-out.
#include "dashboard_login.h"

#include <optional>
#include <string>

#include <boost/beast/core/string.hpp>

namespace mlship::serving::internal {
namespace beast = boost::beast;

namespace {

// The largest login form body read.
constexpr std::size_t kMaxFormBytes = 8 << 10;

std::string_view View(beast::string_view text) { return {text.data(), text.size()}; }

std::string HtmlEscaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `field` in an application/x-www-form-urlencoded body
// (percent-decoded, '+' as space); nullopt when absent or badly encoded.
std::optional<std::string> FormField(std::string_view body, std::string_view field) {
  while (!body.empty()) {
    const std::size_t end = body.find('&');
    const std::string_view pair = body.substr(0, end);
    body.remove_prefix(end == std::string_view::npos ? body.size() : end + 1);
    if (pair.size() < field.size() + 1 || pair.substr(0, field.size()) != field || pair[field.size()] != '=') continue;
    std::string value;
    const std::string_view encoded = pair.substr(field.size() + 1);
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] == '+') {
        value += ' ';
      } else if (encoded[i] == '%') {
        const int hi = i + 1 < encoded.size() ? HexValue(encoded[i + 1]) : -1;
        const int lo = i + 2 < encoded.size() ? HexValue(encoded[i + 2]) : -1;
        if (hi < 0 || lo < 0) return std::nullopt;
        value += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        value += encoded[i];
      }
    }
    return value;
  }
  return std::nullopt;
}

// The login page: no script at all, so its CSP can forbid every script.
HttpResponse Page(http::status status, std::string_view notice, bool logged_in) {
  std::string body =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlship dashboard login</title>"
      "<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}"
      "input{width:100%;padding:.4rem;margin:.4rem 0 .8rem;box-sizing:border-box}"
      "button{padding:.4rem 1rem}.notice{color:#a40000}</style></head><body><h1>mlship dashboard</h1>";
  if (!notice.empty()) body += "<p class=\"notice\">" + HtmlEscaped(notice) + "</p>";
  if (logged_in) {
    body += "<p>You are logged in. <a href=\"/dashboard\">Open the dashboard</a>.</p>"
            "<form method=\"post\" action=\"/dashboard/logout\"><button type=\"submit\">Log out</button></form>";
  } else {
    body += "<form method=\"post\" action=\"/dashboard/login\"><label for=\"token\">Token (with the read scope)</label>"
            "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>"
            "<button type=\"submit\">Log in</button></form>";
  }
  body += "</body></html>";
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  response.set("Content-Security-Policy",
               "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
               "base-uri 'none'");
  response.set(http::field::cache_control, "no-store");
  // Not "no-referrer": under it browsers post the form with "Origin: null",
  // which the Origin check refuses. "same-origin" sends the real origin to
  // this server and nothing to other sites.
  response.set("Referrer-Policy", "same-origin");
  response.body() = std::move(body);
  return response;
}

std::string SessionCookie(const ServerState& state, std::string_view value, long long max_age_s) {
  std::string cookie = "mlship_session=" + std::string(value) + "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                       std::to_string(max_age_s);
  if (state.serves_tls) cookie += "; Secure";
  return cookie;
}

HttpResponse WrongMethod(std::string_view allowed) {
  HttpResponse response = ErrorResponse(405, "use " + std::string(allowed) + " on this page");
  response.set(http::field::allow, allowed);
  return response;
}

}  // namespace

bool IsDashboardLoginPath(std::string_view path) { return path == kDashboardLoginPath || path == kDashboardLogoutPath; }

std::optional<HttpResponse> ScreenLoginHeader(const http::request_header<>& header) {
  if (header.method() != http::verb::post) return std::nullopt;
  const std::string_view length = View(header[http::field::content_length]);
  const bool chunked = header.find(http::field::transfer_encoding) != header.end();
  std::size_t bytes = 0;
  bool parsed = !length.empty() && length.size() <= 12;
  for (char c : length) {
    parsed = parsed && c >= '0' && c <= '9';
    if (parsed) bytes = bytes * 10 + static_cast<std::size_t>(c - '0');
  }
  if (chunked || (!length.empty() && (!parsed || bytes > kMaxFormBytes))) {
    return ErrorResponse(413, "the login form must be at most " + std::to_string(kMaxFormBytes) +
                                  " bytes, sent with a Content-Length");
  }
  return std::nullopt;
}

HttpResponse RedirectResponse(std::string_view location) {
  HttpResponse response{http::status::see_other, 11};
  response.set(http::field::location, location);
  response.set(http::field::cache_control, "no-store");
  return response;
}

HttpResponse HandleDashboardLogin(ServerState& state, const HttpRequest& request) {
  const bool is_get = request.method() == http::verb::get;
  if (!is_get && request.method() != http::verb::post) return WrongMethod("GET, POST");
  // Without tokens the dashboard is open: nothing to log in to.
  if (!state.tokens.Enabled()) return RedirectResponse("/dashboard");
  const std::string_view cookie = View(request[http::field::cookie]);
  if (is_get) return Page(http::status::ok, "", state.tokens.HasSession(cookie));
  const std::string_view type = View(request[http::field::content_type]);
  if (!beast::iequals(type.substr(0, type.find(';')), "application/x-www-form-urlencoded")) {
    return ErrorResponse(415, "the login form is sent as application/x-www-form-urlencoded (token=...)");
  }
  if (request.body().size() > kMaxFormBytes) {
    return ErrorResponse(413, "the login form is larger than " + std::to_string(kMaxFormBytes) + " bytes");
  }
  const std::optional<std::string> token = FormField(request.body(), "token");
  if (!token || token->empty()) return Page(http::status::bad_request, "Enter a token.", false);
  StatusOr<std::string> session = state.tokens.StartSession(*token);
  if (!session.ok()) {
    switch (session.status().code()) {
      case StatusCode::kUnauthenticated:
        return Page(http::status::unauthorized, "That token is not valid for this server.", false);
      case StatusCode::kFailedPrecondition: return Page(http::status::forbidden, session.status().message(), false);
      default: return ErrorResponse(session.status());
    }
  }
  HttpResponse response = RedirectResponse("/dashboard");
  response.set(http::field::set_cookie,
               SessionCookie(state, *session, static_cast<long long>(state.options.dashboard_session_ttl.count())));
  return response;
}

HttpResponse HandleDashboardLogout(ServerState& state, const HttpRequest& request) {
  if (request.method() != http::verb::post) return WrongMethod("POST");
  state.tokens.EndSession(View(request[http::field::cookie]));
  HttpResponse response = RedirectResponse(std::string(kDashboardLoginPath));
  response.set(http::field::set_cookie, SessionCookie(state, "", 0));
  return response;
}

}  // namespace mlship::serving::internal
