// Server: many models and versions on shared workers, swaps under load,
// golden checks, the repository's version policy, least-recently-used
// unloads and the SLO fallback as a routing policy on a fake clock.
#include "mlship/deployment/server.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "server_fixtures.h"

namespace mlship {
namespace {

TEST(ServerTest, ServesManyModelsSideBySide) {
  ServingOptions o = InProcess();
  auto server = Server::Create(o).value();
  ASSERT_TRUE(server->AddModel("double", {}).ok());
  ASSERT_TRUE(server->AddModel("triple", {}).ok());
  ASSERT_TRUE(server->Deploy("double", "1", Source(Loaded(SavedScale(2, 0)), o), true).ok());
  ASSERT_TRUE(server->Deploy("triple", "1", Source(Loaded(SavedScale(3, 0)), o), true).ok());
  std::string version;
  Result d = server->Predict("double", {Row(5)}, {}, PredictCallers::kIndependent,
                             &version);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(torch::equal((*d)[0], Row(10)));
  EXPECT_EQ(version, "1");
  EXPECT_TRUE(torch::equal(server->Predict("triple", {Row(5)}, {}).value()[0], Row(15)));
  EXPECT_EQ(server->router().ModelNames(), (std::vector<std::string>{"double", "triple"}));
  auto unknown = server->Predict("quadruple", {Row(1)}, {});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("double, triple"), std::string::npos) << unknown.status().message();
  EXPECT_EQ(server->Predict("double", {Row(1)}, {.version = "7"}).status().code(),
            StatusCode::kNotFound);
}

TEST(ServerTest, SwapsUnderConcurrentLoadAnswerEveryRequestWithTheNumbersOfItsVersion) {
  ServingOptions o = InProcess();
  auto server = Server::Create(o).value();
  ASSERT_TRUE(server->AddModel("m", {}).ok());
  // Version v computes x * v + v, so an answer shows which version made it.
  ASSERT_TRUE(server->Deploy("m", "1", Source(Loaded(SavedScale(1, 1)), o), true).ok());
  std::vector<std::shared_ptr<Model>> models;
  for (int v = 2; v <= 11; ++v) models.push_back(Loaded(SavedScale(static_cast<float>(v), static_cast<float>(v))));
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      // Bounded in count; the swaps finish long before.
      for (int i = 0; i < 20000 && !done.load(); ++i) {
        const float x = static_cast<float>(t * 100 + i % 50);
        std::string version;
        Result r = server->Predict("m", {Row(x)}, {}, PredictCallers::kIndependent,
                                   &version);
        if (!r.ok()) {
          failed.fetch_add(1);
          continue;
        }
        const float v = std::stof(version);
        if (!torch::equal((*r)[0], Row(x * v + v))) wrong.fetch_add(1);
        answered.fetch_add(1);
      }
    });
  }
  for (int v = 2; v <= 11; ++v) {
    // Each swap waits for an answer since the one before (bounded), so the swaps do land
    // under load even on a host slow to start the clients.
    const int before = answered.load();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (answered.load() == before && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    ASSERT_TRUE(server->Swap("m", std::to_string(v), Source(models[static_cast<std::size_t>(v - 2)], o)).ok());
  }
  done = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(server->router().DefaultVersion("m").value(), "11");
  EXPECT_EQ(server->router().Versions("m"), (std::vector<std::string>{"11"})) << "old versions are freed";
  EXPECT_NE(server->MetricsText().find("mlship_swaps_total{model=\"m\",version=\"11\"} 1"), std::string::npos);
}

TEST(ServerTest, AVersionThatFailsItsGoldenCheckNeverTakesTraffic) {
  ServingOptions o = InProcess();
  auto server = Server::Create(o).value();
  ASSERT_TRUE(server->AddModel("m", {}).ok());
  ASSERT_TRUE(server->Deploy("m", "1", Source(Loaded(SavedScale(2, 0)), o), true).ok());
  VersionSource wrong = Source(Loaded(SavedScale(2, 0.5)), o);
  wrong.golden = GoldenData{{Row(1)}, {Row(2)}, std::nullopt, std::nullopt};  // it gives 2.5
  Status swapped = server->Swap("m", "2", std::move(wrong));
  EXPECT_EQ(swapped.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(swapped.message().find("does not reproduce its golden outputs"), std::string::npos) << swapped.message();
  EXPECT_EQ(server->router().DefaultVersion("m").value(), "1");
  EXPECT_TRUE(torch::equal(server->Predict("m", {Row(1)}, {}).value()[0], Row(2)));
  VersionSource right = Source(Loaded(SavedScale(2, 0.5)), o);
  right.golden = GoldenData{{Row(1)}, {Row(2.5)}, std::nullopt, std::nullopt};
  ASSERT_TRUE(server->Swap("m", "2", std::move(right)).ok());
  EXPECT_EQ(server->router().DefaultVersion("m").value(), "2");
  EXPECT_NE(server->MetricsText().find("mlship_version_loads_total{model=\"m\",version=\"2\",result=\"check_failed\"} 1"),
            std::string::npos);
}

// forward(x) = x after `rounds` matrix products: slow enough per row that a
// flood of requests queues up behind the one worker.
torch::jit::Module SlowModule() {
  torch::jit::Module m("Slow");
  m.register_buffer("w", torch::eye(4) * 0.5);
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    y = x
    for _ in range(2000):
        y = torch.matmul(y, self.w) * 2.0
    return y
)");
  return m;
}

