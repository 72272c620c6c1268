// Loading and running TorchScript models through the Model interface.
#include "mlship/engine/model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "mlship/engine/error_text.h"
#include "mlship/engine/model_file.h"
#include "test_modules.h"

namespace mlship {
namespace {

using testing::AffineModule;
using testing::DictModule;
using testing::PickyModule;
using testing::SaveModule;

std::shared_ptr<Model> LoadWithExamples(const std::string& path, std::vector<at::Tensor> examples) {
  LoadOptions options;
  options.example_inputs = std::move(examples);
  auto model = LoadModel(path, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

TEST(ModelTest, RunsTorchScriptAndMatchesTheFormula) {
  auto model = LoadWithExamples(SaveModule(AffineModule(), "affine.pt"), {torch::zeros({1, 4})});
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->format(), ModelFormat::kTorchScript);
  auto x = torch::randn({5, 4});
  auto out = model->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_TRUE(torch::allclose((*out)[0], x * 2 + 1));
}

TEST(ModelTest, DerivesSignatureWithForwardArgumentNamesAndDynamicBatch) {
  auto model = LoadWithExamples(SaveModule(DictModule(), "dict.pt"), {torch::ones({2, 3}), torch::ones({2, 3})});
  ASSERT_NE(model, nullptr);
  const Signature& sig = model->signature();
  ASSERT_EQ(sig.inputs.size(), 2u);
  EXPECT_EQ(sig.inputs[0].ToString(), "features: FP32[-1, 3]");
  EXPECT_EQ(sig.inputs[1].name, "mask");
  EXPECT_EQ(sig.output_kind, OutputKind::kDict);
  ASSERT_EQ(sig.outputs.size(), 2u);
  auto out = model->Run({torch::ones({4, 3}), torch::zeros({4, 3})});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // Outputs come back in signature order, whatever the dict's order.
  for (std::size_t i = 0; i < sig.outputs.size(); ++i) {
    if (sig.outputs[i].name == "sum") EXPECT_TRUE(torch::allclose((*out)[i], torch::full({4, 1}, 3.0)));
    if (sig.outputs[i].name == "masked") EXPECT_TRUE(torch::allclose((*out)[i], torch::zeros({4, 3})));
  }
}

TEST(ModelTest, SavedModelCarriesItsSignature) {
  auto model = LoadWithExamples(SaveModule(AffineModule(), "affine.pt"), {torch::zeros({1, 4})});
  ASSERT_NE(model, nullptr);
  std::string saved = testing::TempPath("saved.pt");
  ASSERT_TRUE(model->Save(saved).ok());
  auto again = LoadModel(saved, LoadOptions{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->signature(), model->signature());
}

TEST(ModelTest, WithoutSignatureOrExamplesLoadFailsAndSaysWhatToPass) {
  auto model = LoadModel(SaveModule(AffineModule(), "affine.pt"), LoadOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kModelLoadFailed);
  EXPECT_NE(model.status().message().find("signature= or example_inputs="), std::string::npos);
  EXPECT_NE(model.status().message().find("--input NAME:DTYPE:DIMS"), std::string::npos) << "the flag that fixes it";
}

TEST(ModelTest, SidecarSignatureIsUsedAndAnInvalidOneIsAnError) {
  std::string path = SaveModule(AffineModule(), "affine.pt");
  Signature sig;
  sig.inputs = {{"x", DType::kFloat32, {-1, 4}}};
  sig.outputs = {{"y", DType::kFloat32, {-1, 4}}};
  {
    std::ofstream(SignatureSidecarPath(path)) << sig.ToJson();
  }
  auto model = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->signature(), sig);
  {
    std::ofstream(SignatureSidecarPath(path)) << "{not json";
  }
  auto bad = LoadModel(path, LoadOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("signature beside"), std::string::npos);
}

struct BadInputCase {
  std::vector<at::Tensor> inputs;
  std::string expected_message;
};

TEST(ModelTest, BadInputsAreInvalidArgumentAndTheModelKeepsWorking) {
  auto model = LoadWithExamples(SaveModule(AffineModule(), "affine.pt"), {torch::zeros({1, 4})});
  ASSERT_NE(model, nullptr);
  std::vector<BadInputCase> cases = {
      {{}, "expected 1 input(s) (x); got 0"},
      {{torch::zeros({2, 4}, torch::kDouble)}, "expected dtype FP32; got FP64"},
      {{torch::zeros({4})}, "expected rank 2 with shape [-1, 4]; got rank 1 with shape [4]"},
      {{torch::zeros({2, 5})}, "expected shape [-1, 4]; got [2, 5] (dimension 1 differs)"},
      {{torch::zeros({0, 4})}, "is empty: got shape [0, 4]"},
      {{torch::zeros({2, 4}, torch::kComplexFloat)}, "expected dtype FP32; got ComplexFloat"},
  };
  for (const auto& c : cases) {
    auto out = model->Run(c.inputs);
    ASSERT_FALSE(out.ok()) << c.expected_message;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find(c.expected_message), std::string::npos)
        << "got: " << out.status().message();
    EXPECT_TRUE(model->Run({torch::ones({1, 4})}).ok());
  }
}

TEST(ModelTest, NonContiguousInputsAreAcceptedAndNanPassesThrough) {
  auto model = LoadWithExamples(SaveModule(AffineModule(), "affine.pt"), {torch::zeros({1, 4})});
  ASSERT_NE(model, nullptr);
  auto x = torch::randn({4, 3}).t();  // [3, 4], not contiguous
  ASSERT_FALSE(x.is_contiguous());
  auto out = model->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(torch::allclose((*out)[0], x * 2 + 1));
  auto nan = torch::full({1, 4}, std::numeric_limits<float>::quiet_NaN());
  auto nan_out = model->Run({nan});
  ASSERT_TRUE(nan_out.ok());
  EXPECT_TRUE((*nan_out)[0].isnan().all().item<bool>());
}

TEST(ModelTest, ForwardThatRaisesIsInferenceFailedWithTheModelsMessage) {
  auto model = LoadWithExamples(SaveModule(PickyModule(), "picky.pt"), {torch::zeros({1, 2})});
  ASSERT_NE(model, nullptr);
  auto bad = model->Run({torch::full({1, 2}, 500.0)});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInferenceFailed);
  EXPECT_NE(bad.status().message().find("value above 100"), std::string::npos) << bad.status().message();
  EXPECT_EQ(bad.status().message().find("Traceback"), std::string::npos) << "no tracebacks in messages";
  auto good = model->Run({torch::ones({1, 2})});
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(torch::allclose((*good)[0], torch::zeros({1, 2})));
}

TEST(ModelTest, ConcurrentRunsFromEightThreadsAreAllCorrect) {
  auto model = LoadWithExamples(SaveModule(AffineModule(), "affine.pt"), {torch::zeros({1, 4})});
  ASSERT_NE(model, nullptr);
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto x = torch::full({1 + (i % 7), 4}, static_cast<float>(t * 1000 + i));
        auto out = model->Run({x});
        if (!out.ok() || !torch::equal((*out)[0], x * 2 + 1)) ++wrong;
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), 1600);
  EXPECT_EQ(wrong.load(), 0);
}

