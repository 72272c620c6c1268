// Routing, authentication, health, metadata and extra GET routes.
#include "request_handler.h"

#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "browser_guard.h"
#include "dashboard_login.h"
#include "kserve_metadata.h"
#include "triton_extensions.h"

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

// The response for a request `decision` refuses, or nullopt when it allows
// it; `prefix` goes before a 401's message.
std::optional<HttpResponse> RefusalFor(const AuthDecision& decision, std::string_view prefix) {
  switch (decision.outcome) {
    case AuthDecision::Outcome::kAllowed: return std::nullopt;
    case AuthDecision::Outcome::kUnauthenticated: {
      HttpResponse response = ErrorResponse(Status::Unauthenticated(std::string(prefix) + decision.message));
      response.set(http::field::www_authenticate, "Bearer");
      return response;
    }
    case AuthDecision::Outcome::kForbidden: return ErrorResponse(403, decision.message);
    case AuthDecision::Outcome::kRateLimited: {
      HttpResponse response = ErrorResponse(429, decision.message);
      response.set(http::field::retry_after, std::to_string(decision.retry_after_s));
      return response;
    }
  }
  return ErrorResponse(500, "internal error: unknown authorization outcome");
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

// GET .../config: Triton's model configuration, synthesized.
HttpResponse HandleModelConfig(const ServerState& state, const Route& route) {
  StatusOr<ModelInfo> info = state.backend->Find(route.model, route.version);
  if (!info.ok()) return ErrorResponse(info.status());
  StatusOr<ModelConfigInfo> config = state.backend->Config(info->name, info->version);
  if (!config.ok()) return ErrorResponse(config.status());
  return JsonResponse(http::status::ok, EncodeTritonConfigJson(SynthesizeTritonConfig(*info, *config)));
}

// GET .../stats: Triton's statistics of the version named (all loaded
// versions of the model when the URL names none).
HttpResponse HandleModelStatistics(const ServerState& state, const Route& route) {
  StatusOr<std::vector<ModelStatistics>> stats = state.backend->Statistics(route.model, route.version);
  if (!stats.ok()) return ErrorResponse(stats.status());
  return JsonResponse(http::status::ok, EncodeTritonStatisticsJson(*stats));
}

}  // namespace

std::optional<HttpResponse> ScreenRequestHeader(const ServerState& state, const http::request_header<>& header) {
  const std::string_view target = ToStringView(header.target());
  const Route route = ParseRoute(target);
  if (std::optional<HttpResponse> refusal = ScreenBrowserRequest(state, header, route)) return refusal;
  // Health probes answer without a token so orchestrators can call them;
  // the login pages check the token they are given themselves.
  if (!route.requires_auth()) return std::nullopt;
  if (route.kind == RouteKind::kNone && IsDashboardLoginPath(PathOf(target))) {
    // Anyone may post the form, so its body is bounded before it is read.
    return ScreenLoginHeader(header);
  }
  const std::string_view authorization = ToStringView(header[http::field::authorization]);
  if (route.is_repository() && state.repository != nullptr) {
    // Loading and unloading change what the server serves: only the admin
    // token (or a file token with the admin scope) opens them, and without
    // either they are off. A dashboard login never does.
    if (!state.tokens.AdminConfigured()) {
      return ErrorResponse(403, "the repository endpoints are off; start the server with an admin token "
                                "(--admin-token, MLSHIP_ADMIN_TOKEN or admin_token=) or a token file with an "
                                "admin-scoped token (--token-file) to use them");
    }
    return RefusalFor(state.tokens.Authorize(authorization, {}, /*is_get=*/false, kScopeAdmin),
                      "the repository endpoints need the admin token: ");
  }
  if (!state.tokens.Enabled()) return std::nullopt;
  const bool is_get = header.method() == http::verb::get;
  const unsigned scope =
      route.kind == RouteKind::kModelInfer || route.kind == RouteKind::kModelExplain ||
              route.kind == RouteKind::kModelOutcomes
          ? kScopeInfer
          : kScopeRead;
  AuthDecision decision =
      state.tokens.Authorize(authorization, ToStringView(header[http::field::cookie]), is_get, scope);
  if (decision.outcome == AuthDecision::Outcome::kUnauthenticated && authorization.empty() && is_get &&
      PathOf(target) == "/dashboard") {
    // A browser opening the dashboard without a login goes to the login page.
    return RedirectResponse("/dashboard/login");
  }
  return RefusalFor(decision, "");
}

void HandleRequest(ServerState& state, HttpRequest request, std::shared_ptr<Responder> responder) {
  const Route route = ParseRoute(ToStringView(request.target()));
  if (route.kind == RouteKind::kNone) {
    const std::string_view path = PathOf(ToStringView(request.target()));
    if (path == kDashboardLoginPath) return responder->Respond(HandleDashboardLogin(state, request));
    if (path == kDashboardLogoutPath) return responder->Respond(HandleDashboardLogout(state, request));
    return responder->Respond(HandleExtraRoute(state, request));
  }
  if (!MethodMatches(request.method(), route.method())) {
    return responder->Respond(MethodNotAllowed(request, PathOf(ToStringView(request.target())), route.method()));
  }
  switch (route.kind) {
    case RouteKind::kHealthLive: return responder->Respond(HandleLive(state));
    case RouteKind::kHealthReady: return responder->Respond(HandleReady(state));
    case RouteKind::kServerMetadata:
      return responder->Respond(JsonResponse(
          http::status::ok,
          EncodeServerMetadata(MLSHIP_VERSION, state.repository != nullptr && state.tokens.HasAdmin())));
    case RouteKind::kModelMetadata: return responder->Respond(HandleModelMetadata(state, route));
    case RouteKind::kModelReady: return responder->Respond(HandleModelReady(state, route));
    case RouteKind::kModelConfig: return responder->Respond(HandleModelConfig(state, route));
    case RouteKind::kModelStatistics: return responder->Respond(HandleModelStatistics(state, route));
    case RouteKind::kModelInfer: return HandleInfer(state, route, std::move(request), std::move(responder));
    case RouteKind::kModelExplain: return HandleExplain(state, route, std::move(request), std::move(responder));
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
