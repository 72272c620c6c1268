// MetricsRegistry: naming rules, label handling, collisions and snapshots.
#include "mlship/monitor/registry.h"

#include <gtest/gtest.h>

#include <thread>

#include "mlship/monitor/buckets.h"
#include "mlship/monitor/metric_name.h"

namespace mlship::monitor {
namespace {

TEST(MetricNameTest, AcceptsConventionalNames) {
  EXPECT_TRUE(ValidateMetricName("mlship_requests_total", MetricType::kCounter).ok());
  EXPECT_TRUE(ValidateMetricName("mlship:requests:rate5m", MetricType::kGauge).ok());
  EXPECT_TRUE(ValidateMetricName("mlship_request_latency_seconds", MetricType::kHistogram).ok());
  EXPECT_TRUE(ValidateMetricName("cpu_seconds_total", MetricType::kCounter).ok());
  EXPECT_TRUE(ValidateMetricName("_private_gauge", MetricType::kGauge).ok());
}

TEST(MetricNameTest, RejectsCharactersOutsideThePrometheusAlphabet) {
  Status leading_digit = ValidateMetricName("9lives", MetricType::kGauge);
  EXPECT_TRUE(leading_digit.IsInvalidArgument());
  EXPECT_EQ(leading_digit.message(),
            "metric name \"9lives\" has '9' at position 0; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(ValidateMetricName("requests-in-flight", MetricType::kGauge).message(),
            "metric name \"requests-in-flight\" has '-' at position 8; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_EQ(ValidateMetricName("", MetricType::kGauge).message(),
            "metric name is empty; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
}

TEST(MetricNameTest, CountersMustEndInTotalAndOthersMustNot) {
  EXPECT_EQ(ValidateMetricName("mlship_requests", MetricType::kCounter).message(),
            "counter name \"mlship_requests\" must end in \"_total\", e.g. \"mlship_requests_total\"");
  EXPECT_FALSE(ValidateMetricName("mlship_requests_total", MetricType::kGauge).ok());
  EXPECT_FALSE(ValidateMetricName("mlship_requests_total", MetricType::kHistogram).ok());
}

TEST(MetricNameTest, DurationsMustBeInSeconds) {
  EXPECT_EQ(ValidateMetricName("mlship_latency_ms", MetricType::kHistogram).message(),
            "metric name \"mlship_latency_ms\" measures time in \"ms\"; durations are in seconds (the Prometheus "
            "base unit), e.g. \"mlship_latency_seconds\"");
  EXPECT_EQ(ValidateMetricName("mlship_request_latency", MetricType::kHistogram).message(),
            "metric name \"mlship_request_latency\" looks like a duration but does not name its unit; durations "
            "are in seconds, e.g. \"mlship_request_latency_seconds\"");
  EXPECT_EQ(ValidateMetricName("mlship_compute_time_total", MetricType::kCounter).message(),
            "metric name \"mlship_compute_time_total\" looks like a duration but does not name its unit; "
            "durations are in seconds, e.g. \"mlship_compute_time_seconds_total\"");
  EXPECT_FALSE(ValidateMetricName("queue_wait_microseconds", MetricType::kGauge).ok());
}

TEST(MetricNameTest, HistogramsCannotUseTheirSeriesSuffixes) {
  EXPECT_FALSE(ValidateMetricName("batch_size_count", MetricType::kHistogram).ok());
  EXPECT_FALSE(ValidateMetricName("batch_size_bucket", MetricType::kHistogram).ok());
  EXPECT_TRUE(ValidateMetricName("batch_size_count", MetricType::kGauge).ok());
}

TEST(MetricNameTest, LabelNamesFollowPrometheusRules) {
  EXPECT_TRUE(ValidateLabelName("model_version", MetricType::kCounter).ok());
  EXPECT_EQ(ValidateLabelName("__name", MetricType::kCounter).message(),
            "label name \"__name\" starts with \"__\", which Prometheus reserves for internal use");
  EXPECT_FALSE(ValidateLabelName("a:b", MetricType::kCounter).ok());  // colons only in metric names
  EXPECT_FALSE(ValidateLabelName("1a", MetricType::kCounter).ok());
  EXPECT_TRUE(ValidateLabelName("le", MetricType::kGauge).ok());
  EXPECT_FALSE(ValidateLabelName("le", MetricType::kHistogram).ok());
}

TEST(MetricsRegistryTest, RegistrationValidatesNamesAndLabels) {
  MetricsRegistry registry;
  auto bad_counter = registry.AddCounter({"requests", "Requests.", {}});
  ASSERT_FALSE(bad_counter.ok());
  EXPECT_TRUE(bad_counter.status().IsInvalidArgument());
  auto bad_label = registry.AddGauge({"in_flight", "In flight.", {"model", "bad-label"}});
  ASSERT_FALSE(bad_label.ok());
  EXPECT_EQ(bad_label.status().message(),
            "metric \"in_flight\": label name \"bad-label\" has '-' at position 3; expected [a-zA-Z_][a-zA-Z0-9_]*");
  auto repeated = registry.AddGauge({"in_flight", "In flight.", {"model", "model"}});
  EXPECT_EQ(repeated.status().message(), "metric \"in_flight\" lists label \"model\" twice");
  auto bad_bounds = registry.AddHistogram({"size_bytes", "Sizes.", {}}, {2, 1});
  EXPECT_EQ(bad_bounds.status().message(),
            "metric \"size_bytes\": histogram bucket bounds must strictly increase; bound 1 (1) follows 2");
  // Failed registrations leave no trace.
  EXPECT_TRUE(registry.Snapshot().empty());
}

TEST(MetricsRegistryTest, RefusesDuplicateAndCollidingNames) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.AddHistogram({"latency_seconds", "Latency.", {}}, DefaultLatencyBuckets()).ok());
  auto duplicate = registry.AddGauge({"latency_seconds", "Again.", {}});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().message(),
            "metric \"latency_seconds\" collides with the already registered series \"latency_seconds\"; each "
            "metric needs its own name");
  // A gauge named like one of the histogram's series would corrupt scrapes.
  EXPECT_FALSE(registry.AddGauge({"latency_seconds_count", "Clash.", {}}).ok());
  EXPECT_TRUE(registry.AddGauge({"latency_seconds_max", "No clash.", {}}).ok());
}

