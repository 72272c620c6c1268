// Server traffic policies: a weighted split (sticky by routing key), a
// shadow that never takes the live traffic's workers, outcomes joined by
// request id, and rollouts on a fake clock (advance, succeed, roll back on
// errors or divergence, pause/abort, resume after a restart).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "mlship/thread_policy.h"
#include "server_fixtures.h"

namespace mlship {
namespace {

using std::chrono::seconds;

// Answers x * 2 but, once stalled, blocks every forward pass until released:
// a shadow that hangs.
class StallingModel final : public Model {
 public:
  StallingModel() : Model(RowSignature(), "<memory>", 1) {}
  ModelFormat format() const override { return ModelFormat::kTorchScript; }
  Status Save(const std::string&) const override { return Status::FailedPrecondition("not saved in tests"); }
  void Stall() { stalled_ = true; }
  void Release() { released_.set_value(); }
  int calls() const { return calls_.load(); }
  // The scheduling policy of the thread the stalled call ran on.
  int policy() const { return policy_.load(); }

 protected:
  std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& inputs) const override {
    if (stalled_) {
      policy_ = ThisThreadPolicy();
      ++calls_;
      gate_.wait();
    }
    return {inputs[0] * 2};
  }

 private:
  std::atomic<bool> stalled_{false};
  mutable std::atomic<int> calls_{0};
  mutable std::atomic<int> policy_{-1};
  std::promise<void> released_;
  std::shared_future<void> gate_{released_.get_future().share()};
};

// Two versions of "m": "1" answers x + 1, "2" answers `candidate`;
// `classifier` as the versions' option (default: judged by the outputs).
struct TwoVersions {
  explicit TwoVersions(std::shared_ptr<Model> candidate = nullptr, FakeClock* clock = nullptr,
                       std::optional<bool> classifier = std::nullopt) {
    o = InProcess();
    o.server.clock = clock;
    o.version_options.monitor.classifier = classifier;
    o.version_options.monitor.on_alert = [this](const monitor::AlertEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      alerts.push_back(e.kind + ": " + e.message);
    };
    server = Server::Create(o).value();
    EXPECT_TRUE(server->AddModel("m", {}).ok());
    EXPECT_TRUE(server->Deploy("m", "1", Source(Loaded(SavedScale(1, 1)), o), true).ok());
    if (!candidate) candidate = Loaded(SavedScale(1, 2));
    EXPECT_TRUE(server->Deploy("m", "2", Source(std::move(candidate), o), false).ok());
  }
  // Runs one request; returns the version that answered.
  std::string Ask(const at::Tensor& x, const std::string& key = "", const std::string& id = "") {
    std::string version;
    Result r = server->Predict("m", {x}, {.routing_key = key, .request_id = id}, PredictCallers::kIndependent,
                               &version);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return version;
  }
  std::vector<std::string> Alerts() {
    std::lock_guard<std::mutex> lock(mu);
    return alerts;
  }

  ServingOptions o;
  std::unique_ptr<Server> server;
  std::mutex mu;
  std::vector<std::string> alerts;
};

TEST(ServerTrafficTest, ASplitSendsTheWeightsAndARoutingKeyStaysOnItsVersion) {
  TwoVersions t;
  ASSERT_TRUE(t.server->Configure("m", boost::json::object{{"traffic_split", "1:70,2:30"}}).ok());
  std::map<std::string, int> counts;
  for (int i = 0; i < 1000; ++i) ++counts[t.Ask(Row(0))];
  // Binomial sd at n = 1000 is 0.0145; 0.075 is over 5 sd.
  EXPECT_NEAR(counts["2"] / 1000.0, 0.30, 0.075);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const std::string first = t.Ask(Row(0), key);
    for (int j = 0; j < 3; ++j) EXPECT_EQ(t.Ask(Row(0), key), first) << key;
  }
}

TEST(ServerTrafficTest, BadSettingsAreRefusedAndNothingChanges) {
  TwoVersions t;
  Status bad = t.server->Configure("m", boost::json::object{{"traffic_split", "1:70,2"}});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("3:90,4:10"), std::string::npos) << bad.message();
  EXPECT_EQ(t.server->Configure("m", boost::json::object{{"max_batch_size", 4}}).code(), StatusCode::kInvalidArgument)
      << "a version setting is not a model setting";
  EXPECT_EQ(t.server->Configure("nope", boost::json::object{{"track_outcomes", true}}).code(), StatusCode::kNotFound);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(t.Ask(Row(0)), "1");
}

