// DriftMonitor: detection on a shifted feature only, quiet on reference-like
// data, one alert per transition, window bookkeeping, the timer thread.
#include "mlship/monitor/drift_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <random>
#include <thread>
#include <vector>

namespace mlship::monitor {
namespace {

constexpr int64_t kFeatures = 3;

// Rows of three features: N(0, 1), N(5, 2) + shift, U(0, 1); row-major.
std::vector<float> MakeRows(int64_t rows, uint32_t seed, float shift_feature_1 = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> standard(0.0f, 1.0f);
  std::normal_distribution<float> wide(5.0f, 2.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> data;
  data.reserve(static_cast<size_t>(rows * kFeatures));
  for (int64_t i = 0; i < rows; ++i) {
    data.push_back(standard(rng));
    data.push_back(wide(rng) + shift_feature_1);
    data.push_back(unit(rng));
  }
  return data;
}

ReferenceProfile MakeReference() {
  std::vector<float> data = MakeRows(5000, /*seed=*/42);
  return std::move(ReferenceProfile::Build(data.data(), 5000, kFeatures)).value();
}

std::unique_ptr<DriftMonitor> MakeMonitor(DriftMonitorOptions options = {}) {
  auto monitor = DriftMonitor::Create(MakeReference(), std::move(options));
  EXPECT_TRUE(monitor.ok()) << monitor.status().ToString();
  return std::move(monitor).value();
}

TEST(DriftMonitorTest, ReferenceLikeDataIsNotDrift) {
  auto monitor = MakeMonitor();
  std::vector<float> live = MakeRows(2000, /*seed=*/7);
  ASSERT_TRUE(monitor->Observe(live.data(), 2000, kFeatures).ok());
  DriftReport report = monitor->Compute();
  EXPECT_EQ(report.window_rows, 2000);
  EXPECT_TRUE(report.drifted_features.empty());
  ASSERT_EQ(report.features.size(), 3u);
  for (const FeatureDrift& f : report.features) {
    EXPECT_TRUE(f.judged);
    EXPECT_FALSE(f.drifted) << "feature " << f.feature;
    EXPECT_LT(f.psi, 0.05) << "feature " << f.feature;
    EXPECT_LT(f.ks_statistic, 0.05) << "feature " << f.feature;
    EXPECT_EQ(f.live_count, 2000);
  }
}

TEST(DriftMonitorTest, DetectsAShiftedFeatureAndOnlyThatOne) {
  auto monitor = MakeMonitor();
  // Feature 1 moves by one standard deviation (2.0); the others do not.
  std::vector<float> live = MakeRows(2000, /*seed=*/7, /*shift_feature_1=*/2.0f);
  ASSERT_TRUE(monitor->Observe(live.data(), 2000, kFeatures).ok());
  DriftReport report = monitor->Compute();
  EXPECT_EQ(report.drifted_features, (std::vector<int64_t>{1}));
  const FeatureDrift& shifted = report.features[1];
  EXPECT_TRUE(shifted.drifted);
  EXPECT_GT(shifted.psi, 0.2);
  EXPECT_GT(shifted.ks_statistic, 0.3);  // Φ(0.5) - Φ(-0.5) ≈ 0.38 for a 1σ shift
  EXPECT_LT(shifted.ks_pvalue, 1e-10);
  EXPECT_FALSE(report.features[0].drifted);
  EXPECT_FALSE(report.features[2].drifted);
  // The report is remembered.
  EXPECT_EQ(monitor->LastReport().drifted_features, (std::vector<int64_t>{1}));
}

TEST(DriftMonitorTest, AlertFiresOnceOnTransitionAndAgainAfterRecovery) {
  std::vector<DriftEvent> events;
  DriftMonitorOptions options;
  options.window_size = 1000;
  options.on_drift = [&events](const DriftEvent& event) { events.push_back(event); };
  auto monitor = MakeMonitor(options);

  std::vector<float> normal = MakeRows(1000, /*seed=*/1);
  ASSERT_TRUE(monitor->Observe(normal.data(), 1000, kFeatures).ok());
  monitor->Compute();
  EXPECT_TRUE(events.empty());

  std::vector<float> shifted = MakeRows(1000, /*seed=*/2, /*shift_feature_1=*/3.0f);
  ASSERT_TRUE(monitor->Observe(shifted.data(), 1000, kFeatures).ok());
  monitor->Compute();
  monitor->Compute();
  monitor->Compute();
  ASSERT_EQ(events.size(), 1u);  // not repeated while it stays drifted
  EXPECT_EQ(events[0].feature, 1);
  EXPECT_TRUE(events[0].psi_exceeded);
  EXPECT_TRUE(events[0].ks_exceeded);
  EXPECT_EQ(events[0].live_count, 1000);
  EXPECT_NE(events[0].ToString().find("feature 1 drifted"), std::string::npos);

  // Reference-like rows push the shifted ones out: recovery, no event.
  std::vector<float> recovered = MakeRows(1000, /*seed=*/3);
  ASSERT_TRUE(monitor->Observe(recovered.data(), 1000, kFeatures).ok());
  EXPECT_TRUE(monitor->Compute().drifted_features.empty());
  EXPECT_EQ(events.size(), 1u);

  // Drifting again is a new transition.
  ASSERT_TRUE(monitor->Observe(shifted.data(), 1000, kFeatures).ok());
  monitor->Compute();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].feature, 1);
}

TEST(DriftMonitorTest, DoesNotJudgeBeforeMinSamples) {
  DriftMonitorOptions options;
  options.min_samples = 500;
  auto monitor = MakeMonitor(options);
  std::vector<float> shifted = MakeRows(499, /*seed=*/5, /*shift_feature_1=*/10.0f);
  ASSERT_TRUE(monitor->Observe(shifted.data(), 499, kFeatures).ok());
  DriftReport report = monitor->Compute();
  EXPECT_FALSE(report.features[1].judged);
  EXPECT_FALSE(report.features[1].drifted);
  EXPECT_GT(report.features[1].psi, 1.0);  // computed, just not judged
  EXPECT_TRUE(report.drifted_features.empty());
  std::vector<float> one_more = MakeRows(1, /*seed=*/6, /*shift_feature_1=*/10.0f);
  ASSERT_TRUE(monitor->Observe(one_more.data(), 1, kFeatures).ok());
  EXPECT_EQ(monitor->Compute().drifted_features, (std::vector<int64_t>{1}));
}

TEST(DriftMonitorTest, WindowKeepsOnlyTheNewestRows) {
  DriftMonitorOptions options;
  options.window_size = 1000;
  options.min_samples = 500;
  auto monitor = MakeMonitor(options);
  EXPECT_EQ(monitor->window_rows(), 0);
  std::vector<float> shifted = MakeRows(700, /*seed=*/8, /*shift_feature_1=*/10.0f);
  ASSERT_TRUE(monitor->Observe(shifted.data(), 700, kFeatures).ok());
  EXPECT_EQ(monitor->window_rows(), 700);
  // 2500 reference-like rows in one call: only the last 1000 are kept (into
  // slots 700..999 then 0..699), so the shifted rows are gone.
  std::vector<float> normal = MakeRows(2500, /*seed=*/9);
  ASSERT_TRUE(monitor->Observe(normal.data(), 2500, kFeatures).ok());
  EXPECT_EQ(monitor->window_rows(), 1000);
  DriftReport report = monitor->Compute();
  EXPECT_EQ(report.features[1].live_count, 1000);
  EXPECT_TRUE(report.drifted_features.empty());
  // 150 more reference-like rows (slots 700..849), then 300 shifted rows
  // across the ring's end (850..999, 0..149): 30% of feature 1 far off is
  // drift; the other features are unchanged.
  std::vector<float> normal_more = MakeRows(150, /*seed=*/13);
  ASSERT_TRUE(monitor->Observe(normal_more.data(), 150, kFeatures).ok());
  std::vector<float> more = MakeRows(300, /*seed=*/10, /*shift_feature_1=*/10.0f);
  ASSERT_TRUE(monitor->Observe(more.data(), 300, kFeatures).ok());
  EXPECT_EQ(monitor->window_rows(), 1000);
  EXPECT_EQ(monitor->Compute().drifted_features, (std::vector<int64_t>{1}));
}

TEST(DriftMonitorTest, ObserveRejectsTheWrongFeatureCount) {
  auto monitor = MakeMonitor();
  std::vector<float> rows(8, 0.0f);
  Status status = monitor->Observe(rows.data(), 2, 4);
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "drift monitor expected 3 features per row (as in the reference profile); got 4");
  EXPECT_EQ(monitor->window_rows(), 0);
}

