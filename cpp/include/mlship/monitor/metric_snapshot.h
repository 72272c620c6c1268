// Plain-data snapshots of registered metrics, for rendering and for Python.
//
// These structs hold copies, not references: a snapshot stays valid and
// unchanged however the live metrics move on.
#pragma once

#include <string>
#include <vector>

#include "mlship/monitor/histogram_snapshot.h"
#include "mlship/monitor/metric_type.h"

namespace mlship::monitor {

// One child of a family: its label values and its value.
struct MetricSample {
  // Values for the family's label_names, in the same order.
  std::vector<std::string> label_values;
  // The counter or gauge value; 0 for histograms.
  double value = 0.0;
  // The buckets, sum and count; empty for counters and gauges.
  HistogramSnapshot histogram;
};

// One metric family: its description and every child created so far.
struct FamilySnapshot {
  // The metric name, e.g. "mlship_requests_total".
  std::string name;
  // The one-line description given at registration.
  std::string help;
  // Counter, gauge or histogram.
  MetricType type = MetricType::kCounter;
  // The label names, e.g. {"model", "version"}.
  std::vector<std::string> label_names;
  // One entry per child, sorted by label values.
  std::vector<MetricSample> samples;
};

}  // namespace mlship::monitor
