// PredictionWindow: the sliding window of predicted classes, and
// ClassProfile::FromCounts that it reports through.
#include "mlship/monitor/prediction_window.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace mlship::monitor {
namespace {

TEST(PredictionWindow, CountsWhatWasObservedUntilFull) {
  auto window = PredictionWindow::Create(10, 3).value();
  EXPECT_EQ(window->size(), 0);
  EXPECT_EQ(window->Profile().total, 0);
  const std::vector<int64_t> classes = {0, 1, 1, 2, 2, 2};
  window->Observe(classes.data(), 6);
  const ClassProfile p = window->Profile();
  EXPECT_EQ(window->size(), 6);
  EXPECT_EQ(p.counts, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(p.total, 6);
  EXPECT_DOUBLE_EQ(p.proportions[2], 0.5);
}

TEST(PredictionWindow, KeepsOnlyTheMostRecentPredictions) {
  auto window = PredictionWindow::Create(4, 2).value();
  const std::vector<int64_t> zeros(3, 0);
  const std::vector<int64_t> ones(3, 1);
  window->Observe(zeros.data(), 3);
  window->Observe(ones.data(), 3);  // the window now holds 0, 1, 1, 1
  EXPECT_EQ(window->size(), 4);
  EXPECT_EQ(window->Profile().counts, (std::vector<int64_t>{1, 3}));
  // A batch larger than the window keeps its last `capacity` predictions.
  const std::vector<int64_t> big = {1, 1, 1, 0, 0, 0, 0};
  window->Observe(big.data(), 7);
  EXPECT_EQ(window->Profile().counts, (std::vector<int64_t>{4, 0}));
}

TEST(PredictionWindow, SkipsClassesOutsideTheModelsRange) {
  auto window = PredictionWindow::Create(8, 2).value();
  const std::vector<int64_t> classes = {0, 5, -1, 1};
  window->Observe(classes.data(), 4);
  EXPECT_EQ(window->Profile().counts, (std::vector<int64_t>{1, 1}));
  window->Observe(nullptr, 3);  // nothing to read: ignored, not a crash
  EXPECT_EQ(window->Profile().total, 2);
}

TEST(PredictionWindow, ConcurrentWritersLoseNothingBeforeTheWindowFills) {
  auto window = PredictionWindow::Create(80'000, 4).value();
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&window, t] {
      const std::vector<int64_t> classes(10, t % 4);
      for (int i = 0; i < 1000; ++i) window->Observe(classes.data(), 10);
    });
  }
  for (auto& w : writers) w.join();
  const ClassProfile p = window->Profile();
  EXPECT_EQ(p.total, 80'000);
  EXPECT_EQ(p.counts, (std::vector<int64_t>{20'000, 20'000, 20'000, 20'000}));
}

TEST(PredictionWindow, BadSizesAreRefusedWithTheValue) {
  EXPECT_NE(PredictionWindow::Create(0, 3).status().message().find("was 0"), std::string::npos);
  EXPECT_NE(PredictionWindow::Create(10, 1).status().message().find("was 1"), std::string::npos);
  EXPECT_EQ(PredictionWindow::Create(10, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(ClassProfileFromCounts, GivesSharesAndRefusesBadCounts) {
  auto p = ClassProfile::FromCounts({1, 3}).value();
  EXPECT_EQ(p.total, 4);
  EXPECT_DOUBLE_EQ(p.proportions[1], 0.75);
  auto empty = ClassProfile::FromCounts({0, 0}).value();
  EXPECT_EQ(empty.proportions, (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(ClassProfile::FromCounts({}).status().code(), StatusCode::kInvalidArgument);
  Status negative = ClassProfile::FromCounts({2, -1}).status();
  EXPECT_NE(negative.message().find("class 1"), std::string::npos) << negative.message();
}

}  // namespace
}  // namespace mlship::monitor
