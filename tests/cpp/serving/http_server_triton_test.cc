// Triton's model configuration and statistics extensions over HTTP:
// GET /v2/models/{name}[/versions/{v}]/config and .../stats.
#include <boost/json.hpp>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

namespace json = boost::json;

using HttpServerTritonTest = ServerTest;

TEST_F(HttpServerTritonTest, ConfigIsSynthesizedAsTritonWritesIt) {
  StartServer();
  const Response response = Connect()->Get("/v2/models/doubler/config");
  ASSERT_EQ(response.result_int(), 200) << response.body();
  const json::value body = ParseJsonBody(response);
  EXPECT_EQ(body.at("name").as_string(), "doubler");
  EXPECT_EQ(body.at("platform").as_string(), "pytorch_torchscript");
  EXPECT_EQ(body.at("max_batch_size").to_number<int64_t>(), 8);
  const json::object& input = body.at("input").at(0).as_object();
  EXPECT_EQ(input.at("name").as_string(), "x");
  EXPECT_EQ(input.at("data_type").as_string(), "TYPE_FP32");
  EXPECT_EQ(json::serialize(input.at("dims")), "[3]") << "the batch dimension is left out";
  EXPECT_EQ(body.at("output").at(1).at("data_type").as_string(), "TYPE_INT64");
  EXPECT_EQ(body.at("dynamic_batching").at("max_queue_delay_microseconds").to_number<int64_t>(), 500);
  EXPECT_EQ(json::serialize(body.at("dynamic_batching").at("preferred_batch_size")), "[4]");
  EXPECT_EQ(body.at("instance_group").at(0).at("count").to_number<int64_t>(), 2);
  EXPECT_EQ(body.at("instance_group").at(0).at("kind").as_string(), "KIND_CPU");

  EXPECT_EQ(Connect()->Get("/v2/models/doubler/versions/1/config").result_int(), 200);
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/versions/9/config").result_int(), 404);
  EXPECT_EQ(Connect()->Get("/v2/models/nope/config").result_int(), 404);
  EXPECT_EQ(Connect()->Post("/v2/models/doubler/config", "{}").result_int(), 405);
}

TEST_F(HttpServerTritonTest, StatsCountRequestsPerVersion) {
  StartServer();
  ExpectServerStillAnswers();
  ExpectServerStillAnswers();
  const Response all = Connect()->Get("/v2/models/doubler/stats");
  ASSERT_EQ(all.result_int(), 200) << all.body();
  const json::value body = ParseJsonBody(all);
  const json::array& stats = body.at("model_stats").as_array();
  ASSERT_EQ(stats.size(), 2u);
  const json::object& v2 = stats[1].as_object();
  EXPECT_EQ(v2.at("version").as_string(), "2");
  EXPECT_EQ(v2.at("inference_stats").at("success").at("count").to_number<int64_t>(), 2);
  EXPECT_EQ(v2.at("inference_stats").at("success").at("ns").to_number<int64_t>(), 2000);
  EXPECT_EQ(v2.at("inference_stats").at("queue").at("ns").to_number<int64_t>(), 20);
  EXPECT_EQ(v2.at("execution_count").to_number<int64_t>(), 2);

  const Response one = Connect()->Get("/v2/models/doubler/versions/1/stats");
  ASSERT_EQ(one.result_int(), 200);
  EXPECT_EQ(ParseJsonBody(one).at("model_stats").as_array().size(), 1u);
  EXPECT_EQ(Connect()->Get("/v2/models/nope/stats").result_int(), 404);
}

TEST_F(HttpServerTritonTest, ConfigAndStatsNeedTheReadScope) {
  HttpServerOptions options;
  options.token = "triton-test-token-0123456789abcdefghijk";
  StartServer(options);
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/config").result_int(), 401);
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/stats").result_int(), 401);
  const Headers auth = {{"Authorization", "Bearer " + options.token}};
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/config", auth).result_int(), 200);
  EXPECT_EQ(Connect()->Get("/v2/models/doubler/stats", auth).result_int(), 200);
}

}  // namespace
}  // namespace mlship::serving::testing
