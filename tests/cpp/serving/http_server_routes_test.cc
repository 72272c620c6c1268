// The server's routes: health, metadata, inference, extra GET routes, and
// the HTTP status of every error, over real loopback connections.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstring>
#include <future>
#include <thread>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

namespace json = boost::json;

std::string Serialize(const json::value& value) { return json::serialize(value); }

// The "data" of output `index` in an infer response.
std::string OutputData(const Response& response, std::size_t index) {
  const json::value body = ParseJsonBody(response);
  return Serialize(body.at("outputs").at(index).at("data"));
}

class HttpServerRoutesTest : public ServerTest {
 protected:
  void SetUp() override { StartServer(); }
};

TEST_F(HttpServerRoutesTest, HealthProbesAnswerTrueWhenTheBackendIsUp) {
  auto client = Connect();
  Response live = client->Get("/v2/health/live");
  EXPECT_EQ(live.result_int(), 200);
  EXPECT_EQ(live.body(), "{\"live\":true}");
  EXPECT_EQ(live[http::field::content_type], "application/json");
  Response ready = client->Get("/v2/health/ready");
  EXPECT_EQ(ready.result_int(), 200);
  EXPECT_EQ(ready.body(), "{\"ready\":true}");
}

TEST_F(HttpServerRoutesTest, HealthProbesAnswer503WhenTheBackendIsNot) {
  auto client = Connect();
  backend_.set_live(false);
  Response live = client->Get("/v2/health/live");
  EXPECT_EQ(live.result_int(), 503);
  EXPECT_EQ(ErrorMessage(live), "the server is not live");
  backend_.set_live(true);
  backend_.set_ready(false);
  Response ready = client->Get("/v2/health/ready");
  EXPECT_EQ(ready.result_int(), 503);
  EXPECT_TRUE(Contains(ErrorMessage(ready), "not ready"));
}

TEST_F(HttpServerRoutesTest, ServerMetadataNamesMlshipAndTheBinaryExtension) {
  Response response = Connect()->Get("/v2");
  ASSERT_EQ(response.result_int(), 200);
  const json::value body = ParseJsonBody(response);
  EXPECT_EQ(body.at("name").as_string(), "mlship");
  EXPECT_TRUE(body.at("version").is_string());
  EXPECT_EQ(Serialize(body.at("extensions")), "[\"binary_tensor_data\"]");
  EXPECT_EQ(response[http::field::server], "mlship");
}

TEST_F(HttpServerRoutesTest, ModelMetadataListsVersionsPlatformAndTensors) {
  Response response = Connect()->Get("/v2/models/doubler");
  ASSERT_EQ(response.result_int(), 200);
  const json::value body = ParseJsonBody(response);
  EXPECT_EQ(body.at("name").as_string(), "doubler");
  EXPECT_EQ(Serialize(body.at("versions")), "[\"1\",\"2\"]");
  EXPECT_EQ(body.at("platform").as_string(), "pytorch_torchscript");
  EXPECT_EQ(Serialize(body.at("inputs")), "[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,3]}]");
  EXPECT_EQ(Serialize(body.at("outputs").at(1)), "{\"name\":\"rows\",\"datatype\":\"INT64\",\"shape\":[1]}");
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/versions/1").result_int(), 200);
}

