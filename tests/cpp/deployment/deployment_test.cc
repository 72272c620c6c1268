// Deployment without HTTP: requests from many threads are batched, answered
// with their own rows, failures stay with their request, and Stop() answers
// everything it accepted.
#include "mlship/deployment/deployment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>
#include <thread>

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

DeploymentOptions InProcess(int64_t max_batch_size = 8) {
  DeploymentOptions o;
  o.serve_http = false;
  o.batcher.max_batch_size = max_batch_size;
  o.pool.instances = 1;
  o.pool.intra_op_threads = 1;
  return o;
}

std::future<Result> Send(Deployment& dep, at::Tensor x) {
  auto promise = std::make_shared<std::promise<Result>>();
  auto future = promise->get_future();
  dep.Submit({std::move(x)}, TensorTask::TimePoint::max(), [promise](Result r) { promise->set_value(std::move(r)); });
  return future;
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
  EXPECT_FALSE((*dep)->Ready());
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
  DeploymentOptions o = InProcess();
  o.name = "affine";
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), o);
  ASSERT_TRUE(dep.ok());
  auto info = (*dep)->Find("affine", "");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, "1");
  EXPECT_EQ(info->platform, "pytorch_torchscript");
  EXPECT_EQ((*dep)->Find("affine", "2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*dep)->Find("other", "").status().code(), StatusCode::kNotFound);
}

TEST(DeploymentTest, BadOptionsAreRejectedNamingTheOption) {
  DeploymentOptions o = InProcess();
  o.batcher.max_batch_size = 0;
  auto dep = Deployment::Create(Load(testing::AffineModule(), "affine.pt"), o);
  ASSERT_FALSE(dep.ok());
  EXPECT_NE(dep.status().message().find("max_batch_size"), std::string::npos);
  EXPECT_EQ(Deployment::Create(nullptr, InProcess()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlship
