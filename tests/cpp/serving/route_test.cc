// Tests the internal route parser (cpp/src/serving/route.h).
#include "route.h"

#include <gtest/gtest.h>

namespace mlship::serving::internal {
namespace {

TEST(KServeRouteTest, MatchesServerRoutes) {
  EXPECT_EQ(ParseRoute("/v2").kind, RouteKind::kServerMetadata);
  EXPECT_EQ(ParseRoute("/v2/health/live").kind, RouteKind::kHealthLive);
  EXPECT_EQ(ParseRoute("/v2/health/ready").kind, RouteKind::kHealthReady);
  EXPECT_EQ(ParseRoute("/v2/health/ready?verbose=1").kind, RouteKind::kHealthReady);
}

TEST(KServeRouteTest, MatchesModelRoutesWithAndWithoutVersion) {
  Route route = ParseRoute("/v2/models/digits");
  EXPECT_EQ(route.kind, RouteKind::kModelMetadata);
  EXPECT_EQ(route.model, "digits");
  EXPECT_EQ(route.version, "");

  route = ParseRoute("/v2/models/digits/versions/3/infer");
  EXPECT_EQ(route.kind, RouteKind::kModelInfer);
  EXPECT_EQ(route.model, "digits");
  EXPECT_EQ(route.version, "3");
  EXPECT_EQ(route.method(), RouteMethod::kPost);

  route = ParseRoute("/v2/models/digits/ready");
  EXPECT_EQ(route.kind, RouteKind::kModelReady);
  EXPECT_EQ(route.method(), RouteMethod::kGet);
  EXPECT_EQ(ParseRoute("/v2/models/digits/versions/3").kind, RouteKind::kModelMetadata);
  EXPECT_EQ(ParseRoute("/v2/models/digits/versions/3/ready").version, "3");
}

TEST(KServeRouteTest, MatchesExplainWithAndWithoutVersion) {
  Route route = ParseRoute("/v2/models/digits/explain");
  EXPECT_EQ(route.kind, RouteKind::kModelExplain);
  EXPECT_EQ(route.model, "digits");
  EXPECT_EQ(route.version, "");
  EXPECT_EQ(route.method(), RouteMethod::kPost);
  EXPECT_TRUE(route.requires_auth());
  route = ParseRoute("/v2/models/digits/versions/2/explain?x=1");
  EXPECT_EQ(route.kind, RouteKind::kModelExplain);
  EXPECT_EQ(route.version, "2");
  EXPECT_EQ(ParseRoute("/v2/models/digits/explain/more").kind, RouteKind::kNone);
}

TEST(KServeRouteTest, UnknownOrMalformedPathsMatchNothing) {
  for (const char* path : {"", "/", "v2", "/v1/models/a", "/v2/", "/v2//health/live", "/v2/health", "/v2/health/dead",
                           "/v2/models", "/v2/models/", "/v2/models/a/versions", "/v2/models/a/versions/1/x",
                           "/v2/models/a/infer/more", "/v2/repository", "/v2/repository/models/a",
                           "/v2/repository/models/a/reload", "/v2/repository/index/x", "/metrics"}) {
    const Route route = ParseRoute(path);
    EXPECT_EQ(route.kind, RouteKind::kNone) << path;
    EXPECT_TRUE(route.model.empty()) << path;
  }
}

TEST(KServeRouteTest, MatchesTheRepositoryExtension) {
  EXPECT_EQ(ParseRoute("/v2/repository/index").kind, RouteKind::kRepositoryIndex);
  Route load = ParseRoute("/v2/repository/models/digits/load");
  EXPECT_EQ(load.kind, RouteKind::kRepositoryLoad);
  EXPECT_EQ(load.model, "digits");
  EXPECT_EQ(load.method(), RouteMethod::kPost);
  EXPECT_TRUE(load.is_repository());
  Route unload = ParseRoute("/v2/repository/models/digits/unload");
  EXPECT_EQ(unload.kind, RouteKind::kRepositoryUnload);
  EXPECT_EQ(unload.model, "digits");
  EXPECT_FALSE(ParseRoute("/v2/models/digits/infer").is_repository());
}

TEST(KServeRouteTest, OnlyHealthProbesSkipAuthentication) {
  EXPECT_FALSE(ParseRoute("/v2/health/live").requires_auth());
  EXPECT_FALSE(ParseRoute("/v2/health/ready").requires_auth());
  EXPECT_TRUE(ParseRoute("/v2").requires_auth());
  EXPECT_TRUE(ParseRoute("/v2/models/a/ready").requires_auth());
  EXPECT_TRUE(ParseRoute("/metrics").requires_auth());
}

TEST(KServeRouteTest, PathOfDropsTheQuery) {
  EXPECT_EQ(PathOf("/metrics?x=1"), "/metrics");
  EXPECT_EQ(PathOf("/metrics"), "/metrics");
}

}  // namespace
}  // namespace mlship::serving::internal
