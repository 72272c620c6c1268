// ReferenceProfile and ClassProfile: bins, ties, moments, samples, errors.
#include "mlship/monitor/reference_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "mlship/monitor/class_profile.h"

namespace mlship::monitor {
namespace {

ReferenceProfile BuildOrDie(const std::vector<float>& data, int64_t rows, int64_t features,
                            const ReferenceProfileOptions& options = {}) {
  auto profile = ReferenceProfile::Build(data.data(), rows, features, options);
  EXPECT_TRUE(profile.ok()) << profile.status().ToString();
  return std::move(profile).value();
}

TEST(ReferenceProfileTest, DecileBinsOfAUniformFeatureHoldATenthEach) {
  std::vector<float> data;
  for (int i = 999; i >= 0; --i) data.push_back(static_cast<float>(i));  // unsorted on purpose
  ReferenceProfile profile = BuildOrDie(data, 1000, 1);
  const FeatureProfile& f = profile.feature(0);
  EXPECT_EQ(f.bin_edges, (std::vector<double>{100, 200, 300, 400, 500, 600, 700, 800, 900}));
  ASSERT_EQ(f.bin_proportions.size(), 10u);
  for (double p : f.bin_proportions) EXPECT_DOUBLE_EQ(p, 0.1);
  EXPECT_DOUBLE_EQ(f.mean, 499.5);
  EXPECT_DOUBLE_EQ(f.variance, (1000.0 * 1000.0 - 1.0) / 12.0);  // population variance of 0..999
  EXPECT_EQ(f.min, 0.0);
  EXPECT_EQ(f.max, 999.0);
  EXPECT_EQ(f.count, 1000);
  ASSERT_EQ(f.sorted_sample.size(), 1000u);  // below max_sample_size: all kept
  EXPECT_TRUE(std::is_sorted(f.sorted_sample.begin(), f.sorted_sample.end()));
  EXPECT_EQ(f.BinOf(99.5), 0);
  EXPECT_EQ(f.BinOf(100), 1);
  EXPECT_EQ(f.BinOf(-1e9), 0);
  EXPECT_EQ(f.BinOf(1e9), 9);
}

TEST(ReferenceProfileTest, LargeReferencesKeepEvenlySpacedOrderStatistics) {
  std::vector<float> data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<float>(i));
  ReferenceProfileOptions options;
  options.max_sample_size = 100;
  ReferenceProfile profile = BuildOrDie(data, 1000, 1, options);
  const FeatureProfile& f = profile.feature(0);
  ASSERT_EQ(f.sorted_sample.size(), 100u);
  // The midpoints of 100 slices of 10: 5, 15, ..., 995.
  EXPECT_EQ(f.sorted_sample.front(), 5.0);
  EXPECT_EQ(f.sorted_sample[1], 15.0);
  EXPECT_EQ(f.sorted_sample.back(), 995.0);
}

TEST(ReferenceProfileTest, ConstantFeatureGetsBelowAtAndAboveBins) {
  std::vector<float> data(50, 3.0f);
  ReferenceProfile profile = BuildOrDie(data, 50, 1);
  const FeatureProfile& f = profile.feature(0);
  ASSERT_EQ(f.bin_edges.size(), 2u);
  EXPECT_EQ(f.bin_edges[0], 3.0);
  EXPECT_GT(f.bin_edges[1], 3.0);
  EXPECT_EQ(f.bin_proportions, (std::vector<double>{0.0, 1.0, 0.0}));
  EXPECT_EQ(f.BinOf(2.9), 0);
  EXPECT_EQ(f.BinOf(3.0), 1);
  EXPECT_EQ(f.BinOf(3.1), 2);
  EXPECT_EQ(f.variance, 0.0);
}

TEST(ReferenceProfileTest, TiedValuesMergeBins) {
  // A binary feature: 70% zeros, 30% ones. Decile cut points collapse to
  // {0, 1}, plus one above the maximum.
  std::vector<float> data;
  for (int i = 0; i < 1000; ++i) data.push_back(i % 10 < 7 ? 0.0f : 1.0f);
  ReferenceProfile profile = BuildOrDie(data, 1000, 1);
  const FeatureProfile& f = profile.feature(0);
  ASSERT_EQ(f.bin_edges.size(), 3u);
  EXPECT_EQ(f.bin_edges[0], 0.0);
  EXPECT_EQ(f.bin_edges[1], 1.0);
  ASSERT_EQ(f.bin_proportions.size(), 4u);
  EXPECT_DOUBLE_EQ(f.bin_proportions[0], 0.0);
  EXPECT_DOUBLE_EQ(f.bin_proportions[1], 0.7);
  EXPECT_DOUBLE_EQ(f.bin_proportions[2], 0.3);
  EXPECT_DOUBLE_EQ(f.bin_proportions[3], 0.0);
}

TEST(ReferenceProfileTest, ProfilesEachColumnOfARowMajorBuffer) {
  // Two features: column 0 is i, column 1 is -2i.
  std::vector<float> data;
  for (int i = 0; i < 100; ++i) {
    data.push_back(static_cast<float>(i));
    data.push_back(static_cast<float>(-2 * i));
  }
  ReferenceProfile profile = BuildOrDie(data, 100, 2);
  ASSERT_EQ(profile.num_features(), 2);
  EXPECT_EQ(profile.rows(), 100);
  EXPECT_DOUBLE_EQ(profile.feature(0).mean, 49.5);
  EXPECT_DOUBLE_EQ(profile.feature(1).mean, -99.0);
  EXPECT_EQ(profile.feature(1).min, -198.0);
  EXPECT_EQ(profile.feature(1).max, 0.0);
}

TEST(ReferenceProfileTest, SkipsAndCountsNonFiniteValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> data = {1, nan, 2, inf, 3, -inf};
  ReferenceProfile profile = BuildOrDie(data, 6, 1);
  const FeatureProfile& f = profile.feature(0);
  EXPECT_EQ(f.count, 3);
  EXPECT_EQ(f.non_finite_count, 3);
  EXPECT_DOUBLE_EQ(f.mean, 2.0);
  EXPECT_EQ(f.max, 3.0);
}

TEST(ReferenceProfileTest, BuildExplainsBadInput) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> data = {1, nan, 2, nan};
  auto all_nan = ReferenceProfile::Build(data.data(), 2, 2);
  ASSERT_FALSE(all_nan.ok());
  EXPECT_EQ(all_nan.status().message(), "reference feature 1 has no finite value in 2 rows; expected at least one");
  EXPECT_EQ(ReferenceProfile::Build(data.data(), 0, 2).status().message(),
            "reference data needs at least one row; got 0");
  ReferenceProfileOptions options;
  options.num_bins = 1;
  EXPECT_EQ(ReferenceProfile::Build(data.data(), 2, 2, options).status().message(),
            "num_bins must be in 2..1000; was 1");
  EXPECT_FALSE(ReferenceProfile::Build(nullptr, 2, 2).ok());
}

