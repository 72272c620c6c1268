// ClassProfile: how often a classifier predicted each class, for output drift.
#pragma once

#include <cstdint>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

// Counts and shares of predicted classes 0..num_classes-1.
struct ClassProfile {
  // counts[c] = predictions of class c.
  std::vector<int64_t> counts;
  // proportions[c] = counts[c] / total; all zeros when total is 0.
  std::vector<double> proportions;
  // The number of predictions counted.
  int64_t total = 0;

  // Counts `n` predicted class indices. InvalidArgument when num_classes < 1
  // or an index is outside [0, num_classes), naming the first such index.
  static StatusOr<ClassProfile> FromPredictions(const int64_t* classes, int64_t n, int64_t num_classes);

  // A profile from per-class counts (counts[c] = predictions of class c).
  // InvalidArgument when `counts` is empty or holds a negative count.
  static StatusOr<ClassProfile> FromCounts(std::vector<int64_t> counts);
};

// PSI (see drift_statistics.h) of the live class shares against the
// reference's. InvalidArgument when the class counts differ or either
// profile is empty.
StatusOr<double> ClassDistributionPsi(const ClassProfile& reference, const ClassProfile& live,
                                      double epsilon = 1e-4);

}  // namespace mlship::monitor
