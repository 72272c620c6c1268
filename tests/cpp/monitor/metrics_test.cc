// Counter, Gauge, Histogram and bucket layouts, including concurrent updates.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "mlship/monitor/buckets.h"
#include "mlship/monitor/counter.h"
#include "mlship/monitor/gauge.h"
#include "mlship/monitor/histogram.h"

namespace mlship::monitor {
namespace {

// Runs `body(thread_index)` on `threads` threads and joins them.
template <typename Body>
void RunOnThreads(int threads, Body body) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(body, t);
  for (auto& w : workers) w.join();
}

TEST(CounterTest, StartsAtZeroAndAddsAmounts) {
  Counter counter;
  EXPECT_EQ(counter.Value(), 0.0);
  counter.Increment();
  counter.Increment(2.5);
  EXPECT_EQ(counter.Value(), 3.5);
}

TEST(CounterTest, IgnoresNegativeAndNanAmounts) {
  Counter counter;
  counter.Increment(4);
  counter.Increment(-1);
  counter.Increment(std::nan(""));
  EXPECT_EQ(counter.Value(), 4.0);
}

TEST(CounterTest, ConcurrentIncrementsFromManyThreadsAreExact) {
  Counter counter;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100'000;
  RunOnThreads(kThreads, [&](int) {
    for (int i = 0; i < kPerThread; ++i) counter.Increment();
  });
  EXPECT_EQ(counter.Value(), static_cast<double>(kThreads) * kPerThread);
}

TEST(GaugeTest, SetIncrementAndDecrement) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Increment(2);
  gauge.Decrement(5);
  EXPECT_EQ(gauge.Value(), 7.0);
  gauge.Increment(-7);
  EXPECT_EQ(gauge.Value(), 0.0);
}

TEST(GaugeTest, ConcurrentIncrementsAndDecrementsBalance) {
  Gauge gauge;
  RunOnThreads(6, [&](int t) {
    for (int i = 0; i < 50'000; ++i) {
      if (t % 2 == 0) {
        gauge.Increment();
      } else {
        gauge.Decrement();
      }
    }
  });
  EXPECT_EQ(gauge.Value(), 0.0);
}

TEST(HistogramTest, CountsIntoLeBucketsCumulatively) {
  auto histogram = Histogram::Create({0.1, 0.5, 1.0});
  ASSERT_TRUE(histogram.ok()) << histogram.status().ToString();
  Histogram& h = **histogram;
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 5.0}) h.Observe(v);
  HistogramSnapshot s = h.Snapshot();
  // le semantics: a value equal to a bound belongs to that bound's bucket.
  EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 6.65);
  EXPECT_EQ(s.bucket_bounds, (std::vector<double>{0.1, 0.5, 1.0}));
}

TEST(HistogramTest, NanGoesToInfBucketAndPoisonsSum) {
  auto h = std::move(Histogram::Create({1.0})).value();
  h->Observe(std::nan(""));
  HistogramSnapshot s = h->Snapshot();
  EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(HistogramTest, RejectsUnsortedOrInfiniteBounds) {
  auto unsorted = Histogram::Create({0.5, 0.1});
  ASSERT_FALSE(unsorted.ok());
  EXPECT_TRUE(unsorted.status().IsInvalidArgument());
  EXPECT_EQ(unsorted.status().message(), "histogram bucket bounds must strictly increase; bound 1 (0.1) follows 0.5");
  auto infinite = Histogram::Create({1.0, INFINITY});
  ASSERT_FALSE(infinite.ok());
  EXPECT_EQ(infinite.status().message(), "histogram bucket bounds must be finite (+Inf is implicit); bound 1 was +Inf");
}

TEST(HistogramTest, ConcurrentObservationsAreExact) {
  auto h = std::move(Histogram::Create(DefaultLatencyBuckets())).value();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  RunOnThreads(kThreads, [&](int) {
    for (int i = 0; i < kPerThread; ++i) h->Observe(i % 2 == 0 ? 0.5 : 20.0);
  });
  HistogramSnapshot s = h->Snapshot();
  const uint64_t half = kThreads * kPerThread / 2;
  EXPECT_EQ(s.count, 2 * half);
  // Bounds: ..., 0.25, 0.5 (index 6), 1, 2.5, 5, 10, +Inf.
  EXPECT_EQ(s.cumulative_counts[5], 0u);
  EXPECT_EQ(s.cumulative_counts[6], half);
  EXPECT_EQ(s.cumulative_counts[10], half);
  EXPECT_EQ(s.cumulative_counts[11], 2 * half);
  // 0.5 and 20 are exact in binary, and so are all partial sums here.
  EXPECT_EQ(s.sum, half * 0.5 + half * 20.0);
}

TEST(BucketsTest, DefaultLatencyBucketsArePrometheusDefaults) {
  EXPECT_EQ(DefaultLatencyBuckets(),
            (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
  EXPECT_TRUE(ValidateBucketBounds(DefaultLatencyBuckets()).ok());
}

TEST(BucketsTest, ExponentialAndLinearLayouts) {
  auto exponential = ExponentialBuckets(0.001, 2, 4);
  ASSERT_TRUE(exponential.ok());
  EXPECT_EQ(*exponential, (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  auto linear = LinearBuckets(1, 0.5, 3);
  ASSERT_TRUE(linear.ok());
  EXPECT_EQ(*linear, (std::vector<double>{1, 1.5, 2}));
}

TEST(BucketsTest, InvalidLayoutsSayWhatWasWrong) {
  EXPECT_EQ(ExponentialBuckets(0, 2, 4).status().message(), "exponential buckets need start > 0; was 0");
  EXPECT_EQ(ExponentialBuckets(1, 1, 4).status().message(), "exponential buckets need factor > 1; was 1");
  EXPECT_EQ(LinearBuckets(0, 1, 0).status().message(), "bucket count must be >= 1; was 0");
  EXPECT_FALSE(ExponentialBuckets(1, 1e300, 3).ok());  // overflows to +Inf
}

}  // namespace
}  // namespace mlship::monitor
