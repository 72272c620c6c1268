// What error text reaches clients: a model's failure only as a request id
// (unless expose_model_errors), request errors in full, long names cut.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

// What the fake backend's kFailInference says; stands for exception text
// that must not leave the server.
constexpr const char* kModelText = "shape mismatch in layer 2";

class HttpServerErrorsTest : public ServerTest {
 protected:
  // Options whose server log goes to log_ instead of standard error.
  HttpServerOptions Options() {
    HttpServerOptions options;
    options.error_log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.emplace_back(line);
    };
    return options;
  }
  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(HttpServerErrorsTest, AModelFailureIsAGenericMessageWithARequestIdTheLogTiesToTheText) {
  StartServer(Options());
  backend_.set_behavior(FakeBackend::Behavior::kFailInference);
  Response response = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_TRUE(Lacks(response.body(), kModelText));
  EXPECT_TRUE(Lacks(response.body(), "the model raised"));
  const std::string id(response["mlship-request-id"]);
  ASSERT_EQ(id.size(), 16u) << "a made-up id when the client sent none";
  const boost::json::value body = ParseJsonBody(response);
  EXPECT_EQ(body.at("request_id"), id.c_str());
  EXPECT_EQ(ErrorMessage(response),
            "the model failed on this request; request id " + id + "; the server log has the details");
  const std::vector<std::string> log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(Contains(log[0], "request " + id));
  EXPECT_TRUE(Contains(log[0], kModelText));
  EXPECT_TRUE(Contains(log[0], "model 'doubler' version '2'"));
  EXPECT_TRUE(Contains(log[0], "inference_failed"));
}

TEST_F(HttpServerErrorsTest, TheClientsOwnIdIsTheOneUsed) {
  StartServer(Options());
  backend_.set_behavior(FakeBackend::Behavior::kFailInference);
  Response response =
      Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}, "\"id\": \"order-42\","));
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_EQ(response["mlship-request-id"], "order-42");
  EXPECT_EQ(ParseJsonBody(response).at("request_id"), "order-42");
  ASSERT_EQ(Log().size(), 1u);
  EXPECT_TRUE(Contains(Log()[0], "request order-42 "));
}

TEST_F(HttpServerErrorsTest, ExposeModelErrorsSendsTheTextWithTheId) {
  HttpServerOptions options = Options();
  options.expose_model_errors = true;
  StartServer(options);
  backend_.set_behavior(FakeBackend::Behavior::kFailInference);
  Response response =
      Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}, "\"id\": \"order-43\","));
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_EQ(ErrorMessage(response), std::string("the model raised: ") + kModelText + " (request id order-43)");
  EXPECT_EQ(ParseJsonBody(response).at("request_id"), "order-43");
  EXPECT_EQ(Log().size(), 1u);  // logged either way
}

TEST_F(HttpServerErrorsTest, EveryServerSideFailureOfARequestIsHidden) {
  StartServer(Options());
  auto client = Connect();
  for (FakeBackend::Behavior behavior : {FakeBackend::Behavior::kThrow, FakeBackend::Behavior::kDrop,
                                         FakeBackend::Behavior::kWrongOutputSize}) {
    backend_.set_behavior(behavior);
    Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
    EXPECT_EQ(response.result_int(), 500);
    EXPECT_TRUE(Contains(ErrorMessage(response), "the server log has the details"));
    EXPECT_FALSE(response["mlship-request-id"].empty());
  }
  EXPECT_EQ(Log().size(), 3u);
}

TEST_F(HttpServerErrorsTest, RequestErrorsKeepTheirMessageAndCarryAnId) {
  StartServer(Options());
  auto client = Connect();
  backend_.set_behavior(FakeBackend::Behavior::kInvalid);
  Response invalid = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}, "\"id\": \"r-1\","));
  EXPECT_EQ(invalid.result_int(), 400);
  EXPECT_EQ(ErrorMessage(invalid), "x must be non-negative");
  EXPECT_EQ(invalid["mlship-request-id"], "r-1");
  backend_.set_behavior(FakeBackend::Behavior::kCompute);
  Response bad_json = client->Post("/v2/models/doubler/infer", "{not json");
  EXPECT_EQ(bad_json.result_int(), 400);
  EXPECT_EQ(bad_json["mlship-request-id"].size(), 16u);
  Response unknown = client->Post("/v2/models/nope/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(unknown.result_int(), 404);
  EXPECT_TRUE(Contains(ErrorMessage(unknown), "no model named 'nope'"));
  EXPECT_FALSE(unknown["mlship-request-id"].empty());
  EXPECT_TRUE(Log().empty());
}

TEST_F(HttpServerErrorsTest, SuccessfulInferencesCarryTheRequestId) {
  StartServer(Options());
  auto client = Connect();
  Response made_up = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(made_up.result_int(), 200);
  const std::string id(made_up["mlship-request-id"]);
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(ParseJsonBody(made_up).at("id"), id.c_str());  // the same id as the body's
  Response own = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}, "\"id\": \"abc-1\","));
  EXPECT_EQ(own["mlship-request-id"], "abc-1");
  // An id that is no header value is sent %-escaped, never as raw bytes.
  Response odd = client->Post("/v2/models/doubler/infer",
                              DoublerRequest({1, 2, 3}, "\"id\": \"a b\\r\\nX-Injected: 1\","));
  EXPECT_EQ(odd.result_int(), 200);
  EXPECT_EQ(odd["mlship-request-id"], "a%20b%0D%0AX-Injected:%201");
  EXPECT_EQ(odd.count("X-Injected"), 0u);
}

TEST_F(HttpServerErrorsTest, ANotFoundMessageDoesNotEchoAHugeName) {
  HttpServerOptions options = Options();
  options.max_header_bytes = std::size_t{1} << 20;
  StartServer(options);
  const std::string name(200'000, 'n');
  Response response = Connect()->Post("/v2/models/" + name + "/infer", DoublerRequest({1, 2, 3}));
  EXPECT_EQ(response.result_int(), 404);
  const std::string message = ErrorMessage(response);
  EXPECT_LE(message.size(), 1024u + 3);
  EXPECT_EQ(message.substr(message.size() - 3), "...");
  EXPECT_TRUE(Contains(message, "no model named 'nnnn"));
  EXPECT_LT(response.body().size(), 1200u);
}

}  // namespace
}  // namespace mlship::serving::testing