TEST(ServerTrafficTest, AStalledShadowNeverTakesTheLiveTrafficsWorkers) {
  auto stalling = std::make_shared<StallingModel>();
  TwoVersions t(stalling, nullptr, /*classifier=*/false);
  stalling->Stall();
  ASSERT_TRUE(t.server->Configure("m", boost::json::object{{"shadow_version", "2"}}).ok());
  // Every live request is answered while the shadow hangs: were a live
  // request waiting on the shadow, or its worker taken, this would not end.
  auto live = std::async(std::launch::async, [&] {
    for (int i = 0; i < 200; ++i) {
      Result r = t.server->Predict("m", {Row(float(i))}, {});
      if (!r.ok() || (*r)[0][0][0].item<float>() != float(i) + 1) return false;
    }
    return true;
  });
  ASSERT_EQ(live.wait_for(seconds(120)), std::future_status::ready) << "live traffic waited for the shadow";
  EXPECT_TRUE(live.get());
  for (int i = 0; i < 500 && stalling->calls() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the first copy reaching its worker; bounded
  }
  ShadowFigures f = t.server->router().Shadow("m").value();
  EXPECT_EQ(stalling->calls(), 1) << "one copy runs (and hangs) on the shadow runner; the workers stay live";
#if defined(__linux__)
  EXPECT_EQ(stalling->policy(), SCHED_IDLE) << "copies only take CPU live requests leave unused";
#endif
  EXPECT_EQ(f.skipped, 199) << "every other copy was skipped, not queued behind it";
  stalling->Release();
  for (int i = 0; i < 200 && t.server->router().Shadow("m")->compared == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the released copy finishing; bounded
  }
  f = t.server->router().Shadow("m").value();
  EXPECT_EQ(f.compared, 1);
  EXPECT_EQ(f.agreeing_rows, 0) << "x * 2 is not x + 1";
}

TEST(ServerTrafficTest, AShadowIsComparedOnTheSameRequestsAndNeverAnswers) {
  TwoVersions t(Loaded(SavedScale(1, 1)));  // the same numbers as "1"
  ASSERT_TRUE(t.server->Configure("m", boost::json::object{{"shadow_version", "2"}}).ok());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(t.Ask(torch::rand({2, 4})), "1");
  for (int i = 0; i < 500 && t.server->router().Shadow("m")->compared + t.server->router().Shadow("m")->skipped < 30;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the last copy finishing; bounded
  }
  ShadowFigures f = t.server->router().Shadow("m").value();
  EXPECT_EQ(f.compared + f.skipped, 30);
  EXPECT_GT(f.compared, 0);
  EXPECT_EQ(f.agreeing_rows, f.rows);
  EXPECT_EQ(f.failed, 0);
  EXPECT_NE(t.server->MetricsText().find("mlship_shadow_agreement{model=\"m\",version=\"2\"} 1"), std::string::npos);
}

TEST(ServerTrafficTest, OutcomesJoinPredictionsByRequestIdPerVersion) {
  TwoVersions t(nullptr, nullptr, /*classifier=*/false);
  ASSERT_TRUE(t.server->Configure("m", boost::json::object{{"track_outcomes", true},
                                                            {"traffic_split", "1:50,2:50"}}).ok());
  // Regressors: "1" is off by 1 on every value, "2" by 2, against a label of x.
  std::map<std::string, int> by_version;
  std::vector<std::string> ids;
  std::vector<std::vector<double>> labels;
  for (int i = 0; i < 200; ++i) {
    ids.push_back("req-" + std::to_string(i));
    ++by_version[t.Ask(Row(float(i)), "", ids.back())];
    labels.push_back({double(i)});
  }
  ids.push_back("never-seen");
  labels.push_back({0});
  StatusOr<OutcomeCounts> c = t.server->RecordOutcomes("m", ids, labels);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->matched, 200);
  EXPECT_EQ(c->unknown, 1);
  auto store = t.server->router().Outcomes("m");
  EXPECT_EQ(store->Score("1").rows, by_version["1"]);
  EXPECT_DOUBLE_EQ(store->Score("1").mse, 1.0);
  EXPECT_DOUBLE_EQ(store->Score("2").mae, 2.0);
  const std::string metrics = t.server->MetricsText();
  EXPECT_NE(metrics.find("mlship_online_mse{model=\"m\",version=\"2\"} 4"), std::string::npos) << metrics;
}

TEST(ServerTrafficTest, OutcomesForAModelThatDoesNotTrackThemAreRefused) {
  TwoVersions t;
  StatusOr<OutcomeCounts> c = t.server->RecordOutcomes("m", {"a"}, {{1}});
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("track_outcomes"), std::string::npos);
}