TEST(DriftMonitorTest, CreateRejectsBadOptions) {
  DriftMonitorOptions options;
  options.min_samples = 6000;  // more than window_size
  auto monitor = DriftMonitor::Create(MakeReference(), options);
  ASSERT_FALSE(monitor.ok());
  EXPECT_EQ(monitor.status().message(), "min_samples must be in 1..window_size (5000); was 6000");
  options = {};
  options.psi_threshold = 0;
  EXPECT_EQ(DriftMonitor::Create(MakeReference(), options).status().message(),
            "psi_threshold must be a positive number; was 0");
  options = {};
  options.check_interval = std::chrono::milliseconds(-1);
  EXPECT_FALSE(DriftMonitor::Create(MakeReference(), options).ok());
}

TEST(DriftMonitorTest, ConcurrentObserveAndComputeKeepTheWindowConsistent) {
  DriftMonitorOptions options;
  options.window_size = 4000;
  auto monitor = MakeMonitor(options);
  std::vector<float> rows = MakeRows(100, /*seed=*/11);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(monitor->Observe(rows.data(), 100, kFeatures).ok());
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < 20; ++i) {
      DriftReport report = monitor->Compute();
      EXPECT_LE(report.window_rows, 4000);
      for (const FeatureDrift& f : report.features) EXPECT_EQ(f.live_count, report.window_rows);
    }
  });
  for (auto& w : writers) w.join();
  reader.join();
  // 4 × 25 × 100 = 10'000 rows through a 4000-row window.
  EXPECT_EQ(monitor->window_rows(), 4000);
}

TEST(DriftMonitorTest, TimerThreadRunsChecksAndRaisesTheAlert) {
  std::promise<DriftEvent> first_event;
  std::atomic<bool> delivered{false};
  DriftMonitorOptions options;
  options.check_interval = std::chrono::milliseconds(1);
  options.on_drift = [&](const DriftEvent& event) {
    if (!delivered.exchange(true)) first_event.set_value(event);
  };
  auto monitor = MakeMonitor(options);
  std::vector<float> shifted = MakeRows(1000, /*seed=*/12, /*shift_feature_1=*/3.0f);
  ASSERT_TRUE(monitor->Observe(shifted.data(), 1000, kFeatures).ok());
  // Waits for the timer thread's alert (an event, not a sleep); the bound only
  // keeps a broken build from hanging.
  std::future<DriftEvent> future = first_event.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(future.get().feature, 1);
  monitor.reset();  // joins the timer thread
}

}  // namespace
}  // namespace mlship::monitor
