// AnomalyDetector: NaN, Inf and far-out-of-range counts per feature.
#include "mlship/monitor/anomaly.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "mlship/monitor/prometheus.h"

namespace mlship::monitor {
namespace {

// Inputs are floats; printing them as floats keeps "0.1" from reading as
// "0.10000000149011612" in error messages.
std::string FormatFloat(double value) {
  if (!std::isfinite(value)) return FormatPrometheusNumber(value);
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(value));
  return ec == std::errc() ? std::string(buffer, end) : FormatPrometheusNumber(value);
}

}  // namespace

StatusOr<AnomalyDetector> AnomalyDetector::Create(const ReferenceProfile& profile,
                                                  const AnomalyDetectorOptions& options) {
  if (!(options.range_tolerance >= 0.0) || !std::isfinite(options.range_tolerance)) {
    return Status::InvalidArgument("range_tolerance must be a finite number >= 0; was " +
                                   FormatPrometheusNumber(options.range_tolerance));
  }
  const auto n = static_cast<size_t>(profile.num_features());
  std::vector<double> lower(n), upper(n), reference_min(n), reference_max(n);
  for (size_t j = 0; j < n; ++j) {
    const FeatureProfile& f = profile.features()[j];
    double range = f.max - f.min;
    if (range == 0.0) range = std::max(std::fabs(f.max), 1.0);  // constant feature: see the option's comment
    reference_min[j] = f.min;
    reference_max[j] = f.max;
    lower[j] = f.min - options.range_tolerance * range;
    upper[j] = f.max + options.range_tolerance * range;
  }
  return AnomalyDetector(std::move(lower), std::move(upper), std::move(reference_min), std::move(reference_max),
                         options);
}

AnomalyDetector::AnomalyDetector(std::vector<double> lower, std::vector<double> upper,
                                 std::vector<double> reference_min, std::vector<double> reference_max,
                                 AnomalyDetectorOptions options)
    : lower_(std::move(lower)),
      upper_(std::move(upper)),
      reference_min_(std::move(reference_min)),
      reference_max_(std::move(reference_max)),
      options_(options) {}

StatusOr<AnomalyReport> AnomalyDetector::Check(const float* rows, int64_t n, int64_t features) const {
  if (features != num_features()) {
    return Status::InvalidArgument("anomaly check expected " + std::to_string(num_features()) +
                                   " features per row (as in the reference profile); got " + std::to_string(features));
  }
  if (n < 0) return Status::InvalidArgument("row count must be >= 0; was " + std::to_string(n));
  if (n > 0 && rows == nullptr) return Status::InvalidArgument("rows are null");
  AnomalyReport report;
  report.features.resize(static_cast<size_t>(features));
  // The first anomaly in row-major order, for the rejection message.
  int64_t first_row = -1;
  int64_t first_feature = -1;
  for (int64_t i = 0; i < n; ++i) {
    bool row_anomalous = false;
    for (int64_t j = 0; j < features; ++j) {
      const double v = rows[i * features + j];
      FeatureAnomalies& counts = report.features[static_cast<size_t>(j)];
      bool anomalous = true;
      if (std::isnan(v)) {
        ++counts.nan_count;
      } else if (std::isinf(v)) {
        ++counts.inf_count;
      } else if (v < lower_[static_cast<size_t>(j)] || v > upper_[static_cast<size_t>(j)]) {
        ++counts.out_of_range_count;
      } else {
        anomalous = false;
      }
      if (anomalous && first_row < 0) {
        first_row = i;
        first_feature = j;
      }
      row_anomalous |= anomalous;
    }
    if (row_anomalous) ++report.anomalous_rows;
  }
  for (const FeatureAnomalies& counts : report.features) {
    report.nan_count += counts.nan_count;
    report.inf_count += counts.inf_count;
    report.out_of_range_count += counts.out_of_range_count;
  }
  if (options_.reject_anomalies && first_row >= 0) {
    const auto j = static_cast<size_t>(first_feature);
    const double v = rows[first_row * features + first_feature];
    std::string where = "input feature " + std::to_string(first_feature) + " at row " + std::to_string(first_row);
    if (!std::isfinite(v)) {
      return Status::InvalidArgument(where + " is " + FormatFloat(v) + "; expected a finite number");
    }
    return Status::InvalidArgument(where + " is " + FormatFloat(v) + ", outside the accepted range [" +
                                   FormatFloat(lower_[j]) + ", " + FormatFloat(upper_[j]) +
                                   "] (the reference data spanned [" + FormatFloat(reference_min_[j]) +
                                   ", " + FormatFloat(reference_max_[j]) +
                                   "]); check the input's scaling and units");
  }
  return report;
}

}  // namespace mlship::monitor