RolloutOptions Steps(const std::string& to, double max_error_rate = 1.0) {
  RolloutOptions r;
  r.to = to;
  r.steps = {10, 50, 100};
  r.hold = seconds(10);
  r.guard.max_error_rate = max_error_rate;
  r.guard.min_requests = 10;
  return r;
}

TEST(ServerRolloutTest, AHealthyCandidateTakesTheTrafficStepByStep) {
  FakeClock clock;
  TwoVersions t(nullptr, &clock);
  StatusOr<RolloutStatus> started = t.server->StartRollout("m", Steps("2", 0.05));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->options.from, "1") << "the default when it started";
  EXPECT_EQ(t.server->router().Aliases("m").at("canary"), "2");
  EXPECT_EQ(t.server->StartRollout("m", Steps("2")).status().code(), StatusCode::kFailedPrecondition)
      << "one rollout at a time";
  for (double expected : {10.0, 50.0, 100.0}) {
    std::map<std::string, int> counts;
    for (int i = 0; i < 400; ++i) ++counts[t.Ask(Row(0), "user-" + std::to_string(i))];
    EXPECT_NEAR(counts["2"] / 400.0, expected / 100.0, 0.08) << "at " << expected << "%";
    EXPECT_EQ(t.server->RolloutAction("m", "status")->weight, expected);
    t.server->TickPolicies();
    EXPECT_EQ(t.server->RolloutAction("m", "status")->weight, expected) << "a step holds for its time";
    clock.Advance(seconds(11));
    t.server->TickPolicies();
  }
  RolloutStatus done = t.server->RolloutAction("m", "status").value();
  EXPECT_EQ(done.state, RolloutState::kSucceeded) << done.reason;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(t.Ask(Row(0), "user-" + std::to_string(i)), "2");
  EXPECT_EQ(t.server->router().Aliases("m").at("stable"), "2");
  EXPECT_EQ(t.server->router().Aliases("m").count("canary"), 0u);
  const std::string metrics = t.server->MetricsText();
  EXPECT_NE(metrics.find("mlship_rollout_state{model=\"m\",version=\"2\",state=\"succeeded\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("mlship_rollout_weight_percent{model=\"m\",version=\"2\"} 100"), std::string::npos);
}

TEST(ServerRolloutTest, AFailingCandidateIsRolledBackAtTheFirstStep) {
  FakeClock clock;
  auto picky = LoadModel(testing::SaveModule(testing::PickyModule(), "picky.pt"), [] {
    LoadOptions l;
    l.example_inputs = {torch::zeros({1, 4})};
    return l;
  }());
  ASSERT_TRUE(picky.ok());
  TwoVersions t(*picky, &clock);
  ASSERT_TRUE(t.server->StartRollout("m", Steps("2", 0.05)).ok());
  int failed = 0;
  for (int i = 0; i < 300; ++i) {
    // One request in five carries a value the candidate fails on.
    failed += !t.server->Predict("m", {Row(i % 5 == 0 ? 500.f : 1.f)}, {.routing_key = std::to_string(i)}).ok();
  }
  EXPECT_GT(failed, 0);
  EXPECT_LT(failed, 30) << "only the candidate's 10% can fail";
  t.server->TickPolicies();  // judged at once: a breach does not wait for the hold
  RolloutStatus s = t.server->RolloutAction("m", "status").value();
  EXPECT_EQ(s.state, RolloutState::kRolledBack);
  EXPECT_NE(s.reason.find("error rate"), std::string::npos) << s.reason;
  for (int i = 0; i < 300; ++i) {
    EXPECT_TRUE(t.server->Predict("m", {Row(i % 5 == 0 ? 500.f : 1.f)}, {.routing_key = std::to_string(i)}).ok())
        << "after the rollback every request goes to the stable version";
  }
  ASSERT_FALSE(t.Alerts().empty());
  EXPECT_EQ(t.Alerts().back().rfind("rollback: ", 0), 0u) << t.Alerts().back();
  EXPECT_NE(t.server->MetricsText().find("mlship_rollout_rollbacks_total{model=\"m\",version=\"2\"} 1"),
            std::string::npos);
}

