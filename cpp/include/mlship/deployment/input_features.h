// Turning a model input into the float feature rows the monitor profiles:
// tabular inputs give their last dimension, larger ones a summary per row.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "mlship/status.h"

namespace mlship {

// `rows` × `features` floats, row-major, viewing `holder` or `owned`.
struct FeatureRows {
  // Keeps the viewed memory alive when it comes from a tensor.
  at::Tensor holder;
  // Holds the values when they had to be computed (summaries).
  std::vector<float> owned;
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t features = 0;
};

// [N] -> N × 1; [N, F] -> N × F (features = the last dimension); [N, ...]
// of rank > 2 (images, sequences) -> N × 4: the mean, standard deviation,
// min and max of each row (see monitor/summary_features.h). Any real dtype
// is converted to float32. InvalidArgument for a 0-d tensor.
StatusOr<FeatureRows> FeatureRowsOf(const at::Tensor& input);

// The names FeatureRowsOf's columns get for an input of rank `rank` with
// `features` columns: "0", "1", ... for rank <= 2, "mean", "std", "min",
// "max" above.
std::vector<std::string> FeatureNamesFor(int64_t rank, int64_t features);

}  // namespace mlship
