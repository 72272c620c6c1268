// MetricsRegistry: the set of metric families one process exports.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "mlship/monitor/metric_family.h"
#include "mlship/monitor/metric_snapshot.h"
#include "mlship/status.h"

namespace mlship::monitor {

// Owns metric families and renders them.
//
// Thread-safe: families may be added, updated and rendered concurrently.
// Registration validates names (see metric_name.h) and refuses a name that is
// already taken, including the _bucket/_sum/_count series of a histogram.
// Family pointers stay valid for the registry's lifetime.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a counter family; its name must end in "_total".
  StatusOr<MetricFamily<Counter>*> AddCounter(MetricDescriptor descriptor);
  // Registers a gauge family.
  StatusOr<MetricFamily<Gauge>*> AddGauge(MetricDescriptor descriptor);
  // Registers a histogram family whose children all use `bucket_bounds`
  // (finite, strictly increasing; +Inf is implicit). See buckets.h for the
  // usual layouts, e.g. DefaultLatencyBuckets().
  StatusOr<MetricFamily<Histogram>*> AddHistogram(MetricDescriptor descriptor, std::vector<double> bucket_bounds);

  // Every family's current values, sorted by name.
  std::vector<FamilySnapshot> Snapshot() const;

  // Snapshot() in the Prometheus text exposition format 0.0.4 (see
  // prometheus.h), ready to serve at /metrics.
  std::string PrometheusText() const;

 private:
  // Validates the descriptor and reserves its series names; the caller then
  // inserts the family under the same lock.
  Status ReserveNamesLocked(const MetricDescriptor& descriptor, MetricType type);

  // Guards families_ and series_names_.
  mutable std::mutex families_mu_;
  // Families keyed by name, so rendering is sorted. GUARDED_BY(families_mu_)
  std::map<std::string, std::unique_ptr<internal::FamilyBase>> families_;
  // Every series name a family exposes (for histograms: name_bucket,
  // name_sum, name_count and the name itself), to refuse collisions.
  // GUARDED_BY(families_mu_)
  std::set<std::string> series_names_;
};

}  // namespace mlship::monitor
