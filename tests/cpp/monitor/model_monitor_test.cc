// ModelMonitor: request-path recording, drift alerts, anomalies and the
// fallback state machine, without a model or a server.
#include "mlship/monitor/model_monitor.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

namespace mlship::monitor {
namespace {

ModelMonitorOptions QuietOptions() {
  ModelMonitorOptions o;
  o.model = "m";
  o.version = "2";
  o.log = [](const std::string&) {};
  return o;
}

std::vector<float> Normal(int64_t rows, int64_t features, double mean, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(static_cast<float>(mean), 1.0f);
  std::vector<float> v(static_cast<size_t>(rows * features));
  for (float& x : v) x = dist(rng);
  return v;
}

double ValueOf(const MetricsRegistry& registry, const std::string& name, const std::string& extra_label = "") {
  for (const auto& family : registry.Snapshot()) {
    if (family.name != name) continue;
    for (const auto& s : family.samples) {
      if (extra_label.empty() || (s.label_values.size() > 2 && s.label_values[2] == extra_label)) return s.value;
    }
  }
  return -1;
}

TEST(ModelMonitor, CountsRequestsByOutcomeAndBatches) {
  auto monitor = ModelMonitor::Create(QuietOptions()).value();
  for (int i = 0; i < 3; ++i) monitor->RequestStarted();
  monitor->RequestFinished("", 0.002);
  monitor->RequestFinished("", 0.004);
  monitor->RequestFinished("inference_failed", 0.001);
  monitor->BatchExecuted(6, 0.001);
  const auto& r = monitor->registry();
  EXPECT_EQ(ValueOf(r, "mlship_requests_succeeded_total"), 2);
  EXPECT_EQ(ValueOf(r, "mlship_requests_failed_total", "inference_failed"), 1);
  EXPECT_EQ(ValueOf(r, "mlship_requests_failed_total", "invalid_argument"), 0);
  EXPECT_EQ(ValueOf(r, "mlship_inflight_requests"), 0);
  EXPECT_EQ(ValueOf(r, "mlship_inferences_total"), 6);
  EXPECT_EQ(ValueOf(r, "mlship_executions_total"), 1);
  const MonitorStats stats = monitor->Stats();
  EXPECT_EQ(stats.latency.count, 2);
  EXPECT_EQ(stats.failed_requests, 1);
  EXPECT_DOUBLE_EQ(stats.mean_batch_size, 6.0);
  EXPECT_DOUBLE_EQ(stats.latency.p99_seconds, 0.004);
  const std::string text = r.PrometheusText();
  EXPECT_NE(text.find("mlship_requests_succeeded_total{model=\"m\",version=\"2\"} 2\n"), std::string::npos) << text;
}

TEST(ModelMonitor, RecordingFromManyThreadsLosesNothing) {
  auto monitor = ModelMonitor::Create(QuietOptions()).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        monitor->RequestStarted();
        monitor->RequestFinished("", 0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_requests_succeeded_total"), 8000);
  EXPECT_EQ(monitor->Stats().latency.count, 8000);
}

TEST(ModelMonitor, DriftAlertNamesOnlyTheShiftedFeaturesOnce) {
  std::vector<AlertEvent> alerts;
  ModelMonitorOptions o = QuietOptions();
  o.drift.window_size = 1000;
  o.drift.min_samples = 200;
  o.on_alert = [&](const AlertEvent& e) { alerts.push_back(e); };
  auto monitor = ModelMonitor::Create(o).value();
  const auto reference = Normal(2000, 3, 0.0, 1);
  ASSERT_TRUE(monitor->SetReference(reference.data(), 2000, 3, {"a", "b", "c"}).ok());
  auto live = Normal(1000, 3, 0.0, 2);
  monitor->ObserveInputs(live.data(), 1000, 3);
  EXPECT_TRUE(monitor->CheckDrift().drifted_features.empty());
  EXPECT_TRUE(alerts.empty());
  for (int64_t r = 0; r < 1000; ++r) live[static_cast<size_t>(r * 3 + 1)] += 2.0f;
  monitor->ObserveInputs(live.data(), 1000, 3);
  EXPECT_EQ(monitor->CheckDrift().drifted_features, std::vector<int64_t>{1});
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, "drift");
  EXPECT_EQ(alerts[0].model, "m");
  EXPECT_EQ(alerts[0].features, std::vector<std::string>{"b"});
  monitor->CheckDrift();
  EXPECT_EQ(alerts.size(), 1u);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_drift_alerts_total"), 1);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_drift_detected", "b"), 1);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_drift_detected", "a"), 0);
}

TEST(ModelMonitor, PredictionDriftAlertsOnceWhenTheClassMixShifts) {
  std::vector<AlertEvent> alerts;
  std::vector<std::string> lines;
  ModelMonitorOptions o = QuietOptions();
  o.drift.window_size = 1000;
  o.drift.min_samples = 200;
  o.on_alert = [&](const AlertEvent& e) { alerts.push_back(e); };
  o.log = [&](const std::string& line) { lines.push_back(line); };
  auto monitor = ModelMonitor::Create(o).value();
  const auto reference = Normal(100, 2, 0.0, 1);
  // The model predicted classes 0, 1, 2 in shares 50/30/20 on the reference.
  auto classes = ClassProfile::FromCounts({50, 30, 20}).value();
  ASSERT_TRUE(monitor->SetReference(reference.data(), 100, 2, {"a", "b"}, classes).ok());
  EXPECT_EQ(monitor->reference_classes(), 3);
  // Live inputs match the reference, so only predictions can drift.
  const auto live = Normal(1000, 2, 0.0, 2);
  monitor->ObserveInputs(live.data(), 1000, 2);

  std::vector<int64_t> same;
  for (int i = 0; i < 1000; ++i) same.push_back(i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2);
  monitor->ObservePredictions(same.data(), 1000, 3);
  monitor->CheckDrift();
  EXPECT_TRUE(alerts.empty());
  ASSERT_TRUE(monitor->LastPredictionDrift().has_value());
  EXPECT_TRUE(monitor->LastPredictionDrift()->judged);
  EXPECT_FALSE(monitor->LastPredictionDrift()->drifted);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_prediction_window_rows"), 1000);

  const std::vector<int64_t> mostly_two(1000, 2);
  monitor->ObservePredictions(mostly_two.data(), 1000, 3);
  monitor->ObservePredictions(mostly_two.data(), 1000, 7);  // another class count: ignored
  monitor->CheckDrift();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, "prediction_drift");
  EXPECT_EQ(alerts[0].model, "m");
  ASSERT_TRUE(alerts[0].prediction.has_value());
  EXPECT_GE(alerts[0].prediction->psi, 0.2);
  EXPECT_EQ(alerts[0].prediction->live_shares, (std::vector<double>{0.0, 0.0, 1.0}));
  EXPECT_NE(alerts[0].message.find("class 2"), std::string::npos) << alerts[0].message;
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("prediction_drift"), std::string::npos) << lines[0];
  EXPECT_GE(ValueOf(monitor->registry(), "mlship_prediction_drift_psi"), 0.2);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_prediction_drift_detected"), 1);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_prediction_drift_alerts_total"), 1);
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_drift_alerts_total"), 0) << "the inputs did not drift";
  // Still drifted: no second alert. Back to the reference mix, then shifted
  // again: a new alert.
  monitor->CheckDrift();
  EXPECT_EQ(alerts.size(), 1u);
  monitor->ObservePredictions(same.data(), 1000, 3);
  monitor->CheckDrift();
  EXPECT_EQ(ValueOf(monitor->registry(), "mlship_prediction_drift_detected"), 0);
  monitor->ObservePredictions(mostly_two.data(), 1000, 3);
  monitor->CheckDrift();
  EXPECT_EQ(alerts.size(), 2u);
}

