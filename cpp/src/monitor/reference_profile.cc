// ReferenceProfile: quantile bins, moments and a KS sample per feature.
#include "mlship/monitor/reference_profile.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace mlship::monitor {

int64_t FeatureProfile::BinOf(double value) const {
  // Counts the edges <= value, which is the index of the bin [edge, next).
  return static_cast<int64_t>(std::upper_bound(bin_edges.begin(), bin_edges.end(), value) - bin_edges.begin());
}

std::vector<double> FeatureProfile::BinProportions(std::span<const double> values) const {
  std::vector<double> proportions(bin_edges.size() + 1, 0.0);
  int64_t finite = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    proportions[static_cast<size_t>(BinOf(v))] += 1.0;
    ++finite;
  }
  if (finite > 0) {
    for (double& p : proportions) p /= static_cast<double>(finite);
  }
  return proportions;
}

FeatureProfile BuildFeatureProfile(std::vector<double>& values, const ReferenceProfileOptions& options) {
  FeatureProfile profile;
  std::sort(values.begin(), values.end());
  const int64_t n = static_cast<int64_t>(values.size());
  profile.count = n;
  profile.min = values.front();
  profile.max = values.back();

  Eigen::Map<const Eigen::ArrayXd> x(values.data(), n);
  profile.mean = x.mean();
  profile.variance = (x - profile.mean).square().mean();

  // Cut points at the reference's k/B quantiles (the value of rank
  // floor(k·n/B)), so bin 0 holds the lowest n/B values when there are no
  // ties. Ties collapse duplicate edges, which merges bins.
  const int64_t bins = options.num_bins;
  for (int64_t k = 1; k < bins; ++k) {
    double edge = values[static_cast<size_t>(k * n / bins)];
    if (profile.bin_edges.empty() || edge > profile.bin_edges.back()) profile.bin_edges.push_back(edge);
  }
  // When the top bin starts at the maximum it holds only the maximum (a point
  // mass, e.g. a constant or a saturated feature); give values above the
  // reference's range a bin of their own so PSI can see them.
  // (num_bins >= 2, so there is at least one edge, and none exceeds max.)
  if (profile.bin_edges.back() >= profile.max) {
    profile.bin_edges.push_back(std::nextafter(profile.max, std::numeric_limits<double>::infinity()));
  }
  profile.bin_proportions = profile.BinProportions(values);

  // Evenly spaced order statistics (the midpoints of m equal slices of the
  // sorted values): deterministic and faithful to the distribution's shape.
  const int64_t m = std::min<int64_t>(n, options.max_sample_size);
  profile.sorted_sample.reserve(static_cast<size_t>(m));
  if (m == n) {
    profile.sorted_sample = values;
  } else {
    for (int64_t i = 0; i < m; ++i) {
      profile.sorted_sample.push_back(values[static_cast<size_t>((2 * i + 1) * n / (2 * m))]);
    }
  }
  return profile;
}

StatusOr<ReferenceProfile> ReferenceProfile::Build(const float* data, int64_t rows, int64_t features,
                                                   const ReferenceProfileOptions& options) {
  if (options.num_bins < 2 || options.num_bins > 1000) {
    return Status::InvalidArgument("num_bins must be in 2..1000; was " + std::to_string(options.num_bins));
  }
  if (options.max_sample_size < 10 || options.max_sample_size > 1'000'000) {
    return Status::InvalidArgument("max_sample_size must be in 10..1000000; was " +
                                   std::to_string(options.max_sample_size));
  }
  if (rows < 1) return Status::InvalidArgument("reference data needs at least one row; got " + std::to_string(rows));
  if (features < 1) {
    return Status::InvalidArgument("reference data needs at least one feature; got " + std::to_string(features));
  }
  if (rows > std::numeric_limits<int64_t>::max() / features) {
    return Status::InvalidArgument("reference data of " + std::to_string(rows) + " x " + std::to_string(features) +
                                   " values is too large");
  }
  if (data == nullptr) return Status::InvalidArgument("reference data is null");

  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajor> matrix(data, rows, features);
  std::vector<FeatureProfile> profiles;
  profiles.reserve(static_cast<size_t>(features));
  std::vector<double> values;
  values.reserve(static_cast<size_t>(rows));
  for (int64_t j = 0; j < features; ++j) {
    values.clear();
    for (int64_t i = 0; i < rows; ++i) {
      float v = matrix(i, j);
      if (std::isfinite(v)) values.push_back(v);
    }
    if (values.empty()) {
      return Status::InvalidArgument("reference feature " + std::to_string(j) + " has no finite value in " +
                                     std::to_string(rows) + " rows; expected at least one");
    }
    FeatureProfile profile = BuildFeatureProfile(values, options);
    profile.non_finite_count = rows - profile.count;
    profiles.push_back(std::move(profile));
  }
  return ReferenceProfile(std::move(profiles), rows);
}

}  // namespace mlship::monitor
