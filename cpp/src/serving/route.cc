// Matching request paths against the KServe v2 REST endpoints.
#include "route.h"

#include <vector>

namespace mlship::serving::internal {

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

namespace {

// Splits "/a/b/c" into {"a", "b", "c"}. False when the path does not start
// with '/' or has an empty segment.
bool SplitPath(std::string_view path, std::vector<std::string_view>& segments) {
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (segment.empty()) return false;
    segments.push_back(segment);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

// Routes the part after /v2/models/{name}[/versions/{version}].
RouteKind ModelAction(const std::vector<std::string_view>& rest) {
  if (rest.empty()) return RouteKind::kModelMetadata;
  if (rest.size() == 1 && rest[0] == "ready") return RouteKind::kModelReady;
  if (rest.size() == 1 && rest[0] == "infer") return RouteKind::kModelInfer;
  if (rest.size() == 1 && rest[0] == "explain") return RouteKind::kModelExplain;
  if (rest.size() == 1 && rest[0] == "outcomes") return RouteKind::kModelOutcomes;
  if (rest.size() == 1 && rest[0] == "config") return RouteKind::kModelConfig;
  if (rest.size() == 1 && rest[0] == "stats") return RouteKind::kModelStatistics;
  return RouteKind::kNone;
}

}  // namespace

Route ParseRoute(std::string_view target) {
  Route route;
  std::vector<std::string_view> segments;
  if (!SplitPath(PathOf(target), segments) || segments[0] != "v2") return route;
  if (segments.size() == 1) {
    route.kind = RouteKind::kServerMetadata;
    return route;
  }
  if (segments[1] == "health" && segments.size() == 3) {
    if (segments[2] == "live") route.kind = RouteKind::kHealthLive;
    if (segments[2] == "ready") route.kind = RouteKind::kHealthReady;
    return route;
  }
  if (segments[1] == "repository") {
    if (segments.size() == 3 && segments[2] == "index") route.kind = RouteKind::kRepositoryIndex;
    if (segments.size() < 5 || segments[2] != "models") return route;
    const std::string_view verb = segments[4];
    if (segments.size() == 5 && verb == "load") route.kind = RouteKind::kRepositoryLoad;
    if (segments.size() == 5 && verb == "unload") route.kind = RouteKind::kRepositoryUnload;
    if (verb == "rollout" && segments.size() <= 6) {
      const std::string_view action = segments.size() == 6 ? segments[5] : "start";
      if (action == "start" || action == "status" || action == "pause" || action == "resume" || action == "abort") {
        route.kind = RouteKind::kRepositoryRollout;
        route.action = std::string(action);
      }
    }
    if (route.kind != RouteKind::kNone) route.model = std::string(segments[3]);
    return route;
  }
  if (segments[1] != "models" || segments.size() < 3) return route;
  std::vector<std::string_view> rest(segments.begin() + 3, segments.end());
  std::string_view version;
  if (rest.size() >= 2 && rest[0] == "versions") {
    version = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  route.kind = ModelAction(rest);
  if (route.kind != RouteKind::kNone) {
    route.model = std::string(segments[2]);
    route.version = std::string(version);
  }
  return route;
}

}  // namespace mlship::serving::internal