TEST_F(HttpServerRoutesTest, UnknownModelsAndVersionsAre404WithTheBackendsMessage) {
  auto client = Connect();
  Response model = client->Get("/v2/models/nope");
  EXPECT_EQ(model.result_int(), 404);
  EXPECT_EQ(ErrorMessage(model), "no model named 'nope'; this server serves: doubler");
  Response version = client->Get("/v2/models/doubler/versions/9/ready");
  EXPECT_EQ(version.result_int(), 404);
  EXPECT_TRUE(Contains(ErrorMessage(version), "has no version '9'"));
  Response infer = client->Post("/v2/models/nope/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(infer.result_int(), 404);
}

TEST_F(HttpServerRoutesTest, ModelReadinessFollowsTheBackend) {
  auto client = Connect();
  Response ready = client->Get("/v2/models/doubler/ready");
  ASSERT_EQ(ready.result_int(), 200);
  EXPECT_EQ(ready.body(), "{\"name\":\"doubler\",\"version\":\"2\",\"ready\":true}");
  backend_.set_model_ready(false);
  Response not_ready = client->Get("/v2/models/doubler/versions/1/ready");
  EXPECT_EQ(not_ready.result_int(), 503);
  EXPECT_EQ(ErrorMessage(not_ready), "model 'doubler' version '1' is not ready; retry later");
  Response infer = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(infer.result_int(), 503);
  EXPECT_EQ(backend_.infer_calls(), 0);
}

TEST_F(HttpServerRoutesTest, InferReturnsTheModelsOutputsAsJson) {
  Response response =
      Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2.5f, -3, 4, 5, 6}, "\"id\":\"abc\","));
  ASSERT_EQ(response.result_int(), 200) << response.body();
  const json::value body = ParseJsonBody(response);
  EXPECT_EQ(body.at("model_name").as_string(), "doubler");
  EXPECT_EQ(body.at("model_version").as_string(), "2");  // the default version
  EXPECT_EQ(body.at("id").as_string(), "abc");
  EXPECT_EQ(Serialize(body.at("outputs").at(0).at("shape")), "[2,3]");
  EXPECT_EQ(OutputData(response, 0), "[2,5,-6,8,10,12]");
  EXPECT_EQ(OutputData(response, 1), "[2]");
  // The Backend got the decoded request.
  const std::optional<InferRequest> seen = backend_.last_request();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->model_version, "") << "as the client named it; the Backend resolves the default";
  EXPECT_EQ(seen->id, "abc");
  EXPECT_EQ(seen->deadline, std::chrono::steady_clock::time_point::max());  // request_timeout 0: none
}

TEST_F(HttpServerRoutesTest, InferAddressesTheVersionInThePath) {
  Response response = Connect()->Post("/v2/models/doubler/versions/1/infer", DoublerRequest({1, 2, 3}));
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(ParseJsonBody(response).at("model_version").as_string(), "1");
}

TEST_F(HttpServerRoutesTest, InferAnswersWhenTheBackendRepliesFromAnotherThread) {
  backend_.set_behavior(FakeBackend::Behavior::kComputeOnWorker);
  auto client = Connect();
  for (int i = 0; i < 5; ++i) {
    Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({float(i), 0, 1}));
    ASSERT_EQ(response.result_int(), 200) << response.body();
    EXPECT_EQ(OutputData(response, 0), std::string("[").append(std::to_string(2 * i)).append(",0,2]"));
  }
}

TEST_F(HttpServerRoutesTest, InferSendsOnlyTheRequestedOutputs) {
  Response response = Connect()->Post("/v2/models/doubler/infer",
                                      DoublerRequest({1, 2, 3}, "\"outputs\":[{\"name\":\"rows\"}],"));
  ASSERT_EQ(response.result_int(), 200) << response.body();
  const json::value body = ParseJsonBody(response);
  ASSERT_EQ(body.at("outputs").as_array().size(), 1u);
  EXPECT_EQ(body.at("outputs").at(0).at("name").as_string(), "rows");
  EXPECT_EQ(backend_.last_request()->requested_outputs, (std::vector<std::string>{"rows"}));
}

TEST_F(HttpServerRoutesTest, InferSpeaksTheBinaryTensorExtensionBothWays) {
  const float x[] = {1.5f, 2, 3};
  const std::string json =
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"parameters\":{\"binary_data_size\":12}}],"
      "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}},{\"name\":\"rows\"}]}";
  const std::string body = json + std::string(reinterpret_cast<const char*>(x), sizeof x);
  Response response = Connect()->Post("/v2/models/doubler/infer", body,
                                      {{"Inference-Header-Content-Length", std::to_string(json.size())},
                                       {"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(response[http::field::content_type], "application/octet-stream");
  const std::size_t json_length = std::stoul(std::string(response["Inference-Header-Content-Length"]));
  ASSERT_EQ(response.body().size(), json_length + 12);
  const json::value header = json::parse(response.body().substr(0, json_length));
  EXPECT_EQ(header.at("outputs").at(0).at("parameters").at("binary_data_size").as_int64(), 12);
  EXPECT_EQ(Serialize(header.at("outputs").at(1).at("data")), "[1]");
  float y[3];
  std::memcpy(y, response.body().data() + json_length, sizeof y);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[2], 6.0f);
}

TEST_F(HttpServerRoutesTest, MismatchedInputsAre400AndTheConnectionStaysUsable) {
  auto client = Connect();
  Response wrong_type = client->Post(
      "/v2/models/doubler/infer",
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT64\",\"shape\":[1,3],\"data\":[1,2,3]}]}");
  EXPECT_EQ(wrong_type.result_int(), 400);
  EXPECT_EQ(ErrorMessage(wrong_type), "input 'x': expected datatype FP32; got INT64");
  Response not_json = client->Post("/v2/models/doubler/infer", "{not json");
  EXPECT_EQ(not_json.result_int(), 400);
  EXPECT_TRUE(Contains(ErrorMessage(not_json), "not valid JSON"));
  Response bad_header = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}),
                                     {{"Inference-Header-Content-Length", "lots"}});
  EXPECT_EQ(bad_header.result_int(), 400);
  std::string deep = "{\"inputs\":" + std::string(200, '[') + std::string(200, ']') + "}";
  Response too_deep = client->Post("/v2/models/doubler/infer", deep);
  EXPECT_EQ(too_deep.result_int(), 400);
  EXPECT_TRUE(Contains(ErrorMessage(too_deep), "nests deeper than 64"));
  EXPECT_EQ(backend_.infer_calls(), 0);
  Response good = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(good.result_int(), 200);
}

