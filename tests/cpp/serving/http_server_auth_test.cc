// Bearer-token authentication over real connections.
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {


constexpr const char* kToken = "t0k-3n_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

class HttpServerAuthTest : public ServerTest {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.token = kToken;
    StartServer(options);
  }
  static Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }
  void ExpectServerStillAnswersWithToken() {
    Response response = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), Bearer(kToken));
    EXPECT_EQ(response.result_int(), 200) << response.body();
  }
};

TEST_F(HttpServerAuthTest, HealthProbesNeedNoToken) {
  auto client = Connect();
  EXPECT_EQ(client->Get("/v2/health/live").result_int(), 200);
  EXPECT_EQ(client->Get("/v2/health/ready").result_int(), 200);
}

TEST_F(HttpServerAuthTest, EverythingElseNeedsTheToken) {
  for (const char* target : {"/v2", "/v2/models/doubler", "/v2/models/doubler/ready", "/v2/models/nope", "/nowhere"}) {
    Response response = Connect()->Get(target);
    EXPECT_EQ(response.result_int(), 401) << target;
    EXPECT_EQ(response[http::field::www_authenticate], "Bearer");
    EXPECT_TRUE(Contains(ErrorMessage(response), "Authorization: Bearer <token>"));
  }
  Response infer = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(infer.result_int(), 401);
  EXPECT_EQ(backend_.infer_calls(), 0);
}

TEST_F(HttpServerAuthTest, AWrongTokenIsRefusedWithoutEchoingIt) {
  Response response = Connect()->Get("/v2", Bearer("guessed-token"));
  EXPECT_EQ(response.result_int(), 401);
  EXPECT_EQ(ErrorMessage(response), "the bearer token is not valid for this server");
  EXPECT_TRUE(Lacks(response.body(), "guessed"));
  EXPECT_EQ(Connect()->Get("/v2", {{"Authorization", std::string("Basic ") + kToken}}).result_int(), 401);
  ExpectServerStillAnswersWithToken();
}

TEST_F(HttpServerAuthTest, TheRightTokenOpensEveryRoute) {
  ASSERT_TRUE(server_->AddGetRoute("/metrics", [] { return StatusOr<HttpContent>(HttpContent{"up 1\n"}); }).ok());
  auto client = Connect();
  EXPECT_EQ(client->Get("/v2", Bearer(kToken)).result_int(), 200);
  EXPECT_EQ(client->Get("/v2/models/doubler", Bearer(kToken)).result_int(), 200);
  EXPECT_EQ(client->Get("/metrics", Bearer(kToken)).result_int(), 200);
  EXPECT_EQ(client->Get("/metrics").result_int(), 401);
  Response infer = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), Bearer(kToken));
  EXPECT_EQ(infer.result_int(), 200) << infer.body();
}

TEST_F(HttpServerAuthTest, UnauthenticatedBodiesAreRefusedBeforeTheyAreRead) {
  // Announce a large body but send none: the 401 must come without waiting for it.
  auto client = Connect();
  Response response;
  ASSERT_FALSE(client->SendRaw("POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n",
                               response));
  EXPECT_EQ(response.result_int(), 401);
  EXPECT_FALSE(response.keep_alive());
}

TEST(HttpServerNoAuthTest, WithoutATokenNoHeaderIsNeeded) {
  FakeBackend backend;
  HttpServerOptions options;
  options.port = 0;
  auto server = HttpServer::Create(options, &backend);
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  TestClient client((*server)->port());
  EXPECT_EQ(client.Get("/v2").result_int(), 200);
  EXPECT_EQ(client.Get("/v2", {{"Authorization", "Bearer anything"}}).result_int(), 200);
}

}  // namespace
}  // namespace mlship::serving::testing
