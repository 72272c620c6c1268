// MetricType: the three kinds of metric mlship exports.
#pragma once

#include <string_view>

namespace mlship::monitor {

enum class MetricType {
  kCounter,    // only goes up, e.g. requests served
  kGauge,      // goes up and down, e.g. requests in flight
  kHistogram,  // observations counted into fixed buckets, e.g. latencies
};

// "counter", "gauge" or "histogram", as on a Prometheus "# TYPE" line.
std::string_view MetricTypeName(MetricType type);

}  // namespace mlship::monitor
