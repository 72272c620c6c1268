// The pieces of a rollout, alone: the traffic split (weights, stickiness),
// the shadow comparison, the outcome store (join, expiry, bounds, Wilson
// interval, the z-test) and the rollout state machine on a fake clock.
#include "mlship/deployment/rollout.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>

#include "mlship/deployment/outcomes.h"
#include "mlship/deployment/shadow.h"
#include "mlship/deployment/traffic.h"

namespace mlship {
namespace {

// ---- TrafficSplit ----

TEST(TrafficSplitTest, ParsesAndPrintsTheForm) {
  StatusOr<TrafficSplit> split = TrafficSplit::Parse("3:90,4:10");
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->weights.size(), 2u);
  EXPECT_EQ(split->weights[0], (std::pair<std::string, double>{"3", 90}));
  EXPECT_EQ(split->ToString(), "3:90,4:10");
  EXPECT_TRUE(TrafficSplit::Parse("")->empty());
}

TEST(TrafficSplitTest, BadTextNamesWhatIsWrongAndTheForm) {
  for (const char* bad : {"3", "3:x", "3:-1", "3:10,3:5", "3:0,4:0", "3:10,", "../x:1", "3:nan"}) {
    StatusOr<TrafficSplit> split = TrafficSplit::Parse(bad);
    ASSERT_FALSE(split.ok()) << bad;
    EXPECT_EQ(split.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(split.status().message().find("3:90,4:10"), std::string::npos) << split.status().message();
  }
}

TEST(TrafficSplitTest, RandomPointsFollowTheWeights) {
  TrafficSplit split = TrafficSplit::Parse("a:70,b:20,c:10").value();
  std::map<std::string, int> counts;
  constexpr int kDraws = 100'000;
  for (int i = 0; i < kDraws; ++i) ++counts[split.Pick(TrafficSplit::RandomPoint())];
  // Binomial standard deviation at n = 1e5 is under 0.0015; 0.01 is > 6 sigma.
  EXPECT_NEAR(counts["a"] / double(kDraws), 0.70, 0.01);
  EXPECT_NEAR(counts["b"] / double(kDraws), 0.20, 0.01);
  EXPECT_NEAR(counts["c"] / double(kDraws), 0.10, 0.01);
}

TEST(TrafficSplitTest, KeysAreSpreadLikeTheWeightsAndStickToTheirVersion) {
  TrafficSplit split = TrafficSplit::Parse("stable:90,canary:10").value();
  int canary = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const std::string& first = split.Pick(TrafficSplit::PointOf(key));
    EXPECT_EQ(split.Pick(TrafficSplit::PointOf(key)), first) << "the same key, the same version";
    canary += first == "canary";
  }
  EXPECT_NEAR(canary / 20'000.0, 0.10, 0.015);
}

TEST(TrafficSplitTest, GrowingTheCandidatesShareOnlyMovesKeysOntoIt) {
  std::map<std::string, bool> on_candidate;
  for (double w : {1.0, 5.0, 25.0, 50.0, 100.0}) {
    TrafficSplit split;
    split.weights = {{"1", 100 - w}, {"2", w}};
    for (int i = 0; i < 5000; ++i) {
      const std::string key = "k" + std::to_string(i);
      const bool now = split.Pick(TrafficSplit::PointOf(key)) == "2";
      if (on_candidate[key]) EXPECT_TRUE(now) << key << " moved back to the stable version at " << w << "%";
      on_candidate[key] = now;
    }
  }
  for (const auto& [key, on] : on_candidate) EXPECT_TRUE(on) << key;
}

TEST(TrafficSplitTest, AZeroWeightVersionNeverGetsTraffic) {
  TrafficSplit split = TrafficSplit::Parse("a:0,b:1").value();
  for (double u : {0.0, 0.3, 0.999999}) EXPECT_EQ(split.Pick(u), "b");
}

// ---- Shadow comparison ----

TEST(ShadowTest, ClassifierRowsAgreeOnTheirArgmax) {
  at::Tensor primary = torch::tensor({{0.9f, 0.1f}, {0.2f, 0.8f}, {0.6f, 0.4f}});
  at::Tensor shadow = torch::tensor({{0.7f, 0.3f}, {0.1f, 0.9f}, {0.4f, 0.6f}});
  ShadowFigures f = CompareShadow({primary}, {shadow});
  EXPECT_EQ(f.rows, 3);
  EXPECT_EQ(f.agreeing_rows, 2);
  EXPECT_NEAR(f.divergence(), 1.0 / 3, 1e-9);
  EXPECT_NEAR(f.max_abs_diff, 0.2, 1e-6);
}

TEST(ShadowTest, RegressorRowsAgreeWithinATolerance) {
  at::Tensor primary = torch::tensor({{1.0f}, {2.0f}});
  ShadowFigures same = CompareShadow({primary}, {primary + 1e-7});
  EXPECT_EQ(same.agreeing_rows, 2);
  ShadowFigures off = CompareShadow({primary}, {torch::tensor({{1.0f}, {2.5f}})});
  EXPECT_EQ(off.agreeing_rows, 1);
  EXPECT_NEAR(off.max_abs_diff, 0.5, 1e-6);
}

TEST(ShadowTest, DifferentShapesDisagreeOnEveryRow) {
  ShadowFigures f = CompareShadow({torch::zeros({4, 3})}, {torch::zeros({4, 2})});
  EXPECT_EQ(f.rows, 4);
  EXPECT_EQ(f.agreeing_rows, 0);
}

TEST(ShadowTest, TheFloatLoopAgreesWithTheTensorPathOnEveryFigure) {
  // Float32 outputs take a plain loop; the same values as float64 take the
  // ATen operators. Both must give the same figures, ties and NaNs included.
  torch::manual_seed(3);
  at::Tensor primary = torch::randn({64, 10});
  at::Tensor shadow = primary + 0.3 * torch::randn({64, 10});
  primary.index_put_({0, 4}, primary.index({0, 3}));  // a tie: the first index wins
  shadow.index_put_({1, 2}, std::nanf(""));           // a NaN counts as the largest
  for (std::optional<bool> classifier : {std::optional<bool>(), std::optional<bool>(false)}) {
    const ShadowFigures loop = CompareShadow({primary}, {shadow}, classifier);
    const ShadowFigures aten = CompareShadow({primary.to(at::kDouble)}, {shadow.to(at::kDouble)}, classifier);
    EXPECT_EQ(loop.rows, aten.rows);
    EXPECT_EQ(loop.agreeing_rows, aten.agreeing_rows);
    EXPECT_EQ(loop.elements, aten.elements);
    EXPECT_EQ(std::isnan(loop.sum_abs_diff), std::isnan(aten.sum_abs_diff));
  }
  shadow.index_put_({1, 2}, 0.0f);
  const ShadowFigures loop = CompareShadow({primary}, {shadow});
  const ShadowFigures aten = CompareShadow({primary.to(at::kDouble)}, {shadow.to(at::kDouble)});
  EXPECT_GT(loop.agreeing_rows, 0);
  EXPECT_LT(loop.agreeing_rows, loop.rows);
  EXPECT_EQ(loop.agreeing_rows, aten.agreeing_rows);
  EXPECT_NEAR(loop.sum_abs_diff, aten.sum_abs_diff, 1e-9 * aten.sum_abs_diff);
  EXPECT_DOUBLE_EQ(loop.max_abs_diff, aten.max_abs_diff);
}

TEST(ShadowTest, SinceSubtractsAnEarlierSnapshot) {
  ShadowStats stats;
  stats.Add(CompareShadow({torch::tensor({{1.0f, 0.0f}})}, {torch::tensor({{0.0f, 1.0f}})}), 0.002);
  const ShadowFigures at_step = stats.Snapshot();
  stats.Add(CompareShadow({torch::tensor({{1.0f, 0.0f}})}, {torch::tensor({{1.0f, 0.0f}})}), 0.004);
  stats.Skipped();
  ShadowFigures since = stats.Snapshot().Since(at_step);
  EXPECT_EQ(since.compared, 1);
  EXPECT_EQ(since.rows, 1);
  EXPECT_EQ(since.agreeing_rows, 1) << "the disagreement before the step does not count in it";
  EXPECT_EQ(since.skipped, 1);
  EXPECT_NEAR(since.mean_latency_seconds(), 0.004, 1e-9);
}

// ---- Outcomes ----

std::unique_ptr<OutcomeStore> Store(FakeClock& clock, int64_t max_pending = 1000, int64_t ttl_s = 60,
                                    int64_t window = 100) {
  OutcomeOptions o;
  o.max_pending = max_pending;
  o.ttl = std::chrono::seconds(ttl_s);
  o.window = window;
  return OutcomeStore::Create(o, &clock).value();
}

at::Tensor OneHot(int64_t cls, int64_t classes = 3) {
  at::Tensor t = torch::zeros({1, classes});
  t[0][cls] = 1.0;
  return t;
}

TEST(OutcomeStoreTest, JoinsLabelsByIdAndScoresEachVersion) {
  FakeClock clock;
  auto store = Store(clock);
  // Version a right on 3 of 4, version b on 1 of 2.
  store->Predicted("r1", "a", OneHot(0));
  store->Predicted("r2", "a", OneHot(1));
  store->Predicted("r3", "a", OneHot(2));
  store->Predicted("r4", "a", OneHot(2));
  store->Predicted("r5", "b", OneHot(1));
  store->Predicted("r6", "b", OneHot(0));
  OutcomeCounts c = store->Record({"r4", "r1", "r6", "r2", "r3", "r5", "nope"}, {{0}, {0}, {0}, {1}, {2}, {2}, {1}});
  EXPECT_EQ(c.matched, 6);
  EXPECT_EQ(c.unknown, 1);
  OnlineScore a = store->Score("a");
  EXPECT_TRUE(a.classifier);
  EXPECT_EQ(a.rows, 4);
  EXPECT_EQ(a.correct, 3);
  EXPECT_DOUBLE_EQ(a.accuracy, 0.75);
  EXPECT_LT(a.accuracy_low, 0.75);
  EXPECT_GT(a.accuracy_high, 0.75);
  EXPECT_DOUBLE_EQ(store->Score("b").accuracy, 0.5);
  EXPECT_EQ(store->Record({"r1"}, {{0}}).unknown, 1) << "an outcome joins once";
}

TEST(OutcomeStoreTest, WilsonIntervalMatchesTheFormula) {
  FakeClock clock;
  auto store = Store(clock, 1000, 60, 1000);
  for (int i = 0; i < 100; ++i) store->Predicted("r" + std::to_string(i), "a", OneHot(i < 80 ? 0 : 1));
  std::vector<std::string> ids;
  std::vector<std::vector<double>> labels;
  for (int i = 0; i < 100; ++i) {
    ids.push_back("r" + std::to_string(i));
    labels.push_back({0});
  }
  store->Record(ids, labels);
  OnlineScore s = store->Score("a");
  // 80 of 100: Wilson 95% interval [0.7111, 0.8666].
  EXPECT_NEAR(s.accuracy_low, 0.7111, 5e-4);
  EXPECT_NEAR(s.accuracy_high, 0.8666, 5e-4);
}

TEST(OutcomeStoreTest, RegressorsGetMseAndMae) {
  FakeClock clock;
  auto store = Store(clock);
  store->Predicted("r1", "a", torch::tensor({{1.0f}, {3.0f}}));
  EXPECT_EQ(store->Record({"r1"}, {{2.0, 3.0}}).matched, 1);
  OnlineScore s = store->Score("a");
  EXPECT_FALSE(s.classifier);
  EXPECT_EQ(s.rows, 2);
  EXPECT_DOUBLE_EQ(s.mse, 0.5);
  EXPECT_DOUBLE_EQ(s.mae, 0.5);
  store->Predicted("r2", "a", torch::tensor({{1.0f}}));
  EXPECT_EQ(store->Record({"r2"}, {{1.0, 2.0}}).unknown, 1) << "a label per predicted row";
}

TEST(OutcomeStoreTest, PredictionsExpireAfterTheirTtlOnTheClock) {
  FakeClock clock;
  auto store = Store(clock, 1000, 60);
  store->Predicted("old", "a", OneHot(0));
  clock.Advance(std::chrono::seconds(61));
  store->Predicted("new", "a", OneHot(0));
  OutcomeCounts c = store->Record({"old", "new"}, {{0}, {0}});
  EXPECT_EQ(c.matched, 1);
  EXPECT_EQ(c.unknown, 1);
  EXPECT_EQ(store->expired(), 1);
}

TEST(OutcomeStoreTest, PendingPredictionsAreBoundedOldestFirst) {
  FakeClock clock;
  auto store = Store(clock, 10);
  for (int i = 0; i < 25; ++i) store->Predicted("r" + std::to_string(i), "a", OneHot(0));
  EXPECT_EQ(store->pending(), 10);
  EXPECT_EQ(store->expired(), 15);
  EXPECT_EQ(store->Record({"r0"}, {{0}}).unknown, 1);
  EXPECT_EQ(store->Record({"r24"}, {{0}}).matched, 1);
}

TEST(OutcomeStoreTest, TheWindowKeepsTheMostRecentRows) {
  FakeClock clock;
  auto store = Store(clock, 1000, 60, 10);
  for (int i = 0; i < 30; ++i) {
    const std::string id = "r" + std::to_string(i);
    store->Predicted(id, "a", OneHot(0));
    store->Record({id}, {{i < 20 ? 1.0 : 0.0}});  // wrong, then right
  }
  EXPECT_EQ(store->Score("a").rows, 10);
  EXPECT_DOUBLE_EQ(store->Score("a").accuracy, 1.0);
}

TEST(OutcomeStoreTest, TheZTestTellsAClearDropFromNoise) {
  FakeClock clock;
  auto store = Store(clock, 10'000, 60, 10'000);
  auto feed = [&](const std::string& version, int n, int correct) {
    for (int i = 0; i < n; ++i) {
      const std::string id = version + std::to_string(i);
      store->Predicted(id, version, OneHot(0));
      store->Record({id}, {{i < correct ? 0.0 : 1.0}});
    }
  };
  feed("stable", 1000, 900);
  feed("close", 1000, 890);
  feed("worse", 1000, 700);
  EXPECT_GT(store->Compare("close", "stable").p_value, 0.05);
  AccuracyComparison worse = store->Compare("worse", "stable");
  EXPECT_LT(worse.p_value, 1e-6);
  EXPECT_LT(worse.z, 0);
}

// ---- The rollout state machine ----

RolloutOptions Options() {
  RolloutOptions o;
  o.from = "1";
  o.to = "2";
  o.steps = {10, 50, 100};
  o.hold = std::chrono::seconds(30);
  o.guard.max_error_rate = 0.05;
  o.guard.min_requests = 20;
  return o;
}

RolloutFigures Requests(int64_t requests, int64_t failures = 0) {
  RolloutFigures f;
  f.candidate.requests = requests;
  f.candidate.server_failures = failures;
  return f;
}

TEST(RolloutOptionsTest, ValidateNamesTheBadField) {
  RolloutOptions o = Options();
  EXPECT_TRUE(o.Validate().ok());
  o.steps = {10, 5, 100};
  EXPECT_NE(o.Validate().message().find("increase"), std::string::npos);
  o.steps = {10, 50};
  EXPECT_NE(o.Validate().message().find("end at 100"), std::string::npos);
  o = Options();
  o.to = "";
  EXPECT_NE(o.Validate().message().find("rollout_to"), std::string::npos);
  o = Options();
  o.to = "1";
  EXPECT_NE(o.Validate().message().find("both"), std::string::npos);
}

TEST(RolloutTest, EachStepHoldsForItsTimeAndItsRequestsThenAdvancesToSuccess) {
  FakeClock clock;
  Rollout r(Options(), &clock);
  EXPECT_DOUBLE_EQ(r.weight(), 10);
  EXPECT_EQ(r.Judge(Requests(500)), Rollout::Decision::kHold) << "not held long enough";
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(r.Judge(Requests(5)), Rollout::Decision::kHold) << "held, but too few requests to judge";
  EXPECT_EQ(r.Judge(Requests(20)), Rollout::Decision::kAdvance);
  r.Advance();
  EXPECT_DOUBLE_EQ(r.weight(), 50);
  EXPECT_EQ(r.Judge(Requests(500)), Rollout::Decision::kHold) << "the hold starts again";
  clock.Advance(std::chrono::seconds(30));
  ASSERT_EQ(r.Judge(Requests(500)), Rollout::Decision::kAdvance);
  r.Advance();
  clock.Advance(std::chrono::seconds(30));
  ASSERT_EQ(r.Judge(Requests(500)), Rollout::Decision::kSucceed);
  r.Succeed();
  EXPECT_EQ(r.state(), RolloutState::kSucceeded);
  EXPECT_DOUBLE_EQ(r.weight(), 100);
  EXPECT_EQ(r.Judge(Requests(500, 500)), Rollout::Decision::kHold) << "a finished rollout is not judged";
}

TEST(RolloutTest, WithADivergenceGuardAStepEndsOnlyOnceItsShadowHasCompared) {
  FakeClock clock;
  RolloutOptions o = Options();
  o.guard.max_divergence = 0.05;
  Rollout r(o, &clock);
  clock.Advance(std::chrono::seconds(30));
  RolloutFigures f = Requests(500);
  EXPECT_EQ(r.Judge(f), Rollout::Decision::kHold) << "no shadow figures yet: the divergence is unjudged";
  f.shadow = ShadowFigures{};
  f.shadow->rows = f.shadow->agreeing_rows = 5;
  EXPECT_EQ(r.Judge(f), Rollout::Decision::kHold) << "5 compared rows, 20 needed";
  f.shadow->rows = f.shadow->agreeing_rows = 20;
  ASSERT_EQ(r.Judge(f), Rollout::Decision::kAdvance);
  r.Advance();
  r.Advance();
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(r.Judge(Requests(500)), Rollout::Decision::kSucceed) << "at 100% no stable traffic is left to copy";
}

TEST(RolloutTest, AnErrorRateBreachRollsBackAtOnceWithTheFiguresInTheReason) {
  FakeClock clock;
  Rollout r(Options(), &clock);
  EXPECT_EQ(r.Judge(Requests(19, 19)), Rollout::Decision::kHold) << "below min_requests nothing is judged";
  ASSERT_EQ(r.Judge(Requests(40, 3)), Rollout::Decision::kRollBack);
  r.RollBack(*r.Breach(Requests(40, 3)));
  EXPECT_EQ(r.state(), RolloutState::kRolledBack);
  EXPECT_DOUBLE_EQ(r.weight(), 0);
  EXPECT_NE(r.status().reason.find("error rate 0.075 (3 of 40 requests)"), std::string::npos) << r.status().reason;
}

TEST(RolloutTest, LatencyDivergenceAndAccuracyBreachesRollBack) {
  FakeClock clock;
  RolloutOptions o = Options();
  o.guard.p99_seconds = 0.05;
  o.guard.max_divergence = 0.02;
  o.guard.min_accuracy = 0.9;
  Rollout r(o, &clock);
  RolloutFigures slow = Requests(100);
  slow.candidate.p99_seconds = 0.2;
  EXPECT_NE(r.Breach(slow).value_or("").find("p99 latency 200 ms"), std::string::npos);

  RolloutFigures diverging = Requests(100);
  diverging.shadow = ShadowFigures{};
  diverging.shadow->rows = 100;
  diverging.shadow->agreeing_rows = 90;
  EXPECT_NE(r.Breach(diverging).value_or("").find("answers differ"), std::string::npos);
  diverging.shadow->agreeing_rows = 99;
  EXPECT_FALSE(r.Breach(diverging).has_value()) << "1% is within the guard's 2%";

  RolloutFigures wrong = Requests(100);
  wrong.accuracy = AccuracyComparison{};
  wrong.accuracy->candidate.rows = 200;
  wrong.accuracy->candidate.accuracy = 0.8;
  wrong.accuracy->stable.accuracy = 0.95;
  wrong.accuracy->p_value = 0.001;
  EXPECT_NE(r.Breach(wrong).value_or("").find("live accuracy 0.8"), std::string::npos);
  wrong.accuracy->p_value = 0.3;
  EXPECT_FALSE(r.Breach(wrong).has_value()) << "a drop the outcomes cannot tell from noise";
}

TEST(RolloutTest, PausedHoldsItsStepButABreachStillRollsBack) {
  FakeClock clock;
  Rollout r(Options(), &clock);
  ASSERT_TRUE(r.Pause().ok());
  EXPECT_EQ(r.Pause().code(), StatusCode::kFailedPrecondition);
  clock.Advance(std::chrono::hours(1));
  EXPECT_EQ(r.Judge(Requests(500)), Rollout::Decision::kHold);
  ASSERT_TRUE(r.Resume().ok());
  EXPECT_EQ(r.Judge(Requests(500)), Rollout::Decision::kHold) << "the step's hold starts again after a resume";
  ASSERT_TRUE(r.Pause().ok());
  EXPECT_EQ(r.Judge(Requests(100, 50)), Rollout::Decision::kRollBack);
}

TEST(RolloutTest, AbortIsOnlyForAnActiveRollout) {
  FakeClock clock;
  Rollout r(Options(), &clock);
  ASSERT_TRUE(r.Abort("because").ok());
  EXPECT_EQ(r.state(), RolloutState::kAborted);
  EXPECT_DOUBLE_EQ(r.weight(), 0);
  EXPECT_EQ(r.Abort("again").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Resume().code(), StatusCode::kFailedPrecondition);
}

TEST(RolloutTest, StatesRoundTripThroughTheirNames) {
  for (RolloutState s : {RolloutState::kRunning, RolloutState::kPaused, RolloutState::kSucceeded,
                         RolloutState::kRolledBack, RolloutState::kAborted}) {
    EXPECT_EQ(RolloutStateFromName(RolloutStateName(s)).value(), s);
  }
  EXPECT_FALSE(RolloutStateFromName("sideways").ok());
}

}  // namespace
}  // namespace mlship
