// Int8LinearWeight and mlship's weight-only kernel against float references.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mlship/engine/int8_gemm.h"
#include "mlship/engine/int8_linear.h"

namespace mlship {
namespace {

TEST(Int8WeightOnlyGemm, EveryPathThisCpuHasMatchesTheDequantizedProduct) {
  torch::manual_seed(0);
  ASSERT_TRUE(Int8IsaSupported(Int8Isa::kPortable));
  for (Int8Isa isa : {Int8Isa::kPortable, Int8Isa::kAvx2, Int8Isa::kAvx512}) {
    if (!Int8IsaSupported(isa)) continue;  // the other paths still run
    for (int64_t rows : {1, 3, 4, 7, 32}) {
      for (int64_t in : {1, 17, 64, 200}) {  // tails after 8-, 16- and 64-wide blocks
        at::Tensor x = torch::randn({rows, in});
        at::Tensor w = torch::randint(-127, 128, {24, in}).to(at::kChar);
        at::Tensor scales = torch::rand({24}) + 0.01;
        at::Tensor bias = torch::randn({24});
        at::Tensor y = at::empty({rows, 24});
        Int8WeightOnlyGemmWith(isa, x.data_ptr<float>(), rows, in, w.data_ptr<int8_t>(), scales.data_ptr<float>(),
                               bias.data_ptr<float>(), 24, y.data_ptr<float>());
        at::Tensor expected = at::linear(x, w.to(at::kFloat) * scales.unsqueeze(1), bias);
        EXPECT_TRUE(at::allclose(y, expected, 1e-4, 1e-3))
            << "isa " << static_cast<int>(isa) << " rows " << rows << " in " << in;
      }
    }
  }
}

TEST(Int8WeightOnlyGemm, DefaultPathMatchesTheDequantizedProduct) {
  torch::manual_seed(0);
  for (int64_t rows : {1, 3, 32}) {
    for (int64_t in : {1, 17, 64}) {
      at::Tensor x = torch::randn({rows, in});
      at::Tensor w = torch::randint(-127, 128, {24, in}).to(at::kChar);
      at::Tensor scales = torch::rand({24}) + 0.01;
      at::Tensor bias = torch::randn({24});
      at::Tensor y = at::empty({rows, 24});
      Int8WeightOnlyGemm(x.data_ptr<float>(), rows, in, w.data_ptr<int8_t>(), scales.data_ptr<float>(),
                         bias.data_ptr<float>(), 24, y.data_ptr<float>());
      at::Tensor expected = at::linear(x, w.to(at::kFloat) * scales.unsqueeze(1), bias);
      EXPECT_TRUE(at::allclose(y, expected, 1e-4, 1e-3)) << "rows " << rows << " in " << in;
    }
  }
}

TEST(Int8LinearWeight, QuantizesPerChannelSymmetric) {
  at::Tensor w = torch::tensor({{1.0f, -0.5f}, {0.0f, 0.0f}, {-254.0f, 127.0f}});
  auto q = Int8LinearWeight::Quantize(w, std::nullopt, Int8LinearWeight::kNeverDynamic);
  auto [weight, scales, bias, threshold] = q->GetState();
  EXPECT_TRUE(at::equal(weight, torch::tensor({{127, -64}, {0, 0}, {-127, 64}}, at::kChar)));
  EXPECT_TRUE(at::allclose(scales, torch::tensor({1.0f / 127, 1.0f, 2.0f})));
  EXPECT_EQ(bias.numel(), 0);
  EXPECT_EQ(threshold, Int8LinearWeight::kNeverDynamic);
}

TEST(Int8LinearWeight, BothKernelsAgreeWithFloatWithinQuantizationError) {
  torch::manual_seed(2);
  at::Tensor w = torch::randn({48, 96});
  at::Tensor b = torch::randn({48});
  at::Tensor x = torch::randn({5, 7, 96});  // extra leading dims are kept
  at::Tensor expected = at::linear(x, w, b);
  for (int64_t threshold : {int64_t{1}, Int8LinearWeight::kNeverDynamic}) {
    auto q = Int8LinearWeight::Quantize(w, b, threshold);
    at::Tensor y = q->Forward(x);
    EXPECT_EQ(y.sizes(), expected.sizes());
    EXPECT_LT((y - expected).abs().max().item<float>(), 0.05f * expected.abs().max().item<float>());
    EXPECT_EQ(q->has_dynamic_kernel(), threshold == 1 && TorchHasDynamicInt8Kernel());
  }
}

TEST(Int8LinearWeight, RejectsAnInputOfTheWrongWidth) {
  auto q = Int8LinearWeight::Quantize(torch::randn({4, 8}), std::nullopt, 1);
  EXPECT_THROW(q->Forward(torch::randn({2, 9})), c10::Error);
}

TEST(Int8LinearWeight, StateRoundTripKeepsTheWeightsAndThreshold) {
  auto q = Int8LinearWeight::Quantize(torch::randn({6, 10}), torch::randn({6}), 8);
  auto again = Int8LinearWeight::FromState(q->GetState());
  at::Tensor x = torch::randn({3, 10});
  EXPECT_TRUE(at::equal(again->Forward(x), q->Forward(x)));
  EXPECT_EQ(again->dynamic_from_rows(), 8);
}

}  // namespace
}  // namespace mlship
