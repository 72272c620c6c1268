// Histogram: observations counted into fixed buckets, e.g. latencies.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "mlship/monitor/histogram_snapshot.h"
#include "mlship/status.h"

namespace mlship::monitor {

// Counts observations into buckets with upper bounds fixed at creation, and
// keeps their sum, like a Prometheus histogram.
//
// Thread-safe. Observe() is lock-free: a binary search over the bounds, one
// relaxed atomic increment of the bucket, one atomic add to the sum. A
// Snapshot() taken while others observe may see an observation in a bucket
// but not yet in the sum; counts are always mutually consistent because the
// total is derived from the buckets.
class Histogram {
 public:
  // Validates `bucket_bounds` (finite, strictly increasing; see buckets.h).
  static StatusOr<std::unique_ptr<Histogram>> Create(std::vector<double> bucket_bounds);

  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose bound is >= value. Values above
  // every bound, and NaN, land in the implicit +Inf bucket (NaN also makes the
  // sum NaN, which is how Prometheus clients behave).
  void Observe(double value);

  // The counts, sum and total at this moment.
  HistogramSnapshot Snapshot() const;

  // The finite upper bounds given at creation.
  const std::vector<double>& bucket_bounds() const { return bounds_; }

 private:
  explicit Histogram(std::vector<double> bucket_bounds);

  // Finite upper bounds, strictly increasing; immutable after construction.
  const std::vector<double> bounds_;
  // Per-bucket (not cumulative) counts; bounds_.size() + 1 entries, the last
  // for +Inf. Fixed size, so no lock is needed to reach an entry.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  // The sum of observed values.
  std::atomic<double> sum_{0.0};
};

}  // namespace mlship::monitor
