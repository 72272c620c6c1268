// ReferenceProfile: what each input feature looked like in the training (or
// other reference) data, summarised for drift and anomaly checks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

struct ReferenceProfileOptions {
  // Quantile bins per feature for PSI. Range 2..1000. Default 10 (deciles),
  // the usual choice for PSI: fewer bins miss shape changes, more bins make
  // PSI noisy on windows of a few thousand rows. Tied values merge bins, so a
  // feature may end up with fewer (a constant feature gets three: below, at
  // and above the constant).
  int64_t num_bins = 10;

  // Reference values kept per feature, sorted, for the KS test. When the
  // reference has more finite values, evenly spaced order statistics are
  // kept (deterministic, no randomness). Range 10..1'000'000. Default 2000:
  // enough that the sample's own error (about 1/sqrt(2000) ≈ 0.02 in the
  // CDF) is far below the KS effect size judged as drift; each check costs
  // O(window + sample) per feature.
  int64_t max_sample_size = 2000;
};

// One feature's reference distribution.
struct FeatureProfile {
  // Strictly increasing cut points. Bin 0 is (-inf, edges[0]), bin i is
  // [edges[i-1], edges[i]), the last bin is [edges.back(), +inf).
  std::vector<double> bin_edges;
  // The reference's share of finite values in each bin; bin_edges.size() + 1
  // entries summing to 1.
  std::vector<double> bin_proportions;
  // Mean of the finite reference values.
  double mean = 0.0;
  // Population variance (divides by n, as numpy.var does).
  double variance = 0.0;
  // Smallest and largest finite reference values.
  double min = 0.0;
  double max = 0.0;
  // Finite reference values seen.
  int64_t count = 0;
  // NaN and ±Inf reference values, skipped for every statistic above.
  int64_t non_finite_count = 0;
  // Up to max_sample_size reference values, ascending, for the KS test.
  std::vector<double> sorted_sample;

  // The bin `value` falls into (0..bin_edges.size()). NaN goes to the last bin;
  // callers skip non-finite values before binning.
  int64_t BinOf(double value) const;

  // The share of `values` in each bin, skipping non-finite values. All zeros
  // when no value is finite.
  std::vector<double> BinProportions(std::span<const double> values) const;
};

// Per-feature reference distributions of a 2-D float input [rows, features].
//
// Immutable once built, so safe to share between threads.
class ReferenceProfile {
 public:
  // Profiles `data`, a row-major [rows, features] buffer. Non-finite values
  // are skipped (and counted); a feature with no finite value at all is an
  // error, as is rows < 1 or features < 1.
  static StatusOr<ReferenceProfile> Build(const float* data, int64_t rows, int64_t features,
                                          const ReferenceProfileOptions& options = {});

  // The number of features (columns).
  int64_t num_features() const { return static_cast<int64_t>(features_.size()); }
  // The number of reference rows profiled.
  int64_t rows() const { return rows_; }
  // One feature's profile; `index` must be in [0, num_features()).
  const FeatureProfile& feature(int64_t index) const { return features_[static_cast<size_t>(index)]; }
  // All features' profiles, in column order.
  const std::vector<FeatureProfile>& features() const { return features_; }

 private:
  ReferenceProfile(std::vector<FeatureProfile> features, int64_t rows)
      : features_(std::move(features)), rows_(rows) {}

  // One profile per column.
  std::vector<FeatureProfile> features_;
  // Rows in the reference data.
  int64_t rows_ = 0;
};

// Profiles one feature from its values, which this sorts in place. For
// callers that already hold a column (and for tests); `values` must be
// non-empty and all finite, and options valid (Build checks both).
FeatureProfile BuildFeatureProfile(std::vector<double>& values, const ReferenceProfileOptions& options);

}  // namespace mlship::monitor
