// LatencyWindow on a fake clock: percentiles, mean, throughput, expiry.
#include "mlship/monitor/latency_window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace mlship::monitor {
namespace {

using Clock = LatencyWindow::Clock;

// A time point `seconds` after the steady clock's epoch.
Clock::time_point At(double seconds) {
  return Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::unique_ptr<LatencyWindow> MakeWindow(LatencyWindowOptions options = {}) {
  auto window = LatencyWindow::Create(options);
  EXPECT_TRUE(window.ok()) << window.status().ToString();
  return std::move(window).value();
}

TEST(LatencyWindowTest, PercentilesOnKnownDataAreNearestRank) {
  auto window = MakeWindow();
  // 1..100 ms, recorded in shuffled order within one second.
  for (int i = 0; i < 100; ++i) window->Record(((i * 37) % 100 + 1) / 1000.0, At(100.5));
  LatencyStats stats = window->Summarize(At(100.9));
  EXPECT_EQ(stats.count, 100);
  EXPECT_DOUBLE_EQ(stats.p50_seconds, 0.050);
  EXPECT_DOUBLE_EQ(stats.p90_seconds, 0.090);
  EXPECT_DOUBLE_EQ(stats.p99_seconds, 0.099);
  EXPECT_DOUBLE_EQ(stats.mean_seconds, 0.0505);
  // Everything happened in the one second observed so far.
  EXPECT_DOUBLE_EQ(stats.throughput_per_second, 100.0);
}

TEST(LatencyWindowTest, ThroughputDividesByTheSecondsCovered) {
  auto window = MakeWindow();  // 60 s window
  for (int second = 100; second < 105; ++second) {
    for (int i = 0; i < 10; ++i) window->Record(0.01, At(second + 0.1 * i));
  }
  // Traffic started 5 seconds ago (100..104): 50 requests / 5 s.
  EXPECT_DOUBLE_EQ(window->Summarize(At(104.5)).throughput_per_second, 10.0);
  // Long after the start, the whole window is the denominator.
  for (int i = 0; i < 60; ++i) window->Record(0.01, At(200));
  LatencyStats later = window->Summarize(At(200.5));
  EXPECT_EQ(later.count, 60);
  EXPECT_DOUBLE_EQ(later.throughput_per_second, 1.0);
}

TEST(LatencyWindowTest, ObservationsLeaveTheWindowAfterWindowSeconds) {
  LatencyWindowOptions options;
  options.window_seconds = 10;
  auto window = MakeWindow(options);
  window->Record(1.0, At(100));
  window->Record(3.0, At(105));
  LatencyStats both = window->Summarize(At(109.9));
  EXPECT_EQ(both.count, 2);
  EXPECT_DOUBLE_EQ(both.mean_seconds, 2.0);
  LatencyStats one = window->Summarize(At(110));
  EXPECT_EQ(one.count, 1);
  EXPECT_DOUBLE_EQ(one.p50_seconds, 3.0);
  EXPECT_EQ(window->Summarize(At(115)).count, 0);
  // A slot reused by a later second forgets the old one.
  window->Record(7.0, At(120));
  LatencyStats reused = window->Summarize(At(120));
  EXPECT_EQ(reused.count, 1);
  EXPECT_DOUBLE_EQ(reused.mean_seconds, 7.0);
}

TEST(LatencyWindowTest, ReservoirKeepsCountsExactAndPercentilesClose) {
  LatencyWindowOptions options;
  options.max_samples_per_second = 200;
  auto window = MakeWindow(options);
  // 10'000 latencies spread evenly over [0, 1) within one second.
  for (int i = 0; i < 10'000; ++i) window->Record(((i * 7919) % 10'000) / 10'000.0, At(50.2));
  LatencyStats stats = window->Summarize(At(50.7));
  EXPECT_EQ(stats.count, 10'000);
  EXPECT_NEAR(stats.mean_seconds, 0.49995, 1e-9);  // exact, not sampled
  // A 200-value uniform sample: the quantiles' standard error is below 0.04.
  EXPECT_NEAR(stats.p50_seconds, 0.5, 0.12);
  EXPECT_NEAR(stats.p90_seconds, 0.9, 0.08);
  EXPECT_GT(stats.p99_seconds, 0.9);
}

TEST(LatencyWindowTest, SecondsWithDifferentRatesAreWeightedByTheirCounts) {
  LatencyWindowOptions options;
  options.max_samples_per_second = 10;
  auto window = MakeWindow(options);
  // 1000 fast requests in one second, 20 slow ones in the next: the slow
  // ones are 2% of traffic although they are half of the stored samples.
  for (int i = 0; i < 1000; ++i) window->Record(0.001, At(10.1));
  for (int i = 0; i < 20; ++i) window->Record(1.0, At(11.1));
  LatencyStats stats = window->Summarize(At(11.5));
  EXPECT_EQ(stats.count, 1020);
  EXPECT_DOUBLE_EQ(stats.p50_seconds, 0.001);
  EXPECT_DOUBLE_EQ(stats.p90_seconds, 0.001);  // unweighted, this would be 1.0
  EXPECT_DOUBLE_EQ(stats.p99_seconds, 1.0);    // rank 1009.8 of 1020 is a slow one
}

TEST(LatencyWindowTest, IgnoresNegativeAndNanLatencies) {
  auto window = MakeWindow();
  window->Record(-1.0, At(5));
  window->Record(std::nan(""), At(5));
  LatencyStats stats = window->Summarize(At(5));
  EXPECT_EQ(stats.count, 0);
  EXPECT_EQ(stats.throughput_per_second, 0.0);
  EXPECT_EQ(stats.p99_seconds, 0.0);
}

TEST(LatencyWindowTest, CreateRejectsOutOfRangeOptions) {
  LatencyWindowOptions options;
  options.window_seconds = 0;
  auto window = LatencyWindow::Create(options);
  ASSERT_FALSE(window.ok());
  EXPECT_EQ(window.status().message(), "window_seconds must be in 1..3600; was 0");
  options.window_seconds = 10;
  options.max_samples_per_second = -3;
  EXPECT_EQ(LatencyWindow::Create(options).status().message(), "max_samples_per_second must be in 1..1000000; was -3");
}

TEST(LatencyWindowTest, AShorterSummaryLooksOnlyAtItsLastSeconds) {
  auto window = MakeWindow();  // 60 s window
  for (int i = 0; i < 10; ++i) window->Record(0.100, At(100.5));  // old and slow
  for (int i = 0; i < 10; ++i) window->Record(0.001, At(109.5));  // recent and fast
  LatencyStats recent = window->Summarize(At(109.9), 5);
  EXPECT_EQ(recent.count, 10);
  EXPECT_DOUBLE_EQ(recent.p99_seconds, 0.001);
  EXPECT_DOUBLE_EQ(recent.throughput_per_second, 2.0);  // 10 over the 5 s asked for
  LatencyStats all = window->Summarize(At(109.9));
  EXPECT_EQ(all.count, 20);
  EXPECT_DOUBLE_EQ(all.p99_seconds, 0.100);
  // Out-of-range lengths are clamped to 1..window_seconds.
  EXPECT_EQ(window->Summarize(At(109.9), 0).count, 10);
  EXPECT_EQ(window->Summarize(At(109.9), 100000).count, 20);
}

TEST(LatencyWindowTest, ThreadsRecordingIntoTheirShardsLoseNothing) {
  auto window = MakeWindow();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * LatencyWindow::kShards; ++t) {
    threads.emplace_back([&window, t] {
      for (int i = 0; i < 500; ++i) window->Record((t + 1) / 1000.0, At(200.5));
    });
  }
  for (auto& thread : threads) thread.join();
  LatencyStats stats = window->Summarize(At(200.9));
  EXPECT_EQ(stats.count, 2 * LatencyWindow::kShards * 500);
  EXPECT_DOUBLE_EQ(stats.p50_seconds, LatencyWindow::kShards / 1000.0);
  EXPECT_DOUBLE_EQ(stats.p99_seconds, 2 * LatencyWindow::kShards / 1000.0);
}

}  // namespace
}  // namespace mlship::monitor
