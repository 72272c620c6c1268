// The Prometheus text exposition format: exact output, escaping, numbers.
#include "mlship/monitor/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>

#include "mlship/monitor/metrics.h"

namespace mlship::monitor {
namespace {

TEST(PrometheusTextTest, RendersASmallRegistryExactly) {
  MetricsRegistry registry;
  auto requests =
      std::move(registry.AddCounter({"mlship_requests_total", "Requests received.", {"model", "code"}})).value();
  auto in_flight = std::move(registry.AddGauge({"mlship_in_flight_requests", "Requests being processed.", {}})).value();
  auto latency = std::move(registry.AddHistogram({"mlship_request_latency_seconds", "End-to-end request latency.",
                                                  {"model"}},
                                                 {0.1, 0.5, 1}))
                     .value();
  Counter* ok = std::move(requests->WithLabels({"digits", "200"})).value();
  Counter* bad = std::move(requests->WithLabels({"digits", "400"})).value();
  ok->Increment();
  ok->Increment();
  bad->Increment();
  std::move(in_flight->WithLabels({})).value()->Set(3);
  Histogram* digits_latency = std::move(latency->WithLabels({"digits"})).value();
  for (double v : {0.0625, 0.25, 2.0}) digits_latency->Observe(v);

  // Families sorted by name; children by label values; histogram buckets
  // cumulative and ending in +Inf; integers without a decimal point.
  EXPECT_EQ(registry.PrometheusText(),
            "# HELP mlship_in_flight_requests Requests being processed.\n"
            "# TYPE mlship_in_flight_requests gauge\n"
            "mlship_in_flight_requests 3\n"
            "# HELP mlship_request_latency_seconds End-to-end request latency.\n"
            "# TYPE mlship_request_latency_seconds histogram\n"
            "mlship_request_latency_seconds_bucket{model=\"digits\",le=\"0.1\"} 1\n"
            "mlship_request_latency_seconds_bucket{model=\"digits\",le=\"0.5\"} 2\n"
            "mlship_request_latency_seconds_bucket{model=\"digits\",le=\"1\"} 2\n"
            "mlship_request_latency_seconds_bucket{model=\"digits\",le=\"+Inf\"} 3\n"
            "mlship_request_latency_seconds_sum{model=\"digits\"} 2.3125\n"
            "mlship_request_latency_seconds_count{model=\"digits\"} 3\n"
            "# HELP mlship_requests_total Requests received.\n"
            "# TYPE mlship_requests_total counter\n"
            "mlship_requests_total{model=\"digits\",code=\"200\"} 2\n"
            "mlship_requests_total{model=\"digits\",code=\"400\"} 1\n");
}

TEST(PrometheusTextTest, UnlabelledHistogramHasOnlyTheLeLabel) {
  MetricsRegistry registry;
  auto batch = std::move(registry.AddHistogram({"mlship_batch_size", "", {}}, {1, 8})).value();
  std::move(batch->WithLabels({})).value()->Observe(4);
  // No HELP line when the help text is empty.
  EXPECT_EQ(registry.PrometheusText(),
            "# TYPE mlship_batch_size histogram\n"
            "mlship_batch_size_bucket{le=\"1\"} 0\n"
            "mlship_batch_size_bucket{le=\"8\"} 1\n"
            "mlship_batch_size_bucket{le=\"+Inf\"} 1\n"
            "mlship_batch_size_sum 4\n"
            "mlship_batch_size_count 1\n");
}

TEST(PrometheusTextTest, LabelledFamilyWithoutChildrenRendersOnlyItsHeader) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.AddCounter({"errors_total", "Errors.", {"code"}}).ok());
  EXPECT_EQ(registry.PrometheusText(), "# HELP errors_total Errors.\n# TYPE errors_total counter\n");
}

TEST(PrometheusTextTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeHelp("line one\nback\\slash \"quotes stay\""), "line one\\nback\\\\slash \"quotes stay\"");

  MetricsRegistry registry;
  auto family = std::move(registry.AddGauge({"temperature", "Help with\nnewline.", {"path"}})).value();
  std::move(family->WithLabels({"C:\\dir \"x\"\n"})).value()->Set(-1.5);
  EXPECT_EQ(registry.PrometheusText(),
            "# HELP temperature Help with\\nnewline.\n"
            "# TYPE temperature gauge\n"
            "temperature{path=\"C:\\\\dir \\\"x\\\"\\n\"} -1.5\n");
}

TEST(PrometheusTextTest, FormatsNumbersShortestRoundTrip) {
  EXPECT_EQ(FormatPrometheusNumber(1), "1");
  EXPECT_EQ(FormatPrometheusNumber(0.25), "0.25");
  EXPECT_EQ(FormatPrometheusNumber(0.1), "0.1");
  EXPECT_EQ(FormatPrometheusNumber(-2.5), "-2.5");
  EXPECT_EQ(FormatPrometheusNumber(1e-05), "1e-05");
  EXPECT_EQ(FormatPrometheusNumber(123456789012.0), "123456789012");
  EXPECT_EQ(FormatPrometheusNumber(INFINITY), "+Inf");
  EXPECT_EQ(FormatPrometheusNumber(-INFINITY), "-Inf");
  EXPECT_EQ(FormatPrometheusNumber(std::nan("")), "NaN");
}

TEST(PrometheusTextTest, ContentTypeNamesVersion004) {
  EXPECT_EQ(kPrometheusContentType, "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace
}  // namespace mlship::monitor
