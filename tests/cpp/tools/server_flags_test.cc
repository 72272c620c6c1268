// mlship-server's command line.
#include "mlship/tools/server_flags.h"

#include <gtest/gtest.h>

namespace mlship {
namespace {

TEST(ServerFlagsTest, DefaultsComeFromTheOptionsStructs) {
  auto flags = ParseServerFlags({"model.pt"}, "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->model_path, "model.pt");
  const DeploymentOptions defaults;
  EXPECT_EQ(flags->deployment.name, "model");
  EXPECT_EQ(flags->deployment.http.host, "127.0.0.1");
  EXPECT_EQ(flags->deployment.http.port, 8000);
  EXPECT_EQ(flags->deployment.batcher.max_batch_size, defaults.batcher.max_batch_size);
  EXPECT_EQ(flags->deployment.batcher.max_queue_delay, defaults.batcher.max_queue_delay);
  EXPECT_EQ(flags->deployment.pool.instances, defaults.pool.instances);
  EXPECT_EQ(flags->deployment.http.max_body_bytes, defaults.http.max_body_bytes);
  EXPECT_TRUE(flags->deployment.http.token.empty());
}

TEST(ServerFlagsTest, EveryFlagReachesItsOption) {
  auto flags = ParseServerFlags({"--name", "digits", "--port", "0", "--host", "0.0.0.0", "--insecure", "m.pt",
                                 "--max-batch-size", "64", "--max-delay-ms", "2.5", "--max-queue-size", "10",
                                 "--timeout-ms", "250", "--instances", "3", "--intra-op-threads", "2",
                                 "--max-body-bytes", "1000", "--max-connections", "7", "--io-threads", "4",
                                 "--model-version", "7"},
                                "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  const DeploymentOptions& d = flags->deployment;
  EXPECT_EQ(flags->model_path, "m.pt");
  EXPECT_EQ(d.name, "digits");
  EXPECT_EQ(d.version, "7");
  EXPECT_EQ(d.http.port, 0);
  EXPECT_TRUE(d.http.allow_insecure_public_bind);
  EXPECT_EQ(d.batcher.max_batch_size, 64);
  EXPECT_EQ(d.batcher.max_queue_delay, std::chrono::microseconds(2500));
  EXPECT_EQ(d.batcher.max_queue_size, 10);
  EXPECT_EQ(d.batcher.default_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(d.http.request_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(d.pool.instances, 3);
  EXPECT_EQ(d.pool.intra_op_threads, 2);
  EXPECT_EQ(d.http.max_body_bytes, 1000u);
  EXPECT_EQ(d.http.max_connections, 7u);
  EXPECT_EQ(d.http.io_threads, 4);
}

TEST(ServerFlagsTest, TokenComesFromTheEnvironmentUnlessGiven) {
  EXPECT_EQ(ParseServerFlags({"m.pt"}, "env-token")->deployment.http.token, "env-token");
  EXPECT_EQ(ParseServerFlags({"m.pt", "--token", "flag-token"}, "env-token")->deployment.http.token, "flag-token");
}

TEST(ServerFlagsTest, MistakesAreInvalidArgumentNamingTheFlag) {
  auto missing = ParseServerFlags({}, "");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("model file"), std::string::npos);
  auto unknown = ParseServerFlags({"m.pt", "--max-batch", "4"}, "");
  EXPECT_NE(unknown.status().message().find("max-batch"), std::string::npos) << unknown.status().message();
  auto not_a_number = ParseServerFlags({"m.pt", "--port", "http"}, "");
  EXPECT_NE(not_a_number.status().message().find("port"), std::string::npos) << not_a_number.status().message();
  auto out_of_range = ParseServerFlags({"m.pt", "--port", "70000"}, "");
  EXPECT_NE(out_of_range.status().message().find("70000"), std::string::npos);
  EXPECT_FALSE(ParseServerFlags({"m.pt", "--max-body-bytes", "0"}, "").ok());
  EXPECT_FALSE(ParseServerFlags({"m.pt", "--timeout-ms", "-1"}, "").ok());
}

TEST(ServerFlagsTest, HelpListsTheFlags) {
  auto flags = ParseServerFlags({"--help"}, "");
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->show_help);
  for (const char* flag : {"--name", "--port", "--max-batch-size", "--max-delay-ms", "--instances", "--token"}) {
    EXPECT_NE(flags->help_text.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace mlship
