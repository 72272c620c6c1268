// Per-row mean, standard deviation, min and max of high-rank inputs.
#include "mlship/monitor/summary_features.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace mlship::monitor {

StatusOr<std::vector<float>> SummarizeRows(const float* data, int64_t rows, int64_t values_per_row) {
  if (rows < 0) return Status::InvalidArgument("row count must be >= 0; was " + std::to_string(rows));
  if (values_per_row < 1) {
    return Status::InvalidArgument("values_per_row must be >= 1; was " + std::to_string(values_per_row));
  }
  if (rows > 0 && data == nullptr) return Status::InvalidArgument("data is null");
  std::vector<float> out(static_cast<size_t>(rows * kNumSummaryFeatures));
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajor> matrix(data, rows, values_per_row);
  for (int64_t i = 0; i < rows; ++i) {
    float* summary = out.data() + i * kNumSummaryFeatures;
    // Accumulate in double: rows can hold millions of values.
    Eigen::ArrayXd row = matrix.row(i).cast<double>().transpose().array();
    if (!row.allFinite()) {
      // Keep only the finite values, then summarise those.
      Eigen::Index kept = 0;
      for (Eigen::Index k = 0; k < row.size(); ++k) {
        if (std::isfinite(row[k])) row[kept++] = row[k];
      }
      row.conservativeResize(kept);
    }
    if (row.size() == 0) {
      std::fill(summary, summary + kNumSummaryFeatures, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    const double mean = row.mean();
    summary[0] = static_cast<float>(mean);
    summary[1] = static_cast<float>(std::sqrt((row - mean).square().mean()));
    summary[2] = static_cast<float>(row.minCoeff());
    summary[3] = static_cast<float>(row.maxCoeff());
  }
  return out;
}

}  // namespace mlship::monitor
