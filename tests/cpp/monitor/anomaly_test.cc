// AnomalyDetector: NaN, Inf and out-of-range counts, and rejection.
#include "mlship/monitor/anomaly.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace mlship::monitor {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Feature 0 spans [0, 1] in the reference; feature 1 is always 5.
ReferenceProfile MakeReference() {
  std::vector<float> data;
  for (int i = 0; i <= 10; ++i) {
    data.push_back(i / 10.0f);
    data.push_back(5.0f);
  }
  return std::move(ReferenceProfile::Build(data.data(), 11, 2)).value();
}

TEST(AnomalyDetectorTest, AcceptedRangeWidensTheReferenceByKRanges) {
  auto detector = std::move(AnomalyDetector::Create(MakeReference())).value();
  EXPECT_DOUBLE_EQ(detector.lower_bound(0), -1.0);
  EXPECT_DOUBLE_EQ(detector.upper_bound(0), 2.0);
  // Constant feature: range = max(|5|, 1) = 5.
  EXPECT_DOUBLE_EQ(detector.lower_bound(1), 0.0);
  EXPECT_DOUBLE_EQ(detector.upper_bound(1), 10.0);

  AnomalyDetectorOptions tight;
  tight.range_tolerance = 0.0;
  auto strict = std::move(AnomalyDetector::Create(MakeReference(), tight)).value();
  EXPECT_DOUBLE_EQ(strict.lower_bound(0), 0.0);
  EXPECT_DOUBLE_EQ(strict.upper_bound(0), 1.0);
}

TEST(AnomalyDetectorTest, CountsNanInfAndOutOfRangePerFeature) {
  auto detector = std::move(AnomalyDetector::Create(MakeReference())).value();
  std::vector<float> rows = {
      0.5f,  5.0f,   // fine
      kNan,  5.0f,   // NaN in feature 0
      kInf,  -kInf,  // Inf in both
      2.5f,  9.9f,   // feature 0 out of range (> 2); 9.9 within [0, 10]
      -1.5f, 10.5f,  // both out of range
      2.0f,  0.0f,   // on the bounds: fine
  };
  auto report = detector.Check(rows.data(), 6, 2);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->features[0].nan_count, 1);
  EXPECT_EQ(report->features[0].inf_count, 1);
  EXPECT_EQ(report->features[0].out_of_range_count, 2);
  EXPECT_EQ(report->features[1].nan_count, 0);
  EXPECT_EQ(report->features[1].inf_count, 1);
  EXPECT_EQ(report->features[1].out_of_range_count, 1);
  EXPECT_EQ(report->nan_count, 1);
  EXPECT_EQ(report->inf_count, 2);
  EXPECT_EQ(report->out_of_range_count, 3);
  EXPECT_EQ(report->anomalous_rows, 4);
  EXPECT_TRUE(report->any());
}

TEST(AnomalyDetectorTest, CleanRowsReportNothing) {
  auto detector = std::move(AnomalyDetector::Create(MakeReference())).value();
  std::vector<float> rows = {0.1f, 5.0f, 0.9f, 4.0f};
  auto report = detector.Check(rows.data(), 2, 2);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->any());
  EXPECT_EQ(report->anomalous_rows, 0);
}

TEST(AnomalyDetectorTest, RejectModeNamesTheFirstOffendingFeatureAndValue) {
  AnomalyDetectorOptions options;
  options.reject_anomalies = true;
  auto detector = std::move(AnomalyDetector::Create(MakeReference(), options)).value();

  std::vector<float> with_nan = {0.5f, 5.0f, 0.5f, kNan};
  auto nan_result = detector.Check(with_nan.data(), 2, 2);
  ASSERT_FALSE(nan_result.ok());
  EXPECT_TRUE(nan_result.status().IsInvalidArgument());
  EXPECT_EQ(nan_result.status().message(), "input feature 1 at row 1 is NaN; expected a finite number");

  std::vector<float> far = {0.5f, 5.0f, 1000.5f, 5.0f};
  auto far_result = detector.Check(far.data(), 2, 2);
  ASSERT_FALSE(far_result.ok());
  EXPECT_EQ(far_result.status().message(),
            "input feature 0 at row 1 is 1000.5, outside the accepted range [-1, 2] (the reference data spanned "
            "[0, 1]); check the input's scaling and units");

  std::vector<float> clean = {0.5f, 5.0f};
  EXPECT_TRUE(detector.Check(clean.data(), 1, 2).ok());
}

TEST(AnomalyDetectorTest, RejectsWrongShapesAndBadOptions) {
  auto detector = std::move(AnomalyDetector::Create(MakeReference())).value();
  std::vector<float> rows(3, 0.0f);
  EXPECT_EQ(detector.Check(rows.data(), 1, 3).status().message(),
            "anomaly check expected 2 features per row (as in the reference profile); got 3");
  AnomalyDetectorOptions options;
  options.range_tolerance = -1;
  EXPECT_EQ(AnomalyDetector::Create(MakeReference(), options).status().message(),
            "range_tolerance must be a finite number >= 0; was -1");
}

}  // namespace
}  // namespace mlship::monitor
