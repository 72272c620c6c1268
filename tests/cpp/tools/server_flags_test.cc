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

TEST(ServerFlagsTest, MonitoringFlagsReachTheMonitorOptions) {
  auto flags = ParseServerFlags({"m.pt", "--reference", "ref.npy", "--classifier", "false", "--drift-window", "2000",
                                 "--drift-min-samples", "100", "--drift-psi-threshold", "0.3", "--drift-ks-pvalue",
                                 "0.001", "--drift-ks-min-statistic", "0.2", "--drift-check-interval-s", "2.5",
                                 "--anomaly-tolerance", "0.5", "--reject-anomalies", "--fallback", "good.pt",
                                 "--slo-max-error-rate", "0.05", "--slo-p99-ms", "40", "--slo-window-s", "10",
                                 "--slo-min-requests", "5", "--slo-restore-after-s", "60"},
                                "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->reference_path, "ref.npy");
  EXPECT_EQ(flags->fallback_path, "good.pt");
  const monitor::ModelMonitorOptions& m = flags->deployment.monitor;
  EXPECT_EQ(m.classifier, std::optional<bool>(false));
  EXPECT_EQ(m.drift.window_size, 2000);
  EXPECT_EQ(m.drift.min_samples, 100);
  EXPECT_DOUBLE_EQ(m.drift.psi_threshold, 0.3);
  EXPECT_DOUBLE_EQ(m.drift.ks_pvalue_threshold, 0.001);
  EXPECT_DOUBLE_EQ(m.drift.ks_min_statistic, 0.2);
  EXPECT_EQ(m.drift_check_interval, std::chrono::milliseconds(2500));
  EXPECT_DOUBLE_EQ(m.anomalies.range_tolerance, 0.5);
  EXPECT_TRUE(m.anomalies.reject_anomalies);
  ASSERT_TRUE(m.slo.has_value());
  EXPECT_DOUBLE_EQ(m.slo->max_error_rate, 0.05);
  EXPECT_DOUBLE_EQ(m.slo->p99_seconds, 0.04);
  EXPECT_EQ(m.slo->window_seconds, 10);
  EXPECT_EQ(m.slo->min_requests, 5);
  EXPECT_EQ(m.slo->restore_after_seconds, 60);
}

TEST(ServerFlagsTest, WithoutMonitoringFlagsTheDefaultsStand) {
  auto flags = ParseServerFlags({"m.pt"}, "");
  ASSERT_TRUE(flags.ok());
  const monitor::ModelMonitorOptions defaults;
  const monitor::ModelMonitorOptions& m = flags->deployment.monitor;
  EXPECT_TRUE(flags->reference_path.empty());
  EXPECT_TRUE(flags->fallback_path.empty());
  EXPECT_FALSE(m.classifier.has_value());
  EXPECT_FALSE(m.slo.has_value());
  EXPECT_EQ(m.drift.window_size, defaults.drift.window_size);
  EXPECT_EQ(m.drift_check_interval, defaults.drift_check_interval);
  EXPECT_FALSE(m.anomalies.reject_anomalies);
  EXPECT_EQ(ParseServerFlags({"m.pt", "--classifier", "true"}, "")->deployment.monitor.classifier,
            std::optional<bool>(true));
}

TEST(ServerFlagsTest, BadMonitoringValuesAreRefusedWithTheValue) {
  auto expect_refused = [](std::vector<std::string> args, const std::string& says) {
    args.insert(args.begin(), "m.pt");
    auto flags = ParseServerFlags(args, "");
    EXPECT_EQ(flags.status().code(), StatusCode::kInvalidArgument) << says;
    EXPECT_NE(flags.status().message().find(says), std::string::npos) << flags.status().message();
  };
  expect_refused({"--classifier", "maybe"}, "auto, true or false; was 'maybe'");
  expect_refused({"--drift-window", "0"}, "window_size must be in 1..10000000; was 0");
  expect_refused({"--drift-min-samples", "9000"}, "min_samples");
  expect_refused({"--drift-psi-threshold", "-1"}, "psi_threshold");
  expect_refused({"--drift-check-interval-s", "0"}, "--drift-check-interval-s must be in (0, 86400]");
  expect_refused({"--anomaly-tolerance", "-2"}, "range_tolerance");
  expect_refused({"--drift-window", "many"}, "drift-window");
  expect_refused({"--fallback", "good.pt"}, "--fallback needs --slo-max-error-rate or --slo-p99-ms");
  expect_refused({"--slo-p99-ms", "50"}, "need --fallback MODEL");
  expect_refused({"--fallback", "g.pt", "--slo-max-error-rate", "2"}, "max_error_rate must be in 0..1; was 2");
  expect_refused({"--fallback", "g.pt", "--slo-p99-ms", "-5"}, "--slo-p99-ms must be a positive number");
  expect_refused({"--fallback", "g.pt", "--slo-p99-ms", "5", "--slo-window-s", "0"}, "window_s must be in 1..3600");
  expect_refused({"--fallback", "g.pt", "--slo-p99-ms", "5", "--slo-restore-after-s", "0"},
                 "--slo-restore-after-s must be >= 1; was 0");
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
