// HistogramSnapshot: a histogram's values at one moment, as plain data.
#pragma once

#include <cstdint>
#include <vector>

namespace mlship::monitor {

struct HistogramSnapshot {
  // The upper bounds of the finite buckets, strictly increasing.
  std::vector<double> bucket_bounds;
  // cumulative_counts[i] = observations <= bucket_bounds[i]; one more entry
  // at the end for +Inf, which equals `count`.
  std::vector<uint64_t> cumulative_counts;
  // The sum of all observed values.
  double sum = 0.0;
  // The number of observations.
  uint64_t count = 0;
};

}  // namespace mlship::monitor
