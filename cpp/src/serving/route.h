// Which KServe v2 endpoint a request target names (internal).
#pragma once

#include <string>
#include <string_view>

namespace mlship::serving::internal {

// The KServe v2 REST endpoints mlship serves.
enum class RouteKind {
  kNone,            // not a KServe v2 path (extra GET routes are looked up next)
  kHealthLive,      // GET /v2/health/live
  kHealthReady,     // GET /v2/health/ready
  kServerMetadata,  // GET /v2
  kModelMetadata,   // GET /v2/models/{name}[/versions/{version}]
  kModelReady,      // GET /v2/models/{name}[/versions/{version}]/ready
  kModelInfer,      // POST /v2/models/{name}[/versions/{version}]/infer
  kModelExplain,    // POST /v2/models/{name}[/versions/{version}]/explain
  kModelOutcomes,     // POST /v2/models/{name}/outcomes (labels joined to predictions)
  kModelConfig,       // GET /v2/models/{name}[/versions/{version}]/config (Triton's extension)
  kModelStatistics,   // GET /v2/models/{name}[/versions/{version}]/stats (Triton's extension)
  kRepositoryIndex,   // POST /v2/repository/index
  kRepositoryLoad,    // POST /v2/repository/models/{name}/load
  kRepositoryUnload,  // POST /v2/repository/models/{name}/unload
  kRepositoryRollout, // POST /v2/repository/models/{name}/rollout[/status|pause|resume|abort]
};

// The HTTP methods routes answer to.
enum class RouteMethod { kGet, kPost };

struct Route {
  // The endpoint; kNone when the path is not one of ours.
  RouteKind kind = RouteKind::kNone;
  // The {name} path segment, verbatim; empty for server-wide routes.
  std::string model;
  // The {version} path segment, verbatim; empty means the default version.
  std::string version;
  // For kRepositoryRollout: "start" (no segment), "status", "pause",
  // "resume" or "abort".
  std::string action;

  // The one method the route accepts (others get 405).
  RouteMethod method() const {
    return kind == RouteKind::kModelInfer || kind == RouteKind::kModelExplain || kind == RouteKind::kModelOutcomes ||
                   is_repository()
               ? RouteMethod::kPost
                                                                                                   : RouteMethod::kGet;
  }
  // Health probes answer without a token so orchestrators can call them.
  bool requires_auth() const { return kind != RouteKind::kHealthLive && kind != RouteKind::kHealthReady; }
  // The repository endpoints need the admin token, never the inference one.
  bool is_repository() const {
    return kind == RouteKind::kRepositoryIndex || kind == RouteKind::kRepositoryLoad ||
           kind == RouteKind::kRepositoryUnload || kind == RouteKind::kRepositoryRollout;
  }
};

// The path of a request target, without its query string ("?...").
std::string_view PathOf(std::string_view target);

// Parses a request target (path and optional query). Path segments are
// taken verbatim (no percent-decoding; model names are plain identifiers);
// empty segments ("//", a trailing "/") make the path unknown.
Route ParseRoute(std::string_view target);

}  // namespace mlship::serving::internal