TEST_F(HttpServerRoutesTest, BackendErrorsMapToTheirHttpStatus) {
  struct Case {
    FakeBackend::Behavior behavior;
    int status;
    const char* message_part;
  };
  const Case cases[] = {
      // Server-side failures say only the request id (http_server_errors_test).
      {FakeBackend::Behavior::kFailInference, 500, "the server log has the details"},
      {FakeBackend::Behavior::kUnavailable, 503, "queue is full"},
      {FakeBackend::Behavior::kDeadline, 504, "deadline"},
      {FakeBackend::Behavior::kInvalid, 400, "non-negative"},
      {FakeBackend::Behavior::kThrow, 500, "the server log has the details"},
      {FakeBackend::Behavior::kDrop, 500, "the server log has the details"},
      {FakeBackend::Behavior::kWrongOutputSize, 500, "the server log has the details"},
  };
  auto client = Connect();
  for (const Case& c : cases) {
    backend_.set_behavior(c.behavior);
    Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
    EXPECT_EQ(response.result_int(), c.status) << response.body();
    EXPECT_TRUE(Contains(ErrorMessage(response), c.message_part));
    EXPECT_TRUE(Lacks(response.body(), "deadbeef"));  // the exception's text stays inside
    backend_.set_behavior(FakeBackend::Behavior::kCompute);
    EXPECT_EQ(client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3})).result_int(), 200);
  }
}

TEST_F(HttpServerRoutesTest, ASecondAnswerFromTheBackendIsIgnored) {
  backend_.set_behavior(FakeBackend::Behavior::kAnswerTwice);
  auto client = Connect();
  for (int i = 0; i < 3; ++i) {
    Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
    EXPECT_EQ(response.result_int(), 200) << response.body();
  }
  // Had the second answer been written, this would read it instead.
  EXPECT_EQ(client->Get("/v2/health/live").body(), "{\"live\":true}");
}

TEST_F(HttpServerRoutesTest, UnknownPathsAre404AndWrongMethodsAre405) {
  auto client = Connect();
  Response unknown = client->Get("/v3/models");
  EXPECT_EQ(unknown.result_int(), 404);
  EXPECT_TRUE(Contains(ErrorMessage(unknown), "no endpoint at '/v3/models'"));
  Response get_infer = client->Get("/v2/models/doubler/infer");
  EXPECT_EQ(get_infer.result_int(), 405);
  EXPECT_EQ(get_infer[http::field::allow], "POST");
  EXPECT_EQ(ErrorMessage(get_infer), "method GET is not allowed on '/v2/models/doubler/infer'; use POST");
  Response post_live = client->Post("/v2/health/live", "");
  EXPECT_EQ(post_live.result_int(), 405);
  EXPECT_EQ(post_live[http::field::allow], "GET");
  Response deleted{};
  ASSERT_FALSE(client->Send(MakeRequest(http::verb::delete_, "/v2/models/doubler"), deleted));
  EXPECT_EQ(deleted.result_int(), 405);
  // A long unknown path is not echoed in full.
  Response long_path = client->Get("/" + std::string(5000, 'a'));
  EXPECT_EQ(long_path.result_int(), 404);
  EXPECT_LT(long_path.body().size(), 400u);
  // Raw non-ASCII bytes in the path still get a valid JSON error body.
  Response raw_bytes = Connect()->Get("/v2/models/caf\xc3\xa9\xff/ready");
  EXPECT_TRUE(raw_bytes.result_int() == 404 || raw_bytes.result_int() == 400) << raw_bytes.result_int();
  EXPECT_FALSE(ErrorMessage(raw_bytes).empty());
}

