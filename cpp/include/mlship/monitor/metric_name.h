// Validation of metric and label names against Prometheus conventions.
#pragma once

#include <string_view>

#include "mlship/monitor/metric_type.h"
#include "mlship/status.h"

namespace mlship::monitor {

// OK when `name` is a valid Prometheus metric name that also follows the
// naming conventions mlship holds itself to:
//   - characters match [a-zA-Z_:][a-zA-Z0-9_:]*;
//   - counters end in "_total"; gauges and histograms do not;
//   - durations are in seconds: no "_ms", "_milliseconds", "_us", "_ns",
//     "_minutes", "_hours" ... unit tokens, and a name that ends in
//     "_latency", "_duration" or "_time" (before any "_total") must say
//     "_seconds" instead, e.g. "request_latency_seconds";
//   - histograms do not end in "_bucket", "_sum" or "_count", the suffixes of
//     the series they expose.
// Otherwise InvalidArgument that names the rule and suggests a fix.
Status ValidateMetricName(std::string_view name, MetricType type);

// OK when `name` is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting
// with "__" (reserved by Prometheus), and not "le" on a histogram.
Status ValidateLabelName(std::string_view name, MetricType type);

}  // namespace mlship::monitor
