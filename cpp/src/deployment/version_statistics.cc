// Triton's config and statistics for one version, from its options and the
// families of its monitor's registry.
#include "version_statistics.h"

#include <cmath>
#include <string_view>

namespace mlship::internal {

namespace {

uint64_t Count(double value) { return value <= 0 ? 0 : static_cast<uint64_t>(std::llround(value)); }
uint64_t Nanoseconds(double seconds) { return seconds <= 0 ? 0 : static_cast<uint64_t>(std::llround(seconds * 1e9)); }

// The sum of every child's counter value in family `name`.
double CounterTotal(const std::vector<monitor::FamilySnapshot>& families, std::string_view name) {
  double total = 0;
  for (const auto& family : families) {
    if (family.name != name) continue;
    for (const auto& sample : family.samples) total += sample.value;
  }
  return total;
}

// Family `name`'s histogram (its first child's) as a count and total ns.
serving::DurationStatistic HistogramTotal(const std::vector<monitor::FamilySnapshot>& families,
                                          std::string_view name) {
  serving::DurationStatistic out;
  for (const auto& family : families) {
    if (family.name != name) continue;
    for (const auto& sample : family.samples) {
      out.count += sample.histogram.count;
      out.ns += Nanoseconds(sample.histogram.sum);
    }
  }
  return out;
}

}  // namespace

serving::ModelConfigInfo ConfigOf(const ModelVersion& version, int instances) {
  const BatcherOptions& batcher = version.options().batcher;
  serving::ModelConfigInfo out;
  out.max_batch_size = batcher.max_batch_size;
  out.max_queue_delay_us = batcher.max_queue_delay.count();
  out.preferred_batch_sizes = batcher.preferred_batch_sizes;
  out.instance_count = instances;
  return out;
}

serving::ModelStatistics StatisticsOf(const ModelVersion& version) {
  serving::ModelStatistics out;
  out.name = version.id().model;
  out.version = version.id().version;
  const monitor::ModelMonitor* monitor = version.monitor();
  if (monitor == nullptr) return out;
  const std::vector<monitor::FamilySnapshot> families = monitor->registry().Snapshot();
  out.inference_count = Count(CounterTotal(families, "mlship_inferences_total"));
  out.execution_count = Count(CounterTotal(families, "mlship_executions_total"));
  out.success = HistogramTotal(families, "mlship_request_duration_seconds");
  out.success.count = Count(CounterTotal(families, "mlship_requests_succeeded_total"));
  out.fail.count = Count(CounterTotal(families, "mlship_requests_failed_total"));
  out.queue = HistogramTotal(families, "mlship_queue_duration_seconds");
  out.compute_infer = HistogramTotal(families, "mlship_compute_duration_seconds");
  return out;
}

}  // namespace mlship::internal