TEST_F(HttpServerRoutesTest, ExtraGetRoutesServeTheirHandlersContent) {
  ASSERT_TRUE(server_->AddGetRoute("/metrics", [] {
    return StatusOr<HttpContent>(HttpContent{"requests_total 3\n", "text/plain; version=0.0.4"});
  }).ok());
  ASSERT_TRUE(server_->AddGetRoute("/broken", []() -> StatusOr<HttpContent> {
    return Status::Unavailable("the monitor is warming up");
  }).ok());
  ASSERT_TRUE(server_->AddGetRoute("/throws", []() -> StatusOr<HttpContent> {
    throw std::runtime_error("internal pointer 0x1234");
  }).ok());
  auto client = Connect();
  Response metrics = client->Get("/metrics?format=text");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_EQ(metrics.body(), "requests_total 3\n");
  EXPECT_EQ(metrics[http::field::content_type], "text/plain; version=0.0.4");
  Response broken = client->Get("/broken");
  EXPECT_EQ(broken.result_int(), 503);
  EXPECT_EQ(ErrorMessage(broken), "the monitor is warming up");
  Response throws = client->Get("/throws");
  EXPECT_EQ(throws.result_int(), 500);
  EXPECT_TRUE(Lacks(throws.body(), "0x1234"));
  EXPECT_EQ(client->Post("/metrics", "").result_int(), 405);
}

TEST_F(HttpServerRoutesTest, ExtraRoutesCannotShadowTheApiOrEachOther) {
  auto handler = [] { return StatusOr<HttpContent>(HttpContent{}); };
  EXPECT_TRUE(server_->AddGetRoute("/dashboard", handler).ok());
  EXPECT_EQ(server_->AddGetRoute("/dashboard", handler).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(server_->AddGetRoute("/v2/health/live", handler).message(), "belong to the KServe v2 API"));
  EXPECT_TRUE(Contains(server_->AddGetRoute("/v2", handler).message(), "belong to the KServe v2 API"));
  EXPECT_FALSE(server_->AddGetRoute("metrics", handler).ok());
  EXPECT_FALSE(server_->AddGetRoute("/x", nullptr).ok());
}

TEST_F(HttpServerRoutesTest, OneConnectionCarriesManyRequests) {
  auto client = Connect();
  for (int i = 0; i < 50; ++i) {
    Response response = (i % 2 == 0) ? client->Get("/v2/health/ready")
                                     : client->Post("/v2/models/doubler/infer", DoublerRequest({1, 1, float(i)}));
    ASSERT_EQ(response.result_int(), 200) << "request " << i << ": " << response.body();
    EXPECT_TRUE(response.keep_alive());
  }
}

TEST_F(HttpServerRoutesTest, ServesManyClientsAtOnce) {
  backend_.set_behavior(FakeBackend::Behavior::kComputeOnWorker);
  constexpr int kClients = 8;
  constexpr int kRequestsEach = 25;
  std::vector<std::future<int>> successes;
  for (int c = 0; c < kClients; ++c) {
    successes.push_back(std::async(std::launch::async, [this, c] {
      TestClient client(port_);
      int ok = 0;
      for (int i = 0; i < kRequestsEach; ++i) {
        Response response;
        const std::string body = DoublerRequest({float(c), float(i), 0});
        if (client.Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", body), response)) {
          break;
        }
        if (response.result_int() == 200 &&
            response.body().find("\"data\":[" + std::to_string(2 * c) + "," + std::to_string(2 * i) + ",0]") !=
                std::string::npos) {
          ++ok;
        }
      }
      return ok;
    }));
  }
  for (auto& future : successes) {
    ASSERT_EQ(future.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    EXPECT_EQ(future.get(), kRequestsEach);
  }
}

TEST(HttpServerDeadlineTest, RequestTimeoutBecomesTheBackendsDeadline) {
  FakeBackend backend;
  HttpServerOptions options;
  options.port = 0;
  options.request_timeout = std::chrono::milliseconds(1500);
  auto server = HttpServer::Create(options, &backend);
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  const auto before = std::chrono::steady_clock::now();
  Response response = TestClient((*server)->port()).Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  ASSERT_EQ(response.result_int(), 200);
  const auto deadline = backend.last_request()->deadline;
  EXPECT_GE(deadline, before + std::chrono::milliseconds(1500));
  EXPECT_LE(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace mlship::serving::testing
