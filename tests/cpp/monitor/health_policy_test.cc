// JudgeHealth and ValidateSloOptions.
#include "mlship/monitor/health_policy.h"

#include <gtest/gtest.h>

namespace mlship::monitor {
namespace {

SloOptions ErrorRateSlo(double rate) {
  SloOptions slo;
  slo.max_error_rate = rate;
  slo.window_seconds = 10;
  slo.min_requests = 20;
  return slo;
}

TEST(JudgeHealth, ErrorRateAboveTheObjectiveIsABreachThatNamesTheFigures) {
  auto breach = JudgeHealth(ErrorRateSlo(0.1), HealthWindow{100, 11, 0.0});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("error rate 0.11 (11 of 100 requests)"), std::string::npos) << *breach;
  EXPECT_NE(breach->find("0.1"), std::string::npos);
}

TEST(JudgeHealth, ErrorRateAtTheObjectiveIsNoBreach) {
  EXPECT_FALSE(JudgeHealth(ErrorRateSlo(0.1), HealthWindow{100, 10, 0.0}).has_value());
}

TEST(JudgeHealth, TooFewRequestsAreNotJudged) {
  EXPECT_FALSE(JudgeHealth(ErrorRateSlo(0.1), HealthWindow{19, 19, 0.0}).has_value());
  EXPECT_TRUE(JudgeHealth(ErrorRateSlo(0.1), HealthWindow{20, 19, 0.0}).has_value());
}

TEST(JudgeHealth, P99AboveTheObjectiveIsABreach) {
  SloOptions slo;
  slo.p99_seconds = 0.05;
  slo.min_requests = 1;
  EXPECT_FALSE(JudgeHealth(slo, HealthWindow{10, 0, 0.05}).has_value());
  auto breach = JudgeHealth(slo, HealthWindow{10, 0, 0.08});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("p99 latency 80 ms"), std::string::npos) << *breach;
}

TEST(JudgeHealth, UncheckedObjectivesNeverBreach) {
  SloOptions slo;  // max_error_rate 1, p99 0: nothing checked
  slo.min_requests = 1;
  EXPECT_FALSE(slo.any());
  EXPECT_FALSE(JudgeHealth(slo, HealthWindow{10, 10, 100.0}).has_value());
}

TEST(ValidateSloOptions, NamesTheBadFieldAndItsValue) {
  SloOptions slo;
  slo.max_error_rate = 1.5;
  EXPECT_NE(ValidateSloOptions(slo).message().find("max_error_rate must be in 0..1; was 1.5"), std::string::npos);
  slo = SloOptions{};
  slo.window_seconds = 0;
  EXPECT_NE(ValidateSloOptions(slo).message().find("window_s must be in 1..3600 seconds; was 0"), std::string::npos);
  slo = SloOptions{};
  slo.min_requests = 0;
  EXPECT_FALSE(ValidateSloOptions(slo).ok());
  slo = SloOptions{};
  slo.p99_seconds = -1;
  EXPECT_FALSE(ValidateSloOptions(slo).ok());
  EXPECT_TRUE(ValidateSloOptions(SloOptions{}).ok());
}

}  // namespace
}  // namespace mlship::monitor
