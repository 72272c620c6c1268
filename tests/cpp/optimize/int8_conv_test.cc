// Int8ConvWeight: the packed engine survives a save-style round trip whatever
// torch's global engine is, and every engine (and the fp32 fallback) computes
// the convolution of the dequantized weights, up to one output step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mlship/engine/int8_conv.h"

namespace mlship {
namespace {

using ConvPtr = c10::intrusive_ptr<Int8ConvWeight>;

ConvPtr MakeConv(const std::string& engine) {
  torch::manual_seed(3);
  return Int8ConvWeight::Quantize(torch::randn({8, 4, 3, 3}) * 0.2, torch::randn({8}) * 0.1, {2, 2}, {1, 1}, {1, 1},
                                  1, engine);
}

// conv2d of the dequantized input with the dequantized weights, in fp32.
at::Tensor Reference(const ConvPtr& conv, const at::Tensor& qx, bool relu) {
  const auto& [weight, scales, bias, stride, padding, dilation, groups, engine] = conv->GetState();
  at::Tensor y = at::conv2d(qx.dequantize(), weight.to(at::kFloat) * scales.view({-1, 1, 1, 1}), bias, stride,
                            padding, dilation, groups);
  return relu ? at::relu(y) : y;
}

TEST(Int8ConvWeightTest, EveryEngineComputesTheDequantizedConvolution) {
  torch::manual_seed(4);
  at::Tensor qx = at::quantize_per_tensor(torch::randn({2, 4, 9, 9}), 0.02, 128, at::kQUInt8);
  const double scale = 0.05;
  for (const std::string engine : {"fbgemm", "onednn", "no-such-engine"}) {
    if (engine != "no-such-engine" && !Int8ConvWeight::EngineSupported(engine)) continue;
    ConvPtr conv = MakeConv(engine);
    EXPECT_EQ(conv->packed_engine(), engine == "no-such-engine" ? "none" : engine);
    for (bool relu : {false, true}) {
      at::Tensor y = conv->Forward(qx, scale, relu ? 0 : 128, relu);
      ASSERT_TRUE(y.is_quantized());
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 8, 5, 5}));
      at::Tensor expected = Reference(conv, qx, relu).clamp(relu ? 0.0 : -128 * scale, (relu ? 255 : 127) * scale);
      // Requantized to steps of `scale`; the int8 product is exact, so one step covers the rounding.
      EXPECT_LE((y.dequantize() - expected).abs().max().item<double>(), scale * 1.01) << engine << " relu " << relu;
    }
  }
}

TEST(Int8ConvWeightTest, ALoadedWeightPacksForItsOwnEngineNotTheGlobalOne) {
  for (const std::string engine : {"fbgemm", "onednn"}) {
    if (!Int8ConvWeight::EngineSupported(engine)) continue;
    const at::QEngine global = at::globalContext().qEngine();
    ConvPtr again = Int8ConvWeight::FromState(MakeConv(engine)->GetState());
    EXPECT_EQ(again->packed_engine(), engine);
    EXPECT_EQ(at::globalContext().qEngine(), global);  // the engine was switched for the packing only
  }
}

TEST(Int8ConvWeightTest, RefusesAnUnquantizedInput) {
  ConvPtr conv = MakeConv("fbgemm");
  EXPECT_THROW(conv->Forward(torch::randn({1, 4, 9, 9}), 0.05, 0, false), c10::Error);
}

}  // namespace
}  // namespace mlship
