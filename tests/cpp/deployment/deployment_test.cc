// Deployment without HTTP: requests from many threads are batched, answered
// with their own rows, failures stay with their request, and Stop() answers
// everything it accepted.
#include "mlship/deployment/deployment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "test_modules.h"

namespace mlship {
namespace {

using Result = StatusOr<std::vector<at::Tensor>>;

std::shared_ptr<Model> Load(torch::jit::Module module, const std::string& file) {
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4})};
  auto model = LoadModel(testing::SaveModule(std::move(module), file), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

ServingOptions InProcess(int64_t max_batch_size = 8) {
  ServingOptions o;
  o.server.serve_http = false;
  o.version_options.batcher.max_batch_size = max_batch_size;
  o.server.workers.instances = 1;
  o.version_options.intra_op_threads = 1;
  return o;
}

std::future<Result> Send(Deployment& dep, at::Tensor x) {
  auto promise = std::make_shared<std::promise<Result>>();
  auto future = promise->get_future();
  dep.Submit({std::move(x)}, TensorTask::TimePoint::max(), [promise](Result r) { promise->set_value(std::move(r)); });
  return future;
}

// forward(x) = x @ weight + bias, for x of shape [N, 4]: every output mixes
// every input, so a row answered with another row's result shows.
torch::jit::Module LinearModule() {
  torch::jit::Module m("Linear");
  m.register_buffer("weight", torch::tensor({{0.5f, -1.0f, 2.0f}, {1.5f, 0.25f, -0.5f}, {-2.0f, 0.75f, 1.0f},
                                             {0.1f, 3.0f, -0.2f}}));
  m.register_buffer("bias", torch::tensor({0.3f, -0.7f, 1.1f}));
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return torch.matmul(x, self.weight) + self.bias
)");
  return m;
}

// Rows of 4 features that differ from every other (thread, call)'s rows.
at::Tensor DistinctRows(int thread, int call, int64_t rows) {
  return torch::arange(rows * 4, torch::kFloat32).reshape({rows, 4}) * 0.01f + static_cast<float>(thread * 1000 + call);
}

// Predict answers like the model run directly: equal up to the summation
// order, which changes with the batch size (relative tolerance).
bool Matches(const Result& got, const Model& model, const at::Tensor& x) {
  auto want = model.Run({x});
  return got.ok() && want.ok() && got->size() == 1 && (*got)[0].sizes() == (*want)[0].sizes() &&
         torch::allclose((*got)[0], (*want)[0], /*rtol=*/1e-5, /*atol=*/1e-5);
}

TEST(DeploymentTest, PredictFromOneThreadMatchesRunningTheModelDirectly) {
  auto model = Load(LinearModule(), "linear.pt");
  ASSERT_NE(model, nullptr);
  auto dep = Deployment::Create(model, InProcess());
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  for (PredictCallers callers : {PredictCallers::kIndependent, PredictCallers::kShareALock}) {
    for (int i = 0; i < 20; ++i) {
      at::Tensor x = torch::randn({1 + i % 5, 4});
      Result r = (*dep)->Predict({x}, TensorTask::TimePoint::max(), callers);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      auto want = model->Run({x});
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      ASSERT_EQ(r->size(), 1u);
      EXPECT_EQ((*r)[0].sizes(), (*want)[0].sizes());
      EXPECT_TRUE(torch::allclose((*r)[0], (*want)[0], /*rtol=*/1e-5, /*atol=*/1e-5))
          << "call " << i << ": " << (*r)[0] << " vs " << (*want)[0];
    }
  }
}

TEST(DeploymentTest, PredictOfInvalidInputsFailsWithInvalidArgument) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess());
  ASSERT_TRUE(dep.ok());
  for (PredictCallers callers : {PredictCallers::kIndependent, PredictCallers::kShareALock}) {
    Result r = (*dep)->Predict({torch::zeros({2, 5})}, TensorTask::TimePoint::max(), callers);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

// Eight threads call Predict 50 times each with rows of their own.
void EightThreadsPredictTheirOwnRows(PredictCallers callers) {
  auto model = Load(LinearModule(), "linear.pt");
  ASSERT_NE(model, nullptr);
  auto dep = Deployment::Create(model, InProcess());
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  constexpr int kThreads = 8;
  constexpr int kCalls = 50;
  std::atomic<int> correct{0};
  std::vector<std::future<void>> finished;
  for (int t = 0; t < kThreads; ++t) {
    finished.push_back(std::async(std::launch::async, [&, t] {
      for (int i = 0; i < kCalls; ++i) {
        at::Tensor x = DistinctRows(t, i, 1 + (i % 3));
        Result r = (*dep)->Predict({x}, TensorTask::TimePoint::max(), callers);
        if (Matches(r, *model, x)) ++correct;
      }
    }));
  }
  for (auto& done : finished) {
    ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "a Predict loop is stuck";
  }
  EXPECT_EQ(correct.load(), kThreads * kCalls);
}

TEST(DeploymentTest, EightThreadsSharingALockEachPredictTheirOwnRows) {
  EightThreadsPredictTheirOwnRows(PredictCallers::kShareALock);
}

TEST(DeploymentTest, EightIndependentThreadsEachPredictTheirOwnRows) {
  EightThreadsPredictTheirOwnRows(PredictCallers::kIndependent);
}

TEST(DeploymentTest, PredictLeavesTheCallersIntraOpThreadCountAsItWas) {
  auto model = Load(LinearModule(), "linear.pt");
  ASSERT_NE(model, nullptr);
  auto dep = Deployment::Create(model, InProcess());  // pool intra_op_threads = 1
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  const int original = at::get_num_threads();
  at::set_num_threads(2);
  ASSERT_EQ(at::get_num_threads(), 2);
  for (PredictCallers callers : {PredictCallers::kIndependent, PredictCallers::kShareALock}) {
    // Alone in flight, so the batch runs on this thread, with the pool's count.
    at::Tensor x = torch::randn({3, 4});
    Result r = (*dep)->Predict({x}, TensorTask::TimePoint::max(), callers);
    EXPECT_TRUE(Matches(r, *model, x));
    EXPECT_EQ(at::get_num_threads(), 2);
  }
  at::set_num_threads(original);
}

TEST(DeploymentTest, EightThreadsEachGetTheirOwnRows) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess());
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  std::vector<std::thread> threads;
  std::atomic<int> correct{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto x = torch::full({1 + (i % 3), 4}, static_cast<float>(t * 100 + i));
        Result r = Send(**dep, x).get();
        if (r.ok() && torch::equal((*r)[0], x * 2 + 1)) ++correct;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(correct.load(), 400);
}