TEST(ModelMonitor, WithoutAClassifierReferencePredictionsAreIgnored) {
  auto monitor = ModelMonitor::Create(QuietOptions()).value();
  const std::vector<int64_t> classes = {0, 1};
  monitor->ObservePredictions(classes.data(), 2, 2);  // no reference at all
  const auto reference = Normal(100, 2, 0.0, 1);
  ASSERT_TRUE(monitor->SetReference(reference.data(), 100, 2, {"a", "b"}).ok());
  EXPECT_EQ(monitor->reference_classes(), 0);
  monitor->ObservePredictions(classes.data(), 2, 2);
  monitor->CheckDrift();
  EXPECT_FALSE(monitor->LastPredictionDrift().has_value());
  EXPECT_EQ(monitor->registry().PrometheusText().find("mlship_prediction_drift_psi{"), std::string::npos);
  auto none = ClassProfile::FromCounts({0, 0}).value();
  EXPECT_EQ(monitor->SetReference(reference.data(), 100, 2, {"a", "b"}, none).code(), StatusCode::kInvalidArgument);
}

TEST(ModelMonitor, AnomaliesAreCountedAndRefusedOnlyWhenAsked) {
  ModelMonitorOptions o = QuietOptions();
  auto counting = ModelMonitor::Create(o).value();
  o.anomalies.reject_anomalies = true;
  auto rejecting = ModelMonitor::Create(o).value();
  const std::vector<float> reference = {0, 0, 1, 1};
  const std::vector<float> bad = {0.5f, 100.0f};
  for (auto* m : {counting.get(), rejecting.get()}) {
    ASSERT_TRUE(m->SetReference(reference.data(), 2, 2, {"x", "y"}).ok());
  }
  EXPECT_TRUE(counting->CheckInputs(bad.data(), 1, 2).ok());
  Status refused = rejecting->CheckInputs(bad.data(), 1, 2);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("feature 1"), std::string::npos) << refused.message();
  EXPECT_TRUE(rejecting->CheckInputs(reference.data(), 2, 2).ok());
  for (const auto& family : counting->registry().Snapshot()) {
    if (family.name != "mlship_input_anomalies_total") continue;
    double total = 0;
    for (const auto& s : family.samples) {
      total += s.value;
      if (s.value > 0) EXPECT_EQ(s.label_values, (std::vector<std::string>{"m", "2", "y", "out_of_range"}));
    }
    EXPECT_EQ(total, 1);
  }
}

TEST(ModelMonitor, JudgesTheSloOverItsWindowOnTheInjectedClock) {
  FakeClock clock;
  ModelMonitorOptions o = QuietOptions();
  o.clock = &clock;
  o.health_window_seconds = 5;
  o.tick_interval = std::chrono::milliseconds(250);
  auto monitor = ModelMonitor::Create(o).value();
  SloOptions slo;
  slo.max_error_rate = 0.1;
  slo.window_seconds = 5;
  slo.min_requests = 10;
  const auto start = clock.Now() - std::chrono::hours(1);
  for (int i = 0; i < 20; ++i) {
    monitor->RequestStarted();
    monitor->RequestFinished("", 0.001);
  }
  EXPECT_FALSE(monitor->JudgeSlo(slo, start).has_value());
  for (int i = 0; i < 10; ++i) {
    monitor->RequestStarted();
    monitor->RequestFinished("inference_failed", 0.001);
  }
  std::optional<std::string> breach = monitor->JudgeSlo(slo, start);
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("error rate"), std::string::npos) << *breach;
  // Counted from a restart point only: nothing has happened since.
  monitor->RecordFallbackState(false, false);
  EXPECT_FALSE(monitor->JudgeSlo(slo, clock.Now()).has_value());
  // Without a restart point the failures age out of the 5 s window, one tick
  // (one counter snapshot) at a time.
  for (int s = 0; s < 7; ++s) {
    clock.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(clock.BlockUntilSleepingUntil(clock.Now() + o.tick_interval, std::chrono::seconds(10)));
  }
  EXPECT_FALSE(monitor->JudgeSlo(slo, start).has_value());
}

TEST(ModelMonitor, BadOptionsAreRefusedWithTheValue) {
  ModelMonitorOptions o = QuietOptions();
  o.drift.window_size = 0;
  EXPECT_EQ(ModelMonitor::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = QuietOptions();
  o.stats_window_seconds = 0;
  EXPECT_NE(ModelMonitor::Create(o).status().message().find("was 0"), std::string::npos);
  o = QuietOptions();
  o.anomalies.range_tolerance = -1;
  EXPECT_FALSE(ModelMonitor::Create(o).ok());
}

}  // namespace
}  // namespace mlship::monitor