TEST(MetricsRegistryTest, WithLabelsChecksTheValueCountAndReusesChildren) {
  MetricsRegistry registry;
  auto family = registry.AddCounter({"requests_total", "Requests.", {"model", "code"}});
  ASSERT_TRUE(family.ok());
  auto wrong = (*family)->WithLabels({"digits"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), "metric \"requests_total\" has 2 label(s) (model, code); got 1 value(s)");
  auto a = (*family)->WithLabels({"digits", "200"});
  auto b = (*family)->WithLabels({"digits", "200"});
  auto c = (*family)->WithLabels({"digits", "500"});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(MetricsRegistryTest, SnapshotReturnsPlainValuesSortedByName) {
  MetricsRegistry registry;
  auto requests = std::move(registry.AddCounter({"requests_total", "Requests.", {"code"}})).value();
  auto in_flight = std::move(registry.AddGauge({"in_flight", "In flight.", {}})).value();
  auto latency = std::move(registry.AddHistogram({"latency_seconds", "Latency.", {}}, {0.1, 1})).value();
  std::move(requests->WithLabels({"200"})).value()->Increment(3);
  std::move(in_flight->WithLabels({})).value()->Set(2);
  std::move(latency->WithLabels({})).value()->Observe(0.5);

  std::vector<FamilySnapshot> snapshot = registry.Snapshot();
  ASSERT_EQ(snapshot.size(), 3u);
  EXPECT_EQ(snapshot[0].name, "in_flight");
  EXPECT_EQ(snapshot[0].type, MetricType::kGauge);
  ASSERT_EQ(snapshot[0].samples.size(), 1u);
  EXPECT_EQ(snapshot[0].samples[0].value, 2.0);
  EXPECT_EQ(snapshot[1].name, "latency_seconds");
  EXPECT_EQ(snapshot[1].samples[0].histogram.cumulative_counts, (std::vector<uint64_t>{0, 1, 1}));
  EXPECT_EQ(snapshot[2].name, "requests_total");
  EXPECT_EQ(snapshot[2].label_names, (std::vector<std::string>{"code"}));
  EXPECT_EQ(snapshot[2].samples[0].label_values, (std::vector<std::string>{"200"}));
  EXPECT_EQ(snapshot[2].samples[0].value, 3.0);
  // A snapshot is a copy: later updates do not change it.
  std::move(requests->WithLabels({"200"})).value()->Increment();
  EXPECT_EQ(snapshot[2].samples[0].value, 3.0);
}

TEST(MetricsRegistryTest, ConcurrentChildCreationYieldsOneChildPerLabelSet) {
  MetricsRegistry registry;
  auto family = std::move(registry.AddCounter({"hits_total", "Hits.", {"shard"}})).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([family] {
      for (int i = 0; i < 1000; ++i) std::move(family->WithLabels({std::to_string(i % 10)})).value()->Increment();
    });
  }
  for (auto& t : threads) t.join();
  FamilySnapshot snapshot = registry.Snapshot()[0];
  ASSERT_EQ(snapshot.samples.size(), 10u);
  for (const MetricSample& sample : snapshot.samples) EXPECT_EQ(sample.value, 400.0);
}

}  // namespace
}  // namespace mlship::monitor
