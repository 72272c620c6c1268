// Requests the server answers with an error before they reach the Backend
// are reported to it (Backend::RequestRefused), with the model an infer URL
// named, so they can be counted; requests the Backend saw are not.
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

using Refusal = FakeBackend::Refusal;

class HttpServerRefusalsTest : public ServerTest {};

TEST_F(HttpServerRefusalsTest, DecodeErrorsAndUnknownModelsAreReportedWithTheNamedModel) {
  StartServer();
  auto client = Connect();
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", "{not json").result_int(), 400);
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2})).result_int(), 400);  // shape
  EXPECT_EQ(client->Post("/v2/models/nope/infer", DoublerRequest({1, 2, 3})).result_int(), 404);
  EXPECT_EQ(client->Post("/v2/models/doubler/versions/9/infer", DoublerRequest({1, 2, 3})).result_int(), 404);
  EXPECT_EQ(client->Get("/nowhere").result_int(), 404);
  EXPECT_EQ(client->Get("/v2/models/doubler/infer").result_int(), 405);
  EXPECT_EQ(backend_.infer_calls(), 0);
  EXPECT_EQ(backend_.refusals(), (std::vector<Refusal>{{"doubler", "invalid_argument", 400},
                                                       {"doubler", "invalid_argument", 400},
                                                       {"nope", "not_found", 404},
                                                       {"doubler", "not_found", 404},
                                                       {"", "not_found", 404},
                                                       {"doubler", "method_not_allowed", 405}}));
}

TEST_F(HttpServerRefusalsTest, AnswersTheBackendGaveAreNotRefusals) {
  StartServer();
  auto client = Connect();
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 200);
  backend_.set_behavior(FakeBackend::Behavior::kFailInference);
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 500);
  backend_.set_behavior(FakeBackend::Behavior::kDeadline);
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 504);
  EXPECT_EQ(client->Get("/v2/models/doubler").result_int(), 200);
  EXPECT_TRUE(backend_.refusals().empty());
  // The next request on the same connection is judged afresh.
  EXPECT_EQ(client->Post("/v2/models/doubler/infer", "[]").result_int(), 400);
  EXPECT_EQ(backend_.refusals(), (std::vector<Refusal>{{"doubler", "invalid_argument", 400}}));
}

TEST_F(HttpServerRefusalsTest, LimitsAndModelsThatAreNotReadyAreReported) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 2048;
  StartServer(options);
  Response response;
  ASSERT_FALSE(
      Connect()->Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", std::string(4096, ' ')), response));
  EXPECT_EQ(response.result_int(), 413);
  ASSERT_FALSE(Connect()->Send(
      MakeRequest(http::verb::post, "/v2/models/doubler/infer", "", {{"X-Padding", std::string(4000, 'p')}}),
      response));
  EXPECT_EQ(response.result_int(), 431);
  ASSERT_FALSE(Connect()->SendRaw("GARBAGE\r\n\r\n", response));
  EXPECT_EQ(response.result_int(), 400);
  backend_.set_model_ready(false);
  EXPECT_EQ(Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 503);
  // Beast has read the request line before the headers overflow, so the
  // 431 is still attributed to the model the URL named.
  EXPECT_EQ(backend_.refusals(), (std::vector<Refusal>{{"doubler", "resource_exhausted", 413},
                                                       {"doubler", "header_too_large", 431},
                                                       {"", "invalid_argument", 400},
                                                       {"doubler", "unavailable", 503}}));
}

TEST_F(HttpServerRefusalsTest, AWrongTokenIsReported) {
  HttpServerOptions options;
  options.token = "a-token-of-at-least-sixteen-chars";
  StartServer(options);
  EXPECT_EQ(Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 401);
  EXPECT_EQ(Connect()->Get("/metrics").result_int(), 401);
  EXPECT_EQ(Connect()->Get("/v2/health/live").result_int(), 200);
  EXPECT_EQ(backend_.refusals(), (std::vector<Refusal>{{"doubler", "unauthenticated", 401},
                                                       {"", "unauthenticated", 401}}));
}

TEST_F(HttpServerRefusalsTest, ConnectionsBeyondTheLimitAreReported) {
  HttpServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  auto first = Connect();
  EXPECT_EQ(first->Get("/v2/health/live").result_int(), 200);
  TestClient second(port_);
  ASSERT_TRUE(second.connected());
  Response rejected;
  ASSERT_FALSE(second.Read(rejected));
  EXPECT_EQ(rejected.result_int(), 503);
  EXPECT_EQ(backend_.refusals(), (std::vector<Refusal>{{"", "unavailable", 503}}));
}

TEST(RefusalReasonFor, NamesTheStatusCodeBehindEachHttpStatus) {
  EXPECT_EQ(RefusalReasonFor(400), "invalid_argument");
  EXPECT_EQ(RefusalReasonFor(401), "unauthenticated");
  EXPECT_EQ(RefusalReasonFor(413), "resource_exhausted");
  EXPECT_EQ(RefusalReasonFor(431), "header_too_large");
  EXPECT_EQ(RefusalReasonFor(503), "unavailable");
  EXPECT_EQ(RefusalReasonFor(504), "deadline_exceeded");
  EXPECT_EQ(RefusalReasonFor(418), "http_error");
}

}  // namespace
}  // namespace mlship::serving::testing