TEST(ServerRolloutTest, ACandidateThatAnswersDifferentlyIsCaughtByItsShadow) {
  FakeClock clock;
  TwoVersions t(Loaded(SavedScale(-1, 0)), &clock);  // argmax becomes argmin
  RolloutOptions r = Steps("2");
  r.guard.max_divergence = 0.05;
  ASSERT_TRUE(t.server->StartRollout("m", r).ok());
  // Copies run on spare capacity only, so the shadow compares a sample:
  // ask until it has compared enough rows (bounded). The pause leaves the
  // idle-priority shadow runner a moment of idle CPU, which a loaded
  // machine (ctest -j2) would otherwise not give it between two asks.
  for (int i = 0; i < 20'000 && t.server->router().Shadow("m")->rows < 10; ++i) {
    t.Ask(torch::rand({1, 4}), "user-" + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  t.server->TickPolicies();
  RolloutStatus s = t.server->RolloutAction("m", "status").value();
  EXPECT_EQ(s.state, RolloutState::kRolledBack) << s.reason;
  EXPECT_NE(s.reason.find("answers differ"), std::string::npos) << s.reason;
  ASSERT_TRUE(s.last.shadow.has_value());
  EXPECT_GE(s.last.shadow->rows, 10);
  EXPECT_FALSE(t.server->router().Shadow("m").has_value()) << "the shadow ends with the rollout";
}

TEST(ServerRolloutTest, PauseHoldsAbortSendsTrafficBackAndTheTrafficSettingsAreItsOwn) {
  FakeClock clock;
  TwoVersions t(nullptr, &clock);
  ASSERT_TRUE(t.server->StartRollout("m", Steps("2")).ok());
  EXPECT_EQ(t.server->Configure("m", boost::json::object{{"traffic_split", "1:50,2:50"}}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(t.server->Configure("m", boost::json::object{{"track_outcomes", true}}).ok());
  ASSERT_TRUE(t.server->RolloutAction("m", "pause").ok());
  for (int i = 0; i < 100; ++i) t.Ask(Row(0), std::to_string(i));
  clock.Advance(seconds(100));
  t.server->TickPolicies();
  EXPECT_EQ(t.server->RolloutAction("m", "status")->weight, 10) << "paused: no step";
  ASSERT_TRUE(t.server->RolloutAction("m", "abort").ok());
  EXPECT_EQ(t.server->RolloutAction("m", "status")->state, RolloutState::kAborted);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(t.Ask(Row(0), std::to_string(i)), "1");
  EXPECT_EQ(t.server->RolloutAction("m", "sideways").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(t.server->Configure("m", boost::json::object{{"traffic_split", "1:50,2:50"}}).ok());
  StatusOr<RolloutStatus> again = t.server->StartRollout("m", Steps("2"));
  EXPECT_TRUE(again.ok()) << "a finished rollout makes way for the next: " << again.status().ToString();
}

TEST_F(RepositoryServerTest, ARolloutIsSavedInTheRepositoryAndResumesAfterARestart) {
  Add("m", 2);
  Add("m", 3);
  ASSERT_TRUE(repo_->SetModelSettings("m", boost::json::object{{"version_policy", "all"},
                                                                {"default_version", "1"}}).ok());
  FakeClock clock;
  ServingOptions o = InProcess();
  o.server.clock = &clock;
  {
    auto server = Server::Create(o, root_).value();
    ASSERT_TRUE(server->StartRollout("m", Steps("2")).ok());
    // 10% of 300: past the step's 10 requests.
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(server->Predict("m", {Row(1)}, {.routing_key = std::to_string(i)}).ok());
    clock.Advance(seconds(11));
    server->TickPolicies();
    ASSERT_EQ(server->RolloutAction("m", "status")->weight, 50);
    server->Stop(true);
  }
  repository::ModelConfig config = repo_->Config("m").value();
  EXPECT_EQ(config.aliases.at("stable"), "1");
  EXPECT_EQ(config.aliases.at("canary"), "2");
  auto restarted = Server::Create(o, root_).value();
  StatusOr<RolloutStatus> s = restarted->RolloutAction("m", "status");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, RolloutState::kRunning);
  EXPECT_EQ(s->step, 1);
  EXPECT_EQ(s->weight, 50);
  std::map<float, int> answers;
  for (int i = 0; i < 400; ++i) {
    Result r = restarted->Predict("m", {Row(1)}, {.routing_key = "k" + std::to_string(i)});
    ASSERT_TRUE(r.ok());
    ++answers[(*r)[0][0][0].item<float>()];
  }
  EXPECT_NEAR(answers[3.0f] / 400.0, 0.5, 0.1) << "the candidate's 50% again";
  ASSERT_TRUE(restarted->RolloutAction("m", "abort").ok());
  restarted->Stop(true);
  auto third = Server::Create(o, root_).value();
  EXPECT_EQ(third->RolloutAction("m", "status")->state, RolloutState::kAborted);
  Result r = third->Predict("m", {Row(1)}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0][0][0].item<float>(), 2.0f) << "aborted: the stable version serves";
}

}  // namespace
}  // namespace mlship