TEST(ReferenceProfileTest, BinProportionsOfLiveValuesSkipNonFinite) {
  std::vector<float> data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<float>(i));
  ReferenceProfileOptions options;
  options.num_bins = 4;
  ReferenceProfile profile = BuildOrDie(data, 100, 1, options);
  const FeatureProfile& f = profile.feature(0);
  ASSERT_EQ(f.bin_edges, (std::vector<double>{25, 50, 75}));
  std::vector<double> live = {1, 2, 30, 99, std::nan("")};
  EXPECT_EQ(f.BinProportions(live), (std::vector<double>{0.5, 0.25, 0.0, 0.25}));
}

TEST(ClassProfileTest, CountsPredictedClasses) {
  std::vector<int64_t> predictions = {0, 2, 2, 1, 2, 0, 2, 2};
  auto profile = ClassProfile::FromPredictions(predictions.data(), 8, 4);
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->counts, (std::vector<int64_t>{2, 1, 5, 0}));
  EXPECT_EQ(profile->proportions, (std::vector<double>{0.25, 0.125, 0.625, 0.0}));
  EXPECT_EQ(profile->total, 8);
}

TEST(ClassProfileTest, RejectsOutOfRangeClasses) {
  std::vector<int64_t> predictions = {0, 1, 3};
  auto profile = ClassProfile::FromPredictions(predictions.data(), 3, 3);
  ASSERT_FALSE(profile.ok());
  EXPECT_EQ(profile.status().message(), "prediction 2 is class 3; expected a class in [0, 3)");
}

TEST(ClassProfileTest, PsiOfShiftedClassShares) {
  // Reference shares (0.5, 0.5), live (0.25, 0.75):
  //   (0.25-0.5)·ln(0.5) = 0.1732868,  (0.75-0.5)·ln(1.5) = 0.1013663,  PSI = 0.2746531
  std::vector<int64_t> reference = {0, 1, 0, 1};
  std::vector<int64_t> live = {1, 1, 0, 1};
  auto ref = std::move(ClassProfile::FromPredictions(reference.data(), 4, 2)).value();
  auto now = std::move(ClassProfile::FromPredictions(live.data(), 4, 2)).value();
  auto psi = ClassDistributionPsi(ref, now);
  ASSERT_TRUE(psi.ok());
  EXPECT_NEAR(*psi, 0.2746531, 1e-7);
  auto three = std::move(ClassProfile::FromPredictions(live.data(), 4, 3)).value();
  EXPECT_FALSE(ClassDistributionPsi(ref, three).ok());
}

}  // namespace
}  // namespace mlship::monitor