TEST(ServerTest, AFloodedModelCannotStarveAnotherOfTheSharedWorkers) {
  ServingOptions o = InProcess();
  o.server.workers.instances = 1;  // one worker, shared
  o.version_options.batcher.max_batch_size = 1;  // every request a batch of its own
  auto server = Server::Create(o).value();
  ASSERT_TRUE(server->AddModel("flooded", {}).ok());
  ASSERT_TRUE(server->AddModel("quiet", {}).ok());
  ASSERT_TRUE(server->Deploy("flooded", "1", Source(Loaded(testing::SaveModule(SlowModule(), "slow.pt")), o), true)
                  .ok());
  ASSERT_TRUE(server->Deploy("quiet", "1", Source(Loaded(SavedScale(2, 0)), o), true).ok());
  std::atomic<int> flooded_done{0};
  std::vector<std::future<Result>> flood;
  for (int i = 0; i < 100; ++i) {
    auto answered = std::make_shared<std::promise<Result>>();
    flood.push_back(answered->get_future());
    server->Submit("flooded", {Row(1)}, {}, [answered, &flooded_done](Result r) {
      flooded_done.fetch_add(1);
      answered->set_value(std::move(r));
    });
  }
  const int before = flooded_done.load();
  std::promise<int> quiet_answered;
  server->Submit("quiet", {Row(1)}, {},
                 [&](Result r) { quiet_answered.set_value(r.ok() ? flooded_done.load() : -1); });
  const int after = quiet_answered.get_future().get();
  ASSERT_GE(after, 0);
  // Served within a batch or two of the flooded model's, not behind its 100.
  EXPECT_LE(after - before, 2) << "before " << before << ", after " << after;
  EXPECT_LT(after, 100);
  for (auto& f : flood) EXPECT_TRUE(f.get().ok());
}

TEST_F(RepositoryServerTest, ServesTheNewestAndSwapsToANewerOneOnLoad) {
  Add("digits", 2);
  Add("other", 5);
  auto server = Server::Create(InProcess(), root_).value();
  EXPECT_EQ(Answer(*server, "digits"), 2.0f);
  EXPECT_EQ(Answer(*server, "other"), 5.0f);
  Add("digits", 3);
  EXPECT_EQ(Answer(*server, "digits"), 2.0f) << "nothing changes until the model is loaded again";
  ASSERT_TRUE(server->Load("digits").ok());
  EXPECT_EQ(Answer(*server, "digits"), 3.0f);
  EXPECT_EQ(server->router().Versions("digits"), (std::vector<std::string>{"2"})) << "latest:1 drops version 1";
  ASSERT_TRUE(server->Load("digits", "1").ok()) << "a version outside the policy, by name";
  EXPECT_EQ(Answer(*server, "digits", "1"), 2.0f);
  EXPECT_EQ(Answer(*server, "digits"), 3.0f);
}

TEST_F(RepositoryServerTest, AliasesAndPolicyComeFromTheRepository) {
  Add("digits", 2, {"stable"});
  Add("digits", 3);
  ASSERT_TRUE(repo_->SetModelSettings("digits", boost::json::object{{"version_policy", "all"},
                                                                      {"default_version", "stable"}})
                  .ok());
  auto server = Server::Create(InProcess(), root_).value();
  EXPECT_EQ(Answer(*server, "digits"), 2.0f) << "the default is the alias";
  EXPECT_EQ(Answer(*server, "digits", "2"), 3.0f);
  EXPECT_EQ(Answer(*server, "digits", "stable"), 2.0f);
  ASSERT_TRUE(server->SetAlias("digits", "stable", "2").ok());
  EXPECT_EQ(Answer(*server, "digits"), 3.0f) << "moving the alias moves the traffic";
  EXPECT_EQ(repo_->Config("digits")->aliases.at("stable"), "2") << "and it is persisted";
}

TEST_F(RepositoryServerTest, ATamperedVersionIsNotLoadedAndTheOldOneKeepsServing) {
  Add("digits", 2);
  auto server = Server::Create(InProcess(), root_).value();
  Add("digits", 3);
  std::ofstream(root_ + "/digits/2/model.pt", std::ios::app) << "tampered";
  Status loaded = server->Load("digits");
  EXPECT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find(root_ + "/digits/2/model.pt"), std::string::npos) << loaded.message();
  EXPECT_EQ(Answer(*server, "digits"), 2.0f);
  bool listed = false;
  for (const auto& e : server->RepositoryIndex(false)) {
    if (e.name == "digits" && e.version == "2") {
      EXPECT_EQ(e.state, "UNAVAILABLE");
      listed = e.reason.find("failed verification") != std::string::npos;
    }
  }
  EXPECT_TRUE(listed);
}

