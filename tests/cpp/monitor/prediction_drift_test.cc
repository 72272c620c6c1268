// JudgePredictionDrift: the verdict on a classifier's predicted-class mix.
#include "mlship/monitor/prediction_drift.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mlship::monitor {
namespace {

ClassProfile Counts(std::vector<int64_t> counts) { return ClassProfile::FromCounts(std::move(counts)).value(); }

TEST(PredictionDrift, TheSameMixIsNotDrifted) {
  PredictionDriftOptions o;
  o.min_samples = 100;
  const PredictionDriftReport r = JudgePredictionDrift(Counts({500, 300, 200}), Counts({50, 30, 20}), o);
  EXPECT_TRUE(r.judged);
  EXPECT_FALSE(r.drifted);
  EXPECT_NEAR(r.psi, 0.0, 1e-12);
  EXPECT_EQ(r.window_rows, 100);
  EXPECT_EQ(r.live_shares, (std::vector<double>{0.5, 0.3, 0.2}));
}

TEST(PredictionDrift, AShiftedMixCrossesTheThresholdWithTheTextbookPsi) {
  PredictionDriftOptions o;
  o.min_samples = 10;
  const PredictionDriftReport r = JudgePredictionDrift(Counts({50, 50}), Counts({10, 90}), o);
  // PSI = sum (a - e) ln(a / e) over the two classes.
  const double expected = (0.1 - 0.5) * std::log(0.1 / 0.5) + (0.9 - 0.5) * std::log(0.9 / 0.5);
  EXPECT_NEAR(r.psi, expected, 1e-12);
  EXPECT_TRUE(r.drifted);
  EXPECT_EQ(r.reference_shares, (std::vector<double>{0.5, 0.5}));
}

TEST(PredictionDrift, TooFewPredictionsAreNotJudged) {
  PredictionDriftOptions o;
  o.min_samples = 500;
  const PredictionDriftReport r = JudgePredictionDrift(Counts({50, 50}), Counts({0, 499}), o);
  EXPECT_FALSE(r.judged);
  EXPECT_FALSE(r.drifted);
  EXPECT_EQ(r.psi, 0.0);
  EXPECT_EQ(r.window_rows, 499);
}

TEST(PredictionDrift, MismatchedClassCountsAreNotJudged) {
  PredictionDriftOptions o;
  o.min_samples = 1;
  const PredictionDriftReport r = JudgePredictionDrift(Counts({5, 5}), Counts({1, 1, 8}), o);
  EXPECT_FALSE(r.judged);
  EXPECT_FALSE(r.drifted);
}

}  // namespace
}  // namespace mlship::monitor
