// Routing, authentication, health, metadata and extra GET routes.
#include "request_handler.h"

#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "auth.h"
#include "browser_guard.h"
#include "kserve_metadata.h"

#ifndef MLSHIP_VERSION
#define MLSHIP_VERSION "0.0.0"
#endif

namespace mlship::serving::internal {
namespace {

std::string_view ToStringView(boost::beast::string_view text) { return {text.data(), text.size()}; }

// A path as quoted in messages: bounded, so a huge target is not echoed back.
std::string QuotedPath(std::string_view path) {
  constexpr std::size_t kMaxShown = 120;
  std::string out;
  out += '\'';
  out += path.substr(0, kMaxShown);
  if (path.size() > kMaxShown) out += "...";
  out += '\'';
  return out;
}

std::string_view MethodName(RouteMethod method) { return method == RouteMethod::kPost ? "POST" : "GET"; }

bool MethodMatches(http::verb verb, RouteMethod method) {
  return method == RouteMethod::kPost ? verb == http::verb::post : verb == http::verb::get;
}

HttpResponse MethodNotAllowed(const HttpRequest& request, std::string_view path, RouteMethod allowed) {
  HttpResponse response = ErrorResponse(405, "method " + std::string(ToStringView(request.method_string())) +
                                                 " is not allowed on " + QuotedPath(path) + "; use " +
                                                 std::string(MethodName(allowed)));
  response.set(http::field::allow, MethodName(allowed));
  return response;
}

HttpResponse HandleExtraRoute(const ServerState& state, const HttpRequest& request) {
  const std::string_view target = ToStringView(request.target());
  const std::string_view path = PathOf(target);
  const std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
  const std::optional<QueryRouteHandler> handler = state.FindGetRoute(path);
  if (!handler) {
    return ErrorResponse(404, "no endpoint at " + QuotedPath(path) + "; the KServe v2 API lives under /v2 (GET /v2)");
  }
  if (request.method() != http::verb::get) return MethodNotAllowed(request, path, RouteMethod::kGet);
  StatusOr<HttpContent> content = Status::Internal("the handler for " + QuotedPath(path) + " failed");
  try {
    content = (*handler)(query);
  } catch (...) {
    // Keep the exception's text out of the response; it may hold internals.
  }
  if (!content.ok()) return ErrorResponse(content.status());
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, content->content_type);
  response.body() = std::move(content->body);
  return response;
}

HttpResponse HandleLive(const ServerState& state) {
  if (!state.backend->Live()) return ErrorResponse(503, "the server is not live");
  return JsonResponse(http::status::ok, EncodeFlag("live", true));
}

HttpResponse HandleReady(const ServerState& state) {
  if (state.draining.load()) return ErrorResponse(503, "the server is shutting down");
  if (!state.backend->Ready()) return ErrorResponse(503, "the server is not ready; retry later");
  return JsonResponse(http::status::ok, EncodeFlag("ready", true));
}

HttpResponse HandleModelMetadata(const ServerState& state, const Route& route) {
  StatusOr<ModelInfo> info = state.backend->Find(route.model, route.version);
  if (!info.ok()) return ErrorResponse(info.status());
  return JsonResponse(http::status::ok, EncodeModelMetadata(*info));
}

HttpResponse HandleModelReady(const ServerState& state, const Route& route) {
  StatusOr<ModelInfo> info = state.backend->Find(route.model, route.version);
  if (!info.ok()) return ErrorResponse(info.status());
  if (state.draining.load()) return ErrorResponse(503, "the server is shutting down");
  if (!state.backend->ModelReady(info->name, info->version)) {
    return ErrorResponse(503, "model '" + info->name + "' version '" + info->version + "' is not ready; retry later");
  }
  return JsonResponse(http::status::ok, EncodeModelReady(*info, true));
}

}  // namespace

std::optional<HttpResponse> ScreenRequestHeader(const ServerState& state, const http::request_header<>& header) {
  const Route route = ParseRoute(ToStringView(header.target()));
  if (std::optional<HttpResponse> refusal = ScreenBrowserRequest(state, header, route)) return refusal;
  if (route.is_repository() && state.repository != nullptr) {
    // Loading and unloading change what the server serves: only the admin
    // token opens them, and without one they are off.
    if (state.options.admin_token.empty()) {
      return ErrorResponse(403, "the repository endpoints are off; start the server with an admin token "
                                "(--admin-token, MLSHIP_ADMIN_TOKEN or admin_token=) to use them");
    }
    const Status auth =
        CheckBearerToken(ToStringView(header[http::field::authorization]), state.options.admin_token);
    if (auth.ok()) return std::nullopt;
    HttpResponse response = ErrorResponse(Status::Unauthenticated("the repository endpoints need the admin token: " +
                                                                  auth.message()));
    response.set(http::field::www_authenticate, "Bearer");
    return response;
  }
  if (state.options.token.empty()) return std::nullopt;
  if (!route.requires_auth()) return std::nullopt;
  const Status auth = CheckBearerToken(ToStringView(header[http::field::authorization]), state.options.token);
  if (auth.ok()) return std::nullopt;
  HttpResponse response = ErrorResponse(auth);
  response.set(http::field::www_authenticate, "Bearer");
  return response;
}

void HandleRequest(ServerState& state, HttpRequest request, std::shared_ptr<Responder> responder) {
  const Route route = ParseRoute(ToStringView(request.target()));
  if (route.kind == RouteKind::kNone) return responder->Respond(HandleExtraRoute(state, request));
  if (!MethodMatches(request.method(), route.method())) {
    return responder->Respond(MethodNotAllowed(request, PathOf(ToStringView(request.target())), route.method()));
  }
  switch (route.kind) {
    case RouteKind::kHealthLive: return responder->Respond(HandleLive(state));
    case RouteKind::kHealthReady: return responder->Respond(HandleReady(state));
    case RouteKind::kServerMetadata:
      return responder->Respond(JsonResponse(
          http::status::ok,
          EncodeServerMetadata(MLSHIP_VERSION, state.repository != nullptr && !state.options.admin_token.empty())));
    case RouteKind::kModelMetadata: return responder->Respond(HandleModelMetadata(state, route));
    case RouteKind::kModelReady: return responder->Respond(HandleModelReady(state, route));
    case RouteKind::kModelInfer: return HandleInfer(state, route, std::move(request), std::move(responder));
    case RouteKind::kModelOutcomes: return responder->Respond(HandleOutcomes(state, route, request));
    case RouteKind::kRepositoryIndex:
    case RouteKind::kRepositoryLoad:
    case RouteKind::kRepositoryUnload:
    case RouteKind::kRepositoryRollout:
      return HandleRepository(state, route, std::move(request), std::move(responder));
    case RouteKind::kNone: break;
  }
  responder->Respond(ErrorResponse(500, "internal error: unrouted request"));
}

}  // namespace mlship::serving::internal