TEST_F(RepositoryServerTest, LeastRecentlyUsedVersionsAreUnloadedAndLoadAgainOnDemand) {
  for (float s : {1.0f, 2.0f, 3.0f}) Add("m", s);
  ServingOptions o = InProcess();
  o.server.max_loaded_versions = 2;
  ASSERT_TRUE(ApplyOptions(boost::json::object{{"version_policy", "all"}}, {OptionScope::kModel}, "test", o).ok());
  auto server = Server::Create(o, root_).value();
  // Three served, two loaded: version 3 (the default, pinned) and one more.
  EXPECT_EQ(server->router().Versions("m").size(), 3u);
  EXPECT_EQ(server->router().LoadedVersions().size(), 2u);
  for (const char* v : {"1", "2", "1", "2"}) EXPECT_EQ(Answer(*server, "m", v), std::stof(v));
  EXPECT_EQ(Answer(*server, "m"), 3.0f);
  EXPECT_EQ(server->router().LoadedVersions().size(), 2u);
  const std::string text = server->MetricsText();
  EXPECT_NE(text.find("mlship_cold_starts_total{model=\"m\",version=\"1\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("reason=\"room\""), std::string::npos);
  ServingOptions reject = o;
  reject.server.on_unloaded = UnloadedVersionAction::kReject;
  auto strict = Server::Create(reject, root_).value();
  std::string unloaded;
  for (const std::string& v : strict->router().Versions("m")) {
    if (!strict->router().Slot("m", v)->loaded) unloaded = v;
  }
  ASSERT_FALSE(unloaded.empty());
  auto refused = strict->Predict("m", {Row(1)}, {.version = unloaded});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("being loaded"), std::string::npos);
}

TEST_F(RepositoryServerTest, ConcurrentLoadUnloadAndInferNeverCrashOrHang) {
  Add("m", 2);
  Add("m", 3);
  ServingOptions o = InProcess();
  ASSERT_TRUE(ApplyOptions(boost::json::object{{"version_policy", "all"}}, {OptionScope::kModel}, "test", o).ok());
  auto server = Server::Create(o, root_).value();
  std::atomic<bool> done{false};
  std::atomic<int> ok{0};
  std::atomic<int> other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 5000 && !done.load(); ++i) {
        Result r = server->Predict("m", {Row(1)}, {.version = i % 2 ? "1" : ""});
        if (r.ok()) {
          ok.fetch_add(1);
        } else {
          // Unloaded meanwhile: a clear "not here / not now", never a crash.
          EXPECT_TRUE(r.status().code() == StatusCode::kNotFound || r.status().code() == StatusCode::kUnavailable)
              << r.status().ToString();
          other.fetch_add(1);
        }
      }
    });
  }
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(server->Unload("m", "1").ok());
    ASSERT_TRUE(server->Load("m").ok());
  }
  done = true;
  for (auto& c : clients) c.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(Answer(*server, "m", "1"), 2.0f);
}

TEST(ServerFallbackTest, TheFallbackIsARoutingPolicyJudgedOnTheFakeClock) {
  FakeClock clock;
  ServingOptions o = InProcess();
  o.server.clock = &clock;
  std::vector<std::string> alerts;
  std::mutex mu;
  o.version_options.monitor.on_alert = [&](const monitor::AlertEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    alerts.push_back(e.kind);
  };
  auto server = Server::Create(o).value();
  ModelOptions model;
  model.slo = monitor::SloOptions{};
  model.slo->max_error_rate = 0.2;
  model.slo->min_requests = 5;
  model.fallback_version = "fallback";
  ASSERT_TRUE(server->AddModel("m", model).ok());
  ASSERT_TRUE(server->Deploy("m", "fallback", Source(Loaded(SavedScale(0, 7)), o), false).ok());
  auto picky = LoadModel(testing::SaveModule(testing::PickyModule(), "picky.pt"), [] {
    LoadOptions l;
    l.example_inputs = {torch::zeros({1, 4})};
    return l;
  }());
  ASSERT_TRUE(picky.ok());
  ASSERT_TRUE(server->Deploy("m", "1", Source(*picky, o), true).ok());
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(server->Predict("m", {Row(500)}, {}).ok());
  EXPECT_FALSE(server->Health("m").fallback_active);
  server->TickPolicies();
  ASSERT_TRUE(server->Health("m").fallback_active);
  EXPECT_NE(server->Health("m").reason.find("error rate"), std::string::npos);
  std::string version;
  Result r = server->Predict("m", {Row(500)}, {}, PredictCallers::kIndependent, &version);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(version, "fallback");
  EXPECT_TRUE(torch::equal((*r)[0], Row(7)));
  EXPECT_TRUE(server->Predict("m", {Row(1)}, {.version = "1"}).ok()) << "by name it still answers";
  ASSERT_TRUE(server->Restore("m").ok());
  server->TickPolicies();
  EXPECT_FALSE(server->Health("m").fallback_active) << "failures before the restore do not count again";
  EXPECT_EQ(server->Restore("m").code(), StatusCode::kFailedPrecondition);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(alerts, (std::vector<std::string>{"fallback", "restore"}));
}

}  // namespace
}  // namespace mlship
