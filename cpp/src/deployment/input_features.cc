// Feature rows for drift and anomaly checks.
#include "mlship/deployment/input_features.h"

#include <ATen/ATen.h>

#include "mlship/monitor/summary_features.h"

namespace mlship {

StatusOr<FeatureRows> FeatureRowsOf(const at::Tensor& input) {
  if (input.dim() == 0) return Status::InvalidArgument("a scalar input has no rows to profile");
  FeatureRows out;
  out.rows = input.size(0);
  at::Tensor values = input.to(at::kFloat).contiguous();
  if (input.dim() <= 2) {
    out.features = input.dim() == 1 ? 1 : input.size(1);
    out.holder = values;
    out.data = values.data_ptr<float>();
    return out;
  }
  const int64_t per_row = out.rows == 0 ? 0 : values.numel() / out.rows;
  if (per_row < 1) return Status::InvalidArgument("an input with empty rows has nothing to profile");
  ASSIGN_OR_RETURN(out.owned, monitor::SummarizeRows(values.data_ptr<float>(), out.rows, per_row));
  out.features = monitor::kNumSummaryFeatures;
  out.data = out.owned.data();
  return out;
}

std::vector<std::string> FeatureNamesFor(int64_t rank, int64_t features) {
  std::vector<std::string> names;
  if (rank > 2) {
    for (auto name : monitor::kSummaryFeatureNames) names.emplace_back(name);
    return names;
  }
  for (int64_t f = 0; f < features; ++f) names.push_back(std::to_string(f));
  return names;
}

}  // namespace mlship