TEST(DeploymentTest, ABadRequestFailsAloneAndItsBatchMatesSucceed) {
  auto dep = Deployment::Create(Load(testing::PickyModule(), "picky.pt"), InProcess());
  ASSERT_TRUE(dep.ok());
  std::vector<std::future<Result>> answers;
  for (int i = 0; i < 12; ++i) answers.push_back(Send(**dep, torch::full({1, 4}, i == 5 ? 500.0f : float(i))));
  for (int i = 0; i < 12; ++i) {
    Result r = answers[i].get();
    if (i == 5) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kInferenceFailed);
      EXPECT_NE(r.status().message().find("value above 100"), std::string::npos) << r.status().message();
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(torch::equal((*r)[0], torch::full({1, 4}, float(i) - 1)));
    }
  }
}

TEST(DeploymentTest, WrongInputsAreInvalidArgumentAndNeverQueued) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess());
  ASSERT_TRUE(dep.ok());
  Result r = Send(**dep, torch::zeros({2, 5})).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Send(**dep, torch::zeros({2, 4})).get().ok());
}

TEST(DeploymentTest, RowsBeyondMaxBatchSizeRunAlone) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess(/*max_batch_size=*/4));
  ASSERT_TRUE(dep.ok());
  auto x = torch::randn({10, 4});
  Result r = Send(**dep, x).get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(torch::allclose((*r)[0], x * 2 + 1));
}

TEST(DeploymentTest, StopWithDrainAnswersEverythingAccepted) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess());
  ASSERT_TRUE(dep.ok());
  std::vector<std::future<Result>> answers;
  for (int i = 0; i < 500; ++i) answers.push_back(Send(**dep, torch::full({1, 4}, float(i))));
  (*dep)->Stop(/*drain=*/true);
  EXPECT_FALSE((*dep)->server().router().Ready());
  for (int i = 0; i < 500; ++i) {
    Result r = answers[i].get();
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_TRUE(torch::equal((*r)[0], torch::full({1, 4}, 2.0f * i + 1)));
  }
  Result late = Send(**dep, torch::zeros({1, 4})).get();
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable);
}

TEST(DeploymentTest, StopWithoutDrainAnswersQueuedRequestsUnavailable) {
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), InProcess(/*max_batch_size=*/1));
  ASSERT_TRUE(dep.ok());
  std::vector<std::future<Result>> answers;
  for (int i = 0; i < 300; ++i) answers.push_back(Send(**dep, torch::full({1, 4}, float(i))));
  (*dep)->Stop(/*drain=*/false);
  int ok = 0, unavailable = 0;
  for (int i = 0; i < 300; ++i) {
    Result r = answers[i].get();  // every request is answered one way or the other
    if (r.ok()) {
      EXPECT_TRUE(torch::equal((*r)[0], torch::full({1, 4}, 2.0f * i + 1)));
      ++ok;
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
      ++unavailable;
    }
  }
  EXPECT_EQ(ok + unavailable, 300);
}

TEST(DeploymentTest, MetadataNamesTheModelAndRefusesUnknownVersions) {
  ServingOptions o = InProcess();
  o.name = "affine";
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), o);
  ASSERT_TRUE(dep.ok());
  const Router& router = (*dep)->server().router();
  auto info = router.Find("affine", "");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, "1");
  EXPECT_EQ(info->platform, "pytorch_torchscript");
  EXPECT_EQ(router.Find("affine", "2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(router.Find("other", "").status().code(), StatusCode::kNotFound);
}

TEST(DeploymentTest, BadOptionsAreRejectedNamingTheOption) {
  ServingOptions o = InProcess();
  o.version_options.batcher.max_batch_size = 0;
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), o);
  ASSERT_FALSE(dep.ok());
  EXPECT_NE(dep.status().message().find("max_batch_size"), std::string::npos);
  EXPECT_EQ(Deployment::Create(nullptr, InProcess()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlship
