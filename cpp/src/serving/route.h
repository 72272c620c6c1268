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

  // The one method the route accepts (others get 405).
  RouteMethod method() const { return kind == RouteKind::kModelInfer ? RouteMethod::kPost : RouteMethod::kGet; }
  // Health probes answer without a token so orchestrators can call them.
  bool requires_auth() const { return kind != RouteKind::kHealthLive && kind != RouteKind::kHealthReady; }
};

// The path of a request target, without its query string ("?...").
std::string_view PathOf(std::string_view target);

// Parses a request target (path and optional query). Path segments are
// taken verbatim (no percent-decoding; model names are plain identifiers);
// empty segments ("//", a trailing "/") make the path unknown.
Route ParseRoute(std::string_view target);

}  // namespace mlship::serving::internal