std::shared_ptr<Model> LoadWithOneThread() {
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4})};
  options.intra_op_threads = 1;
  auto model = LoadModel(SaveModule(AffineModule(), "affine.pt"), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

TEST(ModelTest, IntraOpThreadsOptionIsAppliedOnTheCallingThread) {
  auto model = LoadWithOneThread();
  ASSERT_NE(model, nullptr);
  std::thread([&] {
    ASSERT_TRUE(model->Run({torch::ones({1, 4})}).ok());
    EXPECT_EQ(at::get_num_threads(), 1);
  }).join();
}

TEST(ModelTest, ACallersThreadCountOverridesTheModelsForThatCall) {
  auto model = LoadWithOneThread();
  ASSERT_NE(model, nullptr);
  std::thread([&] {
    ASSERT_TRUE(model->RunUnchecked({torch::ones({1, 4})}, 2).ok());
    EXPECT_EQ(at::get_num_threads(), 2);
    ASSERT_TRUE(model->RunUnchecked({torch::ones({1, 4})}).ok());
    EXPECT_EQ(at::get_num_threads(), 1);
  }).join();
}

TEST(ErrorSummaryTest, KeepsTheLastMeaningfulLine) {
  std::runtime_error e("Traceback of TorchScript:\n  File x, line 3\n    return a\n\nbuiltins.ValueError: boom\n");
  EXPECT_EQ(ErrorSummary(e), "ValueError: boom");
}

}  // namespace
}  // namespace mlship
