// PSI and the two-sample Kolmogorov–Smirnov test.
#include "mlship/monitor/drift_statistics.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace mlship::monitor {

StatusOr<double> Psi(std::span<const double> expected_proportions, std::span<const double> actual_proportions,
                     double epsilon) {
  if (expected_proportions.size() != actual_proportions.size()) {
    return Status::InvalidArgument("PSI needs proportions over the same bins; got " +
                                   std::to_string(expected_proportions.size()) + " expected and " +
                                   std::to_string(actual_proportions.size()) + " actual");
  }
  if (expected_proportions.empty()) return Status::InvalidArgument("PSI needs at least one bin; got none");
  if (!(epsilon > 0.0 && epsilon < 1.0)) {
    return Status::InvalidArgument("PSI epsilon must be in (0, 1); was " + std::to_string(epsilon));
  }
  const auto n = static_cast<Eigen::Index>(expected_proportions.size());
  Eigen::Map<const Eigen::ArrayXd> expected(expected_proportions.data(), n);
  Eigen::Map<const Eigen::ArrayXd> actual(actual_proportions.data(), n);
  if (!expected.allFinite() || !actual.allFinite() || (expected < 0).any() || (actual < 0).any()) {
    return Status::InvalidArgument("PSI proportions must be finite and non-negative");
  }
  Eigen::ArrayXd e = expected.max(epsilon);
  Eigen::ArrayXd a = actual.max(epsilon);
  return ((a - e) * (a / e).log()).sum();
}

double KsStatistic(std::span<const double> sorted_a, std::span<const double> sorted_b) {
  const size_t na = sorted_a.size();
  const size_t nb = sorted_b.size();
  if (na == 0 || nb == 0) return 0.0;
  size_t i = 0;
  size_t j = 0;
  double d = 0.0;
  // Walk the merged order; at each distinct value step both empirical CDFs
  // past every copy of it, then compare them.
  while (i < na && j < nb) {
    double x = std::min(sorted_a[i], sorted_b[j]);
    while (i < na && sorted_a[i] <= x) ++i;
    while (j < nb && sorted_b[j] <= x) ++j;
    double diff = std::fabs(static_cast<double>(i) / static_cast<double>(na) -
                            static_cast<double>(j) / static_cast<double>(nb));
    d = std::max(d, diff);
  }
  // Once one sample is exhausted its CDF is 1 and the other only climbs
  // towards 1, so the gap only shrinks: nothing more to look at.
  return d;
}

double KolmogorovSurvival(double lambda) {
  if (!(lambda > 0.0)) return 1.0;
  if (lambda < 1.18) {
    // P(K <= λ) = sqrt(2π)/λ · Σ exp(-(2k-1)² π² / (8λ²)); converges fast for
    // small λ, where the alternating series below would need many terms.
    const double q = std::exp(-std::numbers::pi * std::numbers::pi / (8.0 * lambda * lambda));
    double cdf = 0.0;
    for (int k = 1; k <= 50; ++k) {
      double term = std::pow(q, static_cast<double>((2 * k - 1) * (2 * k - 1)));
      cdf += term;
      if (term < 1e-17 * cdf) break;
    }
    cdf *= std::sqrt(2.0 * std::numbers::pi) / lambda;
    return std::clamp(1.0 - cdf, 0.0, 1.0);
  }
  // Q(λ) = 2 Σ (-1)^{k-1} exp(-2k²λ²); at λ >= 1.18 the terms fall by a factor
  // of 16 or more each step.
  double sum = 0.0;
  double sign = 1.0;
  for (int k = 1; k <= 100; ++k) {
    double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += sign * term;
    if (term <= 1e-17 * sum) break;
    sign = -sign;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

double KsPValue(double statistic, int64_t n_a, int64_t n_b) {
  if (n_a <= 0 || n_b <= 0) return 1.0;
  const double effective = static_cast<double>(n_a) * static_cast<double>(n_b) / static_cast<double>(n_a + n_b);
  const double root = std::sqrt(effective);
  return KolmogorovSurvival((root + 0.12 + 0.11 / root) * statistic);
}

KsResult KsTest(std::span<const double> sorted_a, std::span<const double> sorted_b) {
  KsResult result;
  result.statistic = KsStatistic(sorted_a, sorted_b);
  result.pvalue = KsPValue(result.statistic, static_cast<int64_t>(sorted_a.size()),
                           static_cast<int64_t>(sorted_b.size()));
  return result;
}

}  // namespace mlship::monitor
