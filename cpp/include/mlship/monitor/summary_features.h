// Summary features: turning inputs of rank > 2 (images, sequences) into a
// few numbers per row that drift and anomaly checks can work on.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

// Summary features per row, in output column order.
inline constexpr int64_t kNumSummaryFeatures = 4;
inline constexpr std::array<std::string_view, kNumSummaryFeatures> kSummaryFeatureNames = {"mean", "std", "min",
                                                                                          "max"};

// Summarises each row of a [rows, values_per_row] float buffer (a [N, ...]
// tensor flattened after dim 0) into [rows, 4]: mean, population standard
// deviation, min and max, row-major. Only finite values count; a row without
// any finite value summarises to four NaNs (which AnomalyDetector then
// counts). InvalidArgument when rows < 0, values_per_row < 1, or data is null
// with rows > 0.
StatusOr<std::vector<float>> SummarizeRows(const float* data, int64_t rows, int64_t values_per_row);

}  // namespace mlship::monitor
