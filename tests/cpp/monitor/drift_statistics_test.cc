// PSI and the KS test against hand computations and scipy.
#include "mlship/monitor/drift_statistics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mlship::monitor {
namespace {

TEST(PsiTest, MatchesAHandComputation) {
  // PSI = Σ (a - e)·ln(a/e) with e = 0.25 everywhere:
  //   (0.1-0.25)·ln(0.4) = -0.15 × -0.9162907 = 0.1374436
  //   (0.2-0.25)·ln(0.8) = -0.05 × -0.2231436 = 0.0111572
  //   (0.3-0.25)·ln(1.2) =  0.05 ×  0.1823216 = 0.0091161
  //   (0.4-0.25)·ln(1.6) =  0.15 ×  0.4700036 = 0.0705005
  //   total                                    = 0.2282174
  std::vector<double> expected = {0.25, 0.25, 0.25, 0.25};
  std::vector<double> actual = {0.1, 0.2, 0.3, 0.4};
  auto psi = Psi(expected, actual);
  ASSERT_TRUE(psi.ok());
  EXPECT_NEAR(*psi, 0.22821740957339182, 1e-12);
  EXPECT_GE(*psi, kDefaultPsiThreshold);  // this shift counts as drift
  // PSI is symmetric.
  EXPECT_NEAR(*Psi(actual, expected), *psi, 1e-15);
}

TEST(PsiTest, IsZeroForIdenticalProportions) {
  std::vector<double> p = {0.1, 0.2, 0.7};
  EXPECT_EQ(*Psi(p, p), 0.0);
}

TEST(PsiTest, EmptyBinsAreFlooredAtEpsilon) {
  // e = (0.5, 0.5), a = (1, 0) -> a floored to (1, 1e-4):
  //   (1 - 0.5)·ln(2)               = 0.3465736
  //   (1e-4 - 0.5)·ln(1e-4 / 0.5)   = -0.4999 × -8.5171932 = 4.2577449
  //   total                         = 4.6043185
  std::vector<double> expected = {0.5, 0.5};
  std::vector<double> actual = {1.0, 0.0};
  EXPECT_NEAR(*Psi(expected, actual, 1e-4), 4.6043185, 1e-6);
}

TEST(PsiTest, RejectsMismatchedOrInvalidInput) {
  std::vector<double> two = {0.5, 0.5};
  std::vector<double> three = {0.2, 0.3, 0.5};
  auto mismatched = Psi(two, three);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().message(), "PSI needs proportions over the same bins; got 2 expected and 3 actual");
  std::vector<double> negative = {1.5, -0.5};
  EXPECT_FALSE(Psi(two, negative).ok());
  EXPECT_FALSE(Psi(two, two, 0.0).ok());
  EXPECT_FALSE(Psi(std::vector<double>{}, std::vector<double>{}).ok());
}

// The samples and expected values below were computed with scipy 1.17.1 in
// /work/main/.venv:
//
//   from scipy import stats
//   import numpy as np
//   a = [0.1,0.4,0.4,0.7,1.2,1.5,1.9,2.3,2.3,2.8,3.1,3.6,4.0,4.4,5.0]
//   b = [0.9,1.4,1.8,2.3,2.6,2.9,3.3,3.7,4.1,4.5,4.8,5.2,5.5,6.1,6.4,6.8,7.3,7.9]
//   r = stats.ks_2samp(a, b, method='asymp')           # D 0.43333333333333335, p 0.06989219182788375
//   a2 = [(i*37 % 101)/10 for i in range(200)]
//   b2 = [(i*53 % 97)/10 + 0.8 for i in range(300)]
//   r2 = stats.ks_2samp(a2, b2, method='asymp')        # D 0.08666666666666667, p 0.31015019357537027
//   def ours(d, n1, n2):                               # our formula, evaluated by scipy
//       se = np.sqrt(n1*n2/(n1+n2))
//       return stats.kstwobign.sf((se + 0.12 + 0.11/se) * d)
//   ours(r.statistic, 15, 18)                          # 0.06525302100280073
//   ours(r2.statistic, 200, 300)                       # 0.31457966145516053
//   [stats.kstwobign.sf(x) for x in (0.2, 0.5, 0.8, 1.0, 1.18, 1.5, 2.0, 3.0)]
const std::vector<double> kSampleA = {0.1, 0.4, 0.4, 0.7, 1.2, 1.5, 1.9, 2.3, 2.3, 2.8, 3.1, 3.6, 4.0, 4.4, 5.0};
const std::vector<double> kSampleB = {0.9, 1.4, 1.8, 2.3, 2.6, 2.9, 3.3, 3.7, 4.1,
                                      4.5, 4.8, 5.2, 5.5, 6.1, 6.4, 6.8, 7.3, 7.9};

std::vector<double> SortedA2() {
  std::vector<double> a;
  for (int i = 0; i < 200; ++i) a.push_back((i * 37 % 101) / 10.0);
  std::sort(a.begin(), a.end());
  return a;
}

std::vector<double> SortedB2() {
  std::vector<double> b;
  for (int i = 0; i < 300; ++i) b.push_back((i * 53 % 97) / 10.0 + 0.8);
  std::sort(b.begin(), b.end());
  return b;
}

TEST(KolmogorovSmirnovTest, StatisticMatchesScipyWithTies) {
  EXPECT_NEAR(KsStatistic(kSampleA, kSampleB), 0.43333333333333335, 1e-15);
  EXPECT_NEAR(KsStatistic(kSampleB, kSampleA), 0.43333333333333335, 1e-15);
  EXPECT_NEAR(KsStatistic(SortedA2(), SortedB2()), 0.08666666666666667, 1e-15);
}

TEST(KolmogorovSmirnovTest, PValueMatchesScipyEvaluationOfTheSameFormula) {
  KsResult small = KsTest(kSampleA, kSampleB);
  EXPECT_NEAR(small.pvalue, 0.06525302100280073, 1e-12);
  KsResult large = KsTest(SortedA2(), SortedB2());
  EXPECT_NEAR(large.pvalue, 0.31457966145516053, 1e-12);
}

TEST(KolmogorovSmirnovTest, PValueIsCloseToScipyKs2sampAsymp) {
  // scipy's asymp mode uses the finite-n kstwo distribution; ours uses the
  // Kolmogorov limit with Stephens' correction (see drift_statistics.h).
  EXPECT_NEAR(KsTest(kSampleA, kSampleB).pvalue / 0.06989219182788375, 1.0, 0.07);
  EXPECT_NEAR(KsTest(SortedA2(), SortedB2()).pvalue / 0.31015019357537027, 1.0, 0.015);
}

TEST(KolmogorovSmirnovTest, KolmogorovSurvivalMatchesScipyKstwobign) {
  const std::vector<std::pair<double, double>> cases = {
      {0.2, 0.999999999999495},    {0.5, 0.9639452436648751},    {0.8, 0.5441424115741981},
      {1.0, 0.26999967167735456},  {1.18, 0.1234538094297657},   {1.5, 0.022217962616525127},
      {2.0, 0.0006709252557796953}, {3.0, 3.045995948942526e-08}};
  for (const auto& [lambda, expected] : cases) {
    EXPECT_NEAR(KolmogorovSurvival(lambda) / expected, 1.0, 1e-10) << "lambda " << lambda;
  }
  EXPECT_EQ(KolmogorovSurvival(0.0), 1.0);
  EXPECT_EQ(KolmogorovSurvival(-1.0), 1.0);
}

TEST(KolmogorovSmirnovTest, IdenticalSamplesGiveZeroAndEmptyOnesAreHarmless) {
  KsResult same = KsTest(kSampleA, kSampleA);
  EXPECT_EQ(same.statistic, 0.0);
  EXPECT_EQ(same.pvalue, 1.0);
  KsResult empty = KsTest(kSampleA, std::vector<double>{});
  EXPECT_EQ(empty.statistic, 0.0);
  EXPECT_EQ(empty.pvalue, 1.0);
}

TEST(KolmogorovSmirnovTest, DisjointSamplesGiveDOfOne) {
  std::vector<double> low = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<double> high = {11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  KsResult result = KsTest(low, high);
  EXPECT_EQ(result.statistic, 1.0);
  EXPECT_LT(result.pvalue, 1e-3);
}

}  // namespace
}  // namespace mlship::monitor
