// The statistics behind drift detection: PSI and the two-sample KS test.
//
// Default thresholds (used by DriftMonitorOptions):
//   PSI:  < 0.1 no meaningful shift, 0.1–0.2 moderate, >= 0.2 significant
//         drift (the credit-scoring convention the metric comes from).
//   KS:   drift when the p-value < 0.01 AND the D statistic >= 0.1. The
//         p-value alone is not enough: with thousands of rows it flags
//         shifts too small to matter (D ≈ 0.04 is already "significant" for
//         5000 vs 2000 rows), so D >= 0.1 (CDFs apart by 10 points somewhere)
//         is required as an effect size. On small windows the p-value is the
//         binding condition and keeps noise from being called drift.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

// Floor applied to each proportion before taking logs, so empty bins give a
// large but finite PSI term. 1e-4 caps one empty bin's contribution at about
// p·ln(p/1e-4) (≈ 0.69 for p = 0.1).
inline constexpr double kDefaultPsiEpsilon = 1e-4;
// PSI at or above which a feature counts as drifted.
inline constexpr double kDefaultPsiThreshold = 0.2;
// KS p-value below which the difference is statistically significant.
inline constexpr double kDefaultKsPValueThreshold = 0.01;
// KS D at or above which the difference is large enough to matter.
inline constexpr double kDefaultKsMinStatistic = 0.1;

// Population Stability Index: sum over bins of (a - e) · ln(a / e), with each
// proportion floored at `epsilon`. Symmetric in its inputs; 0 when they are
// equal. InvalidArgument when sizes differ, are zero, or a proportion is
// negative or not finite, or epsilon is not in (0, 1).
StatusOr<double> Psi(std::span<const double> expected_proportions, std::span<const double> actual_proportions,
                     double epsilon = kDefaultPsiEpsilon);

// Two-sample Kolmogorov–Smirnov statistic D = sup_x |F_a(x) - F_b(x)| of two
// ascending samples (ties handled: both CDFs step past equal values together).
// Equals scipy.stats.ks_2samp(a, b).statistic. 0 when either is empty.
double KsStatistic(std::span<const double> sorted_a, std::span<const double> sorted_b);

// The Kolmogorov distribution's survival function
// Q(λ) = 2 Σ_{k>=1} (-1)^{k-1} exp(-2 k² λ²), equal to
// scipy.stats.kstwobign.sf(λ). Uses the dual (theta-function) series for
// small λ, where the alternating one converges slowly.
double KolmogorovSurvival(double lambda);

// Asymptotic two-sided p-value of D for samples of sizes n_a and n_b, with
// Stephens' small-sample correction (as in Numerical Recipes' probks):
//   n_e = n_a·n_b / (n_a + n_b),  p = Q((sqrt(n_e) + 0.12 + 0.11/sqrt(n_e)) · D).
// The correction brings it within a few percent of the finite-sample answer
// from n_e ≈ 20 up; scipy.stats.ks_2samp(method="asymp") uses the finite-n
// distribution kstwo(round(n_e)) instead; the two agree within 7% at
// n_e ≈ 8 and 1.5% at n_e = 120 (see drift_statistics_test.cc), which is
// immaterial next to a 0.01 threshold. 1 when either size is 0.
double KsPValue(double statistic, int64_t n_a, int64_t n_b);

// D and its p-value together.
struct KsResult {
  // The KS D statistic, in [0, 1].
  double statistic = 0.0;
  // Its asymptotic two-sided p-value, in [0, 1].
  double pvalue = 1.0;
};

// KsStatistic and KsPValue of two ascending samples.
KsResult KsTest(std::span<const double> sorted_a, std::span<const double> sorted_b);

}  // namespace mlship::monitor
