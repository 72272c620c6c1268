// SummarizeRows: mean, std, min, max per row of a high-rank input.
#include "mlship/monitor/summary_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "mlship/monitor/drift_monitor.h"

namespace mlship::monitor {
namespace {

TEST(SummaryFeaturesTest, SummarisesEachRow) {
  // Two rows of a [2, 2, 2] input, flattened after dim 0.
  std::vector<float> data = {1, 2, 3, 4, /**/ -1, -1, -1, -1};
  auto summary = SummarizeRows(data.data(), 2, 4);
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->size(), 8u);
  EXPECT_FLOAT_EQ((*summary)[0], 2.5f);
  EXPECT_FLOAT_EQ((*summary)[1], std::sqrt(1.25f));  // population std of 1..4
  EXPECT_FLOAT_EQ((*summary)[2], 1.0f);
  EXPECT_FLOAT_EQ((*summary)[3], 4.0f);
  EXPECT_EQ((std::vector<float>(summary->begin() + 4, summary->end())), (std::vector<float>{-1, 0, -1, -1}));
  EXPECT_EQ(kSummaryFeatureNames[1], "std");
}

TEST(SummaryFeaturesTest, SkipsNonFiniteValuesAndMarksEmptyRows) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> data = {nan, 2, 4, inf, /**/ nan, nan, -inf, inf};
  auto summary = SummarizeRows(data.data(), 2, 4);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ((std::vector<float>(summary->begin(), summary->begin() + 4)), (std::vector<float>{3, 1, 2, 4}));
  for (int k = 4; k < 8; ++k) EXPECT_TRUE(std::isnan((*summary)[static_cast<size_t>(k)]));
}

TEST(SummaryFeaturesTest, RejectsBadShapes) {
  std::vector<float> data(4, 0.0f);
  EXPECT_EQ(SummarizeRows(data.data(), 1, 0).status().message(), "values_per_row must be >= 1; was 0");
  EXPECT_FALSE(SummarizeRows(nullptr, 1, 4).ok());
  auto empty = SummarizeRows(nullptr, 0, 4);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(SummaryFeaturesTest, DriftOnImagesShowsInTheRightSummaries) {
  // 8x8 "images" with pixels U(0, 1); live images are brighter by 0.5. A
  // brightness offset moves mean, min and max but leaves std unchanged.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  auto images = [&](int n, float offset) {
    std::vector<float> data(static_cast<size_t>(n * 64));
    for (float& v : data) v = pixel(rng) + offset;
    return data;
  };
  std::vector<float> reference = images(2000, 0.0f);
  auto reference_summary = std::move(SummarizeRows(reference.data(), 2000, 64)).value();
  auto profile = std::move(ReferenceProfile::Build(reference_summary.data(), 2000, kNumSummaryFeatures)).value();
  auto monitor = std::move(DriftMonitor::Create(std::move(profile))).value();
  std::vector<float> live = images(1000, 0.5f);
  auto live_summary = std::move(SummarizeRows(live.data(), 1000, 64)).value();
  ASSERT_TRUE(monitor->Observe(live_summary.data(), 1000, kNumSummaryFeatures).ok());
  EXPECT_EQ(monitor->Compute().drifted_features, (std::vector<int64_t>{0, 2, 3}));
}

}  // namespace
}  // namespace mlship::monitor
