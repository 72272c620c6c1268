// mlship-server's command line: flags generated from the options schema.
#include "mlship/tools/server_flags.h"

#include <gtest/gtest.h>

namespace mlship {
namespace {

TEST(ServerFlagsTest, DefaultsComeFromTheOptionsStructs) {
  auto flags = ParseServerFlags({"model.pt"}, "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->model_path, "model.pt");
  EXPECT_TRUE(flags->repository.empty());
  const ServingOptions defaults;
  const ServingOptions& o = flags->options;
  EXPECT_EQ(o.name, "model");
  EXPECT_EQ(o.version, "1");
  EXPECT_EQ(o.server.http.host, "127.0.0.1");
  EXPECT_EQ(o.server.http.port, 8000);
  EXPECT_EQ(o.version_options.batcher.max_batch_size, defaults.version_options.batcher.max_batch_size);
  EXPECT_EQ(o.version_options.batcher.max_queue_delay, defaults.version_options.batcher.max_queue_delay);
  EXPECT_EQ(o.server.workers.instances, defaults.server.workers.instances);
  EXPECT_EQ(o.server.http.max_body_bytes, defaults.server.http.max_body_bytes);
  EXPECT_TRUE(o.server.http.token.empty());
  EXPECT_TRUE(o.version_options.monitoring);
}

TEST(ServerFlagsTest, EveryFlagReachesItsOption) {
  auto flags = ParseServerFlags({"--name", "digits", "--port", "0", "--host", "0.0.0.0", "--insecure", "m.pt",
                                 "--max-batch-size", "64", "--max-delay-ms", "2.5", "--max-queue-size", "10",
                                 "--timeout-ms", "250", "--instances", "3", "--intra-op-threads", "2",
                                 "--max-body-bytes", "1000", "--max-connections", "7", "--io-threads", "4",
                                 "--model-version", "7", "--preferred-batch-sizes", "8,16", "--no-monitoring",
                                 "--max-loaded-versions", "3", "--memory-budget-mb", "512", "--on-unloaded", "reject",
                                 "--version-policy", "latest:2"},
                                "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  const ServingOptions& o = flags->options;
  EXPECT_EQ(flags->model_path, "m.pt");
  EXPECT_EQ(o.name, "digits");
  EXPECT_EQ(o.version, "7");
  EXPECT_EQ(o.server.http.port, 0);
  EXPECT_TRUE(o.server.http.allow_insecure_public_bind);
  EXPECT_EQ(o.version_options.batcher.max_batch_size, 64);
  EXPECT_EQ(o.version_options.batcher.max_queue_delay, std::chrono::microseconds(2500));
  EXPECT_EQ(o.version_options.batcher.max_queue_size, 10);
  EXPECT_EQ(o.version_options.batcher.default_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(o.version_options.batcher.preferred_batch_sizes, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(o.server.workers.instances, 3);
  EXPECT_EQ(o.version_options.intra_op_threads, 2);
  EXPECT_EQ(o.server.http.max_body_bytes, 1000u);
  EXPECT_EQ(o.server.http.max_connections, 7u);
  EXPECT_EQ(o.server.http.io_threads, 4);
  EXPECT_FALSE(o.version_options.monitoring);
  EXPECT_EQ(o.server.max_loaded_versions, 3);
  EXPECT_EQ(o.server.memory_budget_mb, 512);
  EXPECT_EQ(o.server.on_unloaded, UnloadedVersionAction::kReject);
  EXPECT_EQ(o.model.version_policy.ToString(), "latest:2");
}

TEST(ServerFlagsTest, TokensComeFromTheEnvironmentUnlessGiven) {
  EXPECT_EQ(ParseServerFlags({"m.pt"}, "env-token")->options.server.http.token, "env-token");
  EXPECT_EQ(ParseServerFlags({"m.pt", "--token", "flag-token"}, "env-token")->options.server.http.token, "flag-token");
  auto admin = ParseServerFlags({"--repository", "models"}, "infer-token", "admin-token");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  EXPECT_EQ(admin->options.server.http.admin_token, "admin-token");
  EXPECT_EQ(admin->repository, "models");
  auto same = ParseServerFlags({"--repository", "models"}, "one-token", "one-token");
  EXPECT_NE(same.status().message().find("admin_token must differ from token"), std::string::npos)
      << same.status().message();
}

TEST(ServerFlagsTest, MistakesAreInvalidArgumentNamingTheFlag) {
  auto missing = ParseServerFlags({}, "");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("model file or --repository"), std::string::npos);
  auto both = ParseServerFlags({"m.pt", "--repository", "r"}, "");
  EXPECT_NE(both.status().message().find("not both"), std::string::npos);
  auto unknown = ParseServerFlags({"m.pt", "--max-batch", "4"}, "");
  EXPECT_NE(unknown.status().message().find("max-batch"), std::string::npos) << unknown.status().message();
  auto not_a_number = ParseServerFlags({"m.pt", "--port", "http"}, "");
  EXPECT_NE(not_a_number.status().message().find("--port expects an integer; got 'http'"), std::string::npos)
      << not_a_number.status().message();
  auto out_of_range = ParseServerFlags({"m.pt", "--port", "70000"}, "");
  EXPECT_NE(out_of_range.status().message().find("port must be in 0..65535; was 70000"), std::string::npos);
  EXPECT_FALSE(ParseServerFlags({"m.pt", "--max-body-bytes", "0"}, "").ok());
  EXPECT_FALSE(ParseServerFlags({"m.pt", "--timeout-ms", "-1"}, "").ok());
  EXPECT_NE(ParseServerFlags({"m.pt", "--on-unloaded", "maybe"}, "").status().message().find("\"load\" or \"reject\""),
            std::string::npos);
  EXPECT_NE(ParseServerFlags({"--repository", "r", "--reference", "x.npy"}, "").status().message().find("manifest"),
            std::string::npos);
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
  const monitor::ModelMonitorOptions& m = flags->options.version_options.monitor;
  EXPECT_EQ(m.classifier, std::optional<bool>(false));
  EXPECT_EQ(m.drift.window_size, 2000);
  EXPECT_EQ(m.drift.min_samples, 100);
  EXPECT_DOUBLE_EQ(m.drift.psi_threshold, 0.3);
  EXPECT_DOUBLE_EQ(m.drift.ks_pvalue_threshold, 0.001);
  EXPECT_DOUBLE_EQ(m.drift.ks_min_statistic, 0.2);
  EXPECT_EQ(m.drift_check_interval, std::chrono::milliseconds(2500));
  EXPECT_DOUBLE_EQ(m.anomalies.range_tolerance, 0.5);
  EXPECT_TRUE(m.anomalies.reject_anomalies);
  const ModelOptions& model = flags->options.model;
  ASSERT_TRUE(model.slo.has_value());
  EXPECT_EQ(model.fallback_version, "fallback");
  EXPECT_DOUBLE_EQ(model.slo->max_error_rate, 0.05);
  EXPECT_DOUBLE_EQ(model.slo->p99_seconds, 0.04);
  EXPECT_EQ(model.slo->window_seconds, 10);
  EXPECT_EQ(model.slo->min_requests, 5);
  EXPECT_EQ(model.slo->restore_after_seconds, 60);
}

TEST(ServerFlagsTest, WithoutMonitoringFlagsTheDefaultsStand) {
  auto flags = ParseServerFlags({"m.pt"}, "");
  ASSERT_TRUE(flags.ok());
  const monitor::ModelMonitorOptions defaults;
  const monitor::ModelMonitorOptions& m = flags->options.version_options.monitor;
  EXPECT_TRUE(flags->reference_path.empty());
  EXPECT_TRUE(flags->fallback_path.empty());
  EXPECT_FALSE(m.classifier.has_value());
  EXPECT_FALSE(flags->options.model.slo.has_value());
  EXPECT_EQ(m.drift.window_size, defaults.drift.window_size);
  EXPECT_EQ(m.drift_check_interval, defaults.drift_check_interval);
  EXPECT_FALSE(m.anomalies.reject_anomalies);
  EXPECT_EQ(ParseServerFlags({"m.pt", "--classifier", "true"}, "")->options.version_options.monitor.classifier,
            std::optional<bool>(true));
}

TEST(ServerFlagsTest, BadMonitoringValuesAreRefusedWithTheValue) {
  auto expect_refused = [](std::vector<std::string> args, const std::string& says) {
    args.insert(args.begin(), "m.pt");
    auto flags = ParseServerFlags(args, "");
    EXPECT_EQ(flags.status().code(), StatusCode::kInvalidArgument) << says;
    EXPECT_NE(flags.status().message().find(says), std::string::npos) << flags.status().message();
  };
  expect_refused({"--classifier", "maybe"}, "--classifier expects auto, true or false; got 'maybe'");
  expect_refused({"--drift-window", "0"}, "drift_window must be in 1..67108864; was 0");
  expect_refused({"--drift-min-samples", "9000"}, "min_samples");
  expect_refused({"--drift-psi-threshold", "-1"}, "drift_psi_threshold must be in (0, 1e+06]; was -1");
  expect_refused({"--drift-check-interval-s", "0"}, "drift_check_interval_s must be in (0, 86400]; was 0");
  expect_refused({"--anomaly-tolerance", "-2"}, "anomaly_tolerance");
  expect_refused({"--drift-window", "many"}, "--drift-window expects an integer");
  expect_refused({"--fallback", "good.pt"}, "a fallback needs slo_max_error_rate or slo_p99_ms");
  expect_refused({"--slo-p99-ms", "50"}, "an slo needs fallback");
  expect_refused({"--fallback", "g.pt", "--slo-max-error-rate", "2"}, "slo_max_error_rate must be in [0, 1]; was 2");
  expect_refused({"--fallback", "g.pt", "--slo-p99-ms", "-5"}, "slo_p99_ms must be in [0,");
  expect_refused({"--fallback", "g.pt", "--slo-p99-ms", "5", "--slo-window-s", "0"}, "slo_window_s must be in 1..3600");
}

TEST(ServerFlagsTest, InputAndOutputDeclareASignature) {
  auto flags = ParseServerFlags({"plain.pt", "--input", "x:FP32:-1,64", "--output", "y:FP32:-1,10"}, "");
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  auto sig = DeclaredSignature(*flags);
  ASSERT_TRUE(sig.ok() && sig->has_value());
  EXPECT_EQ((*sig)->inputs.at(0).ToString(), "x: FP32[-1, 64]");
  EXPECT_EQ((*sig)->outputs.at(0).ToString(), "y: FP32[-1, 10]");
  auto only_inputs = ParseServerFlags({"plain.pt", "--input", "x:FP32:-1,64"}, "");
  EXPECT_NE(DeclaredSignature(*only_inputs).status().message().find("--output"), std::string::npos);
  auto bad = ParseServerFlags({"plain.pt", "--input", "x:FP33:-1"}, "");
  EXPECT_NE(bad.status().message().find("unknown dtype 'FP33'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("NAME:DTYPE:DIMS"), std::string::npos);
  EXPECT_FALSE(ParseServerFlags({"plain.pt", "--input", "x:FP32:-1,0"}, "").ok());
  EXPECT_FALSE(ParseServerFlags({"plain.pt", "--input", "x:FP32"}, "").ok());
}

// mlship serve's --tune is taken so a command line moves over unchanged, but
// mlship-server never measures: only "off" is accepted, anything else names
// where measuring happens.
TEST(ServerFlagsTest, TuneIsOffOnlyAndOtherValuesSayWhereToTune) {
  EXPECT_TRUE(ParseServerFlags({"m.pt", "--tune", "off"}, "").ok());
  for (const char* value : {"auto", "on", "sometimes"}) {
    auto refused = ParseServerFlags({"m.pt", "--tune", value}, "");
    ASSERT_FALSE(refused.ok()) << value;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find(std::string("--tune ") + value + ": mlship-server never measures; "
                                              "expected off"),
              std::string::npos)
        << refused.status().message();
    EXPECT_NE(refused.status().message().find("mlship tune NAME --repository DIR"), std::string::npos);
  }
}

TEST(ServerFlagsTest, HelpListsEveryOptionOfTheSchema) {
  auto flags = ParseServerFlags({"--help"}, "");
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->show_help);
  for (const char* flag : {"--name", "--port", "--repository", "--input", "--output", "--admin-token"}) {
    EXPECT_NE(flags->help_text.find(flag), std::string::npos) << flag;
  }
  for (const OptionSpec& spec : OptionSchema()) {
    if (spec.flag.empty() || spec.scope == OptionScope::kRollout) continue;
    // A bool defaulting to true is offered negated (--no-monitoring).
    const bool found = flags->help_text.find("--" + spec.flag) != std::string::npos ||
                       flags->help_text.find("--no-" + spec.flag) != std::string::npos;
    EXPECT_TRUE(found) << spec.key;
  }
}

}  // namespace
}  // namespace mlship
