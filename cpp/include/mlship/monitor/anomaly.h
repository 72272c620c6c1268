// AnomalyDetector: counts input values that are NaN, infinite, or far outside
// what the reference data ever showed, and optionally refuses them.
#pragma once

#include <cstdint>
#include <vector>

#include "mlship/monitor/reference_profile.h"
#include "mlship/status.h"

namespace mlship::monitor {

struct AnomalyDetectorOptions {
  // A finite value is out of range when it lies outside
  //   [min - k·range, max + k·range],  range = max - min of the reference
  // (for a constant reference feature, range = max(|value|, 1) so that a
  // feature that was always 0 still tolerates small values). This is k.
  // Default 1.0: values within one reference range beyond the extremes pass;
  // only gross outliers (wrong units, unscaled inputs, sentinel values like
  // -999) are counted. Must be >= 0 and finite.
  double range_tolerance = 1.0;

  // When true, Check() returns InvalidArgument naming the first anomalous
  // feature, row and value, so the caller can refuse the request (HTTP 400).
  // Default false: anomalies are counted, never refused.
  bool reject_anomalies = false;
};

// Anomalies in one feature (column).
struct FeatureAnomalies {
  // NaN values.
  int64_t nan_count = 0;
  // +Inf and -Inf values.
  int64_t inf_count = 0;
  // Finite values outside the accepted range.
  int64_t out_of_range_count = 0;
};

// The outcome of one Check().
struct AnomalyReport {
  // One entry per feature, in column order.
  std::vector<FeatureAnomalies> features;
  // Totals over all features.
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  int64_t out_of_range_count = 0;
  // Rows with at least one anomalous value.
  int64_t anomalous_rows = 0;

  // Whether anything at all was found.
  bool any() const { return nan_count + inf_count + out_of_range_count > 0; }
};

// Checks rows against per-feature accepted ranges derived from a
// ReferenceProfile.
//
// Immutable after Create, so Check() is safe to call concurrently. Check()
// is one pass over the rows with no allocation beyond the report.
class AnomalyDetector {
 public:
  // Derives accepted ranges from `profile`; InvalidArgument when
  // range_tolerance is negative or not finite.
  static StatusOr<AnomalyDetector> Create(const ReferenceProfile& profile, const AnomalyDetectorOptions& options = {});

  // Counts anomalies in `n` rows of `features` floats (row-major).
  // InvalidArgument when `features` differs from the profile's, or when
  // reject_anomalies is set and anything was found (the message names the
  // first anomaly in row-major order).
  StatusOr<AnomalyReport> Check(const float* rows, int64_t n, int64_t features) const;

  // The accepted range of a feature.
  double lower_bound(int64_t feature) const { return lower_[static_cast<size_t>(feature)]; }
  double upper_bound(int64_t feature) const { return upper_[static_cast<size_t>(feature)]; }
  // Features per row.
  int64_t num_features() const { return static_cast<int64_t>(lower_.size()); }

 private:
  AnomalyDetector(std::vector<double> lower, std::vector<double> upper, std::vector<double> reference_min,
                  std::vector<double> reference_max, AnomalyDetectorOptions options);

  // Accepted range per feature.
  std::vector<double> lower_;
  std::vector<double> upper_;
  // The reference's own min and max per feature, for error messages.
  std::vector<double> reference_min_;
  std::vector<double> reference_max_;
  // Validated options.
  AnomalyDetectorOptions options_;
};

}  // namespace mlship::monitor
