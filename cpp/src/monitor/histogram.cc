// Histogram: lock-free bucket counts and sum.
#include "mlship/monitor/histogram.h"

#include <algorithm>
#include <cmath>

#include "mlship/monitor/buckets.h"

namespace mlship::monitor {

StatusOr<std::unique_ptr<Histogram>> Histogram::Create(std::vector<double> bucket_bounds) {
  RETURN_IF_ERROR(ValidateBucketBounds(bucket_bounds));
  return std::unique_ptr<Histogram>(new Histogram(std::move(bucket_bounds)));
}

Histogram::Histogram(std::vector<double> bucket_bounds)
    : bounds_(std::move(bucket_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // lower_bound finds the first bound >= value, i.e. the "le" bucket. Every
  // comparison with NaN is false, so NaN is sent to +Inf explicitly.
  size_t bucket = std::isnan(value)
                      ? bounds_.size()
                      : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.bucket_bounds = bounds_;
  snapshot.cumulative_counts.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

}  // namespace mlship::monitor
