// The optimization passes on a C++-built MLP: outputs, shapes, reports, errors.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>
#include <random>

#include "mlship/engine/int8_linear.h"
#include "mlship/optimize/cpu_features.h"
#include "mlship/optimize/low_rank.h"
#include "mlship/optimize/prune.h"
#include "mlship/optimize/quantize.h"
#include "test_mlp.h"

namespace mlship {
namespace {

using testing::Load;
using testing::MlpModule;
using testing::NoLinearModule;

at::Tensor Forward1(const Model& model, const at::Tensor& x) {
  auto out = model.Run({x});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? (*out)[0] : at::Tensor();
}

double MaxDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

std::string Detail(const PassReport& report, const std::string& key) {
  for (const auto& [k, v] : report.details) {
    if (k == key) return v;
  }
  return "<missing " + key + ">";
}

std::string TempPath() {
  static std::mt19937_64 rng(std::random_device{}());
  return (std::filesystem::temp_directory_path() / ("mlship-opt-" + std::to_string(rng()) + ".pt")).string();
}

class PassesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = Load(MlpModule(), 16);
    x_ = torch::randn({64, 16});
    expected_ = Forward1(*model_, x_);
  }
  std::shared_ptr<Model> model_;
  at::Tensor x_, expected_;
};

TEST_F(PassesTest, Int8WeightOnlyKeepsOutputsClose) {
  auto result = Quantize(model_, {QuantDType::kInt8, Int8Mode::kWeightOnly, 3});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->report.layers_changed, 3);
  EXPECT_EQ(Detail(result->report, "kernel"), "weight-only (mlship)");
  EXPECT_LT(MaxDiff(Forward1(*result->model, x_), expected_), 0.02 * expected_.abs().max().item<double>());
}

TEST_F(PassesTest, Int8DynamicUsesTorchsKernelWhereItExists) {
  auto result = Quantize(model_, {QuantDType::kInt8, Int8Mode::kDynamic, 3});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::string kernel = Detail(result->report, "kernel");
  EXPECT_EQ(kernel, TorchHasDynamicInt8Kernel() ? "dynamic (torch quantized::linear_dynamic)" : "weight-only (mlship)");
  EXPECT_LT(MaxDiff(Forward1(*result->model, x_), expected_), 0.05 * expected_.abs().max().item<double>());
}

TEST_F(PassesTest, Int8AutoRecordsTheMeasurements) {
  auto result = Quantize(model_, {QuantDType::kInt8, Int8Mode::kAuto, 2});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  if (TorchHasDynamicInt8Kernel()) {
    EXPECT_NE(Detail(result->report, "best us (weight-only / dynamic)").find("batch 32: "), std::string::npos);
  }
  EXPECT_LT(MaxDiff(Forward1(*result->model, x_), expected_), 0.05 * expected_.abs().max().item<double>());
}

TEST_F(PassesTest, QuantizedModelSavesAndLoadsWithTheSameOutputs) {
  auto result = Quantize(model_, {QuantDType::kInt8, Int8Mode::kWeightOnly, 1});
  ASSERT_TRUE(result.ok());
  std::string path = TempPath();
  ASSERT_TRUE(result->model->Save(path).ok());
  auto again = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(at::equal(Forward1(**again, x_), Forward1(*result->model, x_)));
  std::filesystem::remove(path);
}

TEST_F(PassesTest, HalfPrecisionReportsComputeAndCpu) {
  for (QuantDType dtype : {QuantDType::kFloat16, QuantDType::kBFloat16}) {
    auto result = Quantize(model_, {dtype, Int8Mode::kAuto, 2});
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->report.technique, QuantDTypeName(dtype));
    EXPECT_FALSE(Detail(result->report, "compute").empty());
    EXPECT_EQ(Detail(result->report, "cpu"), HalfPrecisionSupport());
    EXPECT_LT(MaxDiff(Forward1(*result->model, x_), expected_), 0.05 * expected_.abs().max().item<double>());
  }
}

TEST_F(PassesTest, PruneShrinksHiddenLayersAndKeepsTheOutput) {
  auto result = Prune(model_, {0.5});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->report.layers_changed, 2);
  EXPECT_EQ(Detail(result->report, "weights (out x in)"), "32x16 -> 16x16, 32x32 -> 16x16, 4x32 -> 4x16");
  EXPECT_EQ(Forward1(*result->model, x_).sizes(), expected_.sizes());
}

TEST_F(PassesTest, LowRankFactorsOnlyWhereItShrinks) {
  auto result = LowRank(model_, {2, 0.9});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  // 32x16: 2 * 48 < 512; 32x32: 2 * 64 < 1024; 4x32: 2 * 36 < 128.
  EXPECT_EQ(Detail(result->report, "ranks"), "32x16 -> rank 2, 32x32 -> rank 2, 4x32 -> rank 2");
  auto full = LowRank(model_, {std::nullopt, 1.0});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->report.layers_changed, 0);
  EXPECT_EQ(full->model, model_);
}

TEST_F(PassesTest, LowRankAtFullEnergyOfALowRankWeightIsExact) {
  // A rank-3 weight: energy 0.999999 finds rank 3 and the product is unchanged.
  torch::manual_seed(1);
  torch::jit::Module m("RankThree");
  m.register_parameter("w", torch::randn({40, 3}).mm(torch::randn({3, 30})), false);
  m.define("def forward(self, x: Tensor) -> Tensor:\n    return torch.linear(x, self.w)\n");
  auto model = Load(m, 30);
  auto result = LowRank(model, {std::nullopt, 0.999999});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Detail(result->report, "ranks"), "40x30 -> rank 3");
  at::Tensor x = torch::randn({8, 30});
  EXPECT_LT(MaxDiff(Forward1(*result->model, x), Forward1(*model, x)), 1e-3);
}

TEST(OptimizeErrors, RejectsOptionsOutOfRangeWithTheValue) {
  auto model = Load(MlpModule(), 16);
  auto amount = Prune(model, {1.0});
  EXPECT_TRUE(amount.status().IsInvalidArgument());
  EXPECT_EQ(amount.status().message(), "amount must be in [0, 1); was 1");
  auto rank = LowRank(model, {0, 0.9});
  EXPECT_EQ(rank.status().message(), "rank must be at least 1; was 0");
  auto energy = LowRank(model, {std::nullopt, 0.0});
  EXPECT_EQ(energy.status().message(), "energy must be in (0, 1]; was 0");
  auto dtype = ParseQuantDType("int4");
  EXPECT_EQ(dtype.status().message(), "unknown quantization dtype 'int4'; supported: 'int8', 'fp16', 'bf16'");
}

TEST(OptimizeErrors, NothingToChangeIsAReportNotAnError) {
  auto model = Load(NoLinearModule(), 5);
  auto q = Quantize(model, {QuantDType::kInt8, Int8Mode::kAuto, 1});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->model, model);
  EXPECT_EQ(q->report.summary, "nothing to quantize: the model has no Linear layers with constant weights");
  auto p = Prune(model, {0.5});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->report.layers_changed, 0);
  auto l = LowRank(model, {std::nullopt, 0.9});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->report.summary, "nothing to factor: the model has no Linear layers with constant weights");
}

}  // namespace
}  // namespace mlship
