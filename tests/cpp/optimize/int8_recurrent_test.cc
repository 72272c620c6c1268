// mlship's int8 LSTM/GRU layers against torch's own at::lstm / at::gru run on
// the same (dequantized) weights: the kernel itself adds no error beyond float
// rounding, whatever the layout, direction or batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mlship/engine/int8_linear.h"
#include "mlship/engine/int8_recurrent.h"

namespace mlship {
namespace {

using WeightPtr = c10::intrusive_ptr<Int8LinearWeight>;

// The float weight [out, in] and bias an Int8LinearWeight stands for.
std::pair<at::Tensor, at::Tensor> Dequantized(const WeightPtr& q) {
  auto [weight, scales, bias, threshold] = q->GetState();
  return {weight.to(at::kFloat) * scales.unsqueeze(1), bias};
}

struct Layer {
  WeightPtr w_ih, w_hh;
  std::vector<at::Tensor> reference_params;  // w_ih, w_hh, b_ih, b_hh, dequantized
};

Layer MakeLayer(int64_t gates, int64_t features, int64_t hidden, int64_t dynamic_from_rows) {
  Layer layer;
  layer.w_ih = Int8LinearWeight::Quantize(torch::randn({gates * hidden, features}) * 0.3,
                                          torch::randn({gates * hidden}) * 0.1, dynamic_from_rows);
  layer.w_hh = Int8LinearWeight::Quantize(torch::randn({gates * hidden, hidden}) * 0.3,
                                          torch::randn({gates * hidden}) * 0.1, dynamic_from_rows);
  auto [w_ih, b_ih] = Dequantized(layer.w_ih);
  auto [w_hh, b_hh] = Dequantized(layer.w_hh);
  layer.reference_params = {w_ih, w_hh, b_ih, b_hh};
  return layer;
}

// The time axis of a [batch, steps, .] (batch_first) or [steps, batch, .] tensor.
int64_t TimeDim(bool batch_first) { return batch_first ? 1 : 0; }

struct Case {
  bool batch_first;
  bool reverse;
  int64_t batch;
  int64_t dynamic_from_rows;
};

const Case kCases[] = {{true, false, 1, Int8LinearWeight::kNeverDynamic},
                       {true, true, 3, Int8LinearWeight::kNeverDynamic},
                       {false, false, 5, Int8LinearWeight::kNeverDynamic},
                       {false, true, 2, Int8LinearWeight::kNeverDynamic},
                       {true, false, 4, 1}};  // torch's dynamic kernel where it exists: int8 activations too

// A random input in the case's layout, and what torch's one-direction layer reads for it.
std::pair<at::Tensor, at::Tensor> InputAndReference(const Case& c, int64_t steps, int64_t features) {
  at::Tensor input = c.batch_first ? torch::randn({c.batch, steps, features}) : torch::randn({steps, c.batch, features});
  return {input, c.reverse ? input.flip(TimeDim(c.batch_first)) : input};
}

// Dynamic int8 activations round the input too, so their tolerance is wider.
float Tolerance(const Case& c) { return c.dynamic_from_rows == 1 && TorchHasDynamicInt8Kernel() ? 0.05f : 1e-4f; }

TEST(Int8RecurrentLayer, LstmMatchesTorchOnTheSameWeights) {
  torch::manual_seed(0);
  const int64_t features = 7, hidden = 20, steps = 6;
  for (const Case& c : kCases) {
    Layer layer = MakeLayer(4, features, hidden, c.dynamic_from_rows);
    auto [input, reference_input] = InputAndReference(c, steps, features);
    at::Tensor h0 = torch::randn({c.batch, hidden}), c0 = torch::randn({c.batch, hidden});
    auto [out, h, cell] = LstmInt8Layer(input, h0, c0, *layer.w_ih, *layer.w_hh, c.batch_first, c.reverse);
    auto [ref_out, ref_h, ref_c] = at::lstm(reference_input, {h0.unsqueeze(0), c0.unsqueeze(0)}, layer.reference_params,
                                            /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0, /*train=*/false,
                                            /*bidirectional=*/false, c.batch_first);
    if (c.reverse) ref_out = ref_out.flip(TimeDim(c.batch_first));
    const float tolerance = Tolerance(c);
    EXPECT_EQ(out.sizes(), ref_out.sizes());
    EXPECT_LT((out - ref_out).abs().max().item<float>(), tolerance) << "batch_first " << c.batch_first << " reverse " << c.reverse;
    EXPECT_LT((h - ref_h[0]).abs().max().item<float>(), tolerance);
    EXPECT_LT((cell - ref_c[0]).abs().max().item<float>(), tolerance);
  }
}

TEST(Int8RecurrentLayer, GruMatchesTorchOnTheSameWeights) {
  torch::manual_seed(1);
  const int64_t features = 5, hidden = 17, steps = 7;
  for (const Case& c : kCases) {
    Layer layer = MakeLayer(3, features, hidden, c.dynamic_from_rows);
    auto [input, reference_input] = InputAndReference(c, steps, features);
    at::Tensor h0 = torch::randn({c.batch, hidden});
    auto [out, h] = GruInt8Layer(input, h0, *layer.w_ih, *layer.w_hh, c.batch_first, c.reverse);
    auto [ref_out, ref_h] = at::gru(reference_input, h0.unsqueeze(0), layer.reference_params, /*has_biases=*/true,
                                    /*num_layers=*/1, /*dropout=*/0, /*train=*/false, /*bidirectional=*/false,
                                    c.batch_first);
    if (c.reverse) ref_out = ref_out.flip(TimeDim(c.batch_first));
    const float tolerance = Tolerance(c);
    EXPECT_EQ(out.sizes(), ref_out.sizes());
    EXPECT_LT((out - ref_out).abs().max().item<float>(), tolerance) << "batch_first " << c.batch_first << " reverse " << c.reverse;
    EXPECT_LT((h - ref_h[0]).abs().max().item<float>(), tolerance);
  }
}

TEST(Int8RecurrentLayer, LstmWithAProjectionMatchesTorch) {
  // nn.LSTM(proj_size=3): h = W_hr (o * tanh(c)) is 3 wide, the cell 5; W_hh reads h.
  torch::manual_seed(4);
  const int64_t features = 4, hidden = 5, proj = 3;
  for (const Case& c : kCases) {
    auto w_ih = Int8LinearWeight::Quantize(torch::randn({4 * hidden, features}) * 0.3, torch::randn({4 * hidden}) * 0.1,
                                           c.dynamic_from_rows);
    auto w_hh = Int8LinearWeight::Quantize(torch::randn({4 * hidden, proj}) * 0.3, torch::randn({4 * hidden}) * 0.1,
                                           c.dynamic_from_rows);
    auto w_hr = Int8LinearWeight::Quantize(torch::randn({proj, hidden}) * 0.3, std::nullopt, c.dynamic_from_rows);
    auto [fw_ih, fb_ih] = Dequantized(w_ih);
    auto [fw_hh, fb_hh] = Dequantized(w_hh);
    at::Tensor fw_hr = Dequantized(w_hr).first;
    auto [input, reference_input] = InputAndReference(c, 6, features);
    at::Tensor h0 = torch::randn({c.batch, proj}), c0 = torch::randn({c.batch, hidden});
    auto [out, h, cell] = LstmInt8Layer(input, h0, c0, *w_ih, *w_hh, c.batch_first, c.reverse, w_hr.get());
    auto [ref_out, ref_h, ref_c] = at::lstm(reference_input, {h0.unsqueeze(0), c0.unsqueeze(0)},
                                            {fw_ih, fw_hh, fb_ih, fb_hh, fw_hr}, true, 1, 0.0, false, false,
                                            c.batch_first);
    if (c.reverse) ref_out = ref_out.flip(TimeDim(c.batch_first));
    const float tolerance = Tolerance(c);
    ASSERT_EQ(out.sizes(), ref_out.sizes());
    EXPECT_LT((out - ref_out).abs().max().item<float>(), tolerance) << "batch_first " << c.batch_first << " reverse " << c.reverse;
    EXPECT_LT((h - ref_h[0]).abs().max().item<float>(), tolerance);
    EXPECT_LT((cell - ref_c[0]).abs().max().item<float>(), tolerance);
  }
  // A projection whose width is not W_hh's input width is refused.
  auto w_ih = Int8LinearWeight::Quantize(torch::randn({4 * hidden, features}), std::nullopt, Int8LinearWeight::kNeverDynamic);
  auto w_hh = Int8LinearWeight::Quantize(torch::randn({4 * hidden, proj}), std::nullopt, Int8LinearWeight::kNeverDynamic);
  auto wrong = Int8LinearWeight::Quantize(torch::randn({proj + 1, hidden}), std::nullopt, Int8LinearWeight::kNeverDynamic);
  EXPECT_THROW(LstmInt8Layer(torch::randn({2, 3, features}), torch::zeros({2, proj}), torch::zeros({2, hidden}), *w_ih,
                             *w_hh, true, false, wrong.get()),
               c10::Error);
}

// A packed batch of 3 sequences of lengths 5, 3, 2 (torch's PackedSequence
// layout: each step's running sequences, longest first).
const std::vector<int64_t> kLengthsBatchSizes = {3, 3, 2, 1, 1};

TEST(Int8RecurrentLayer, PackedSequencesMatchTorchInBothDirections) {
  torch::manual_seed(6);
  const int64_t features = 4, hidden = 6;
  at::Tensor batch_sizes = torch::tensor(kLengthsBatchSizes, torch::kLong);
  at::Tensor data = torch::randn({10, features});  // 3 + 3 + 2 + 1 + 1 rows
  for (int64_t gates : {4, 3}) {
    Layer layer = MakeLayer(gates, features, hidden, Int8LinearWeight::kNeverDynamic);
    at::Tensor h0 = torch::randn({3, hidden}), c0 = torch::randn({3, hidden});
    // torch's bidirectional layer with the same weights both ways: its output's second half
    // and h_n[1] are the reversed direction.
    std::vector<at::Tensor> both = layer.reference_params;
    both.insert(both.end(), layer.reference_params.begin(), layer.reference_params.end());
    at::Tensor h0_both = at::stack({h0, h0}), c0_both = at::stack({c0, c0});
    for (bool reverse : {false, true}) {
      at::Tensor out, h, ref_out, ref_h;
      if (gates == 4) {
        at::Tensor cell, ref_c;
        std::tie(out, h, cell) = LstmInt8PackedLayer(data, batch_sizes, h0, c0, *layer.w_ih, *layer.w_hh, reverse);
        std::tie(ref_out, ref_h, ref_c) = at::lstm(data, batch_sizes, {h0_both, c0_both}, both, true, 1, 0.0, false, true);
        EXPECT_LT((cell - ref_c[reverse ? 1 : 0]).abs().max().item<float>(), 1e-4f);
      } else {
        std::tie(out, h) = GruInt8PackedLayer(data, batch_sizes, h0, *layer.w_ih, *layer.w_hh, reverse);
        std::tie(ref_out, ref_h) = at::gru(data, batch_sizes, h0_both, both, true, 1, 0.0, false, true);
      }
      ASSERT_EQ(out.sizes(), (std::vector<int64_t>{10, hidden}));
      at::Tensor ref_half = ref_out.narrow(1, reverse ? hidden : 0, hidden);
      EXPECT_LT((out - ref_half).abs().max().item<float>(), 1e-4f) << "gates " << gates << " reverse " << reverse;
      EXPECT_LT((h - ref_h[reverse ? 1 : 0]).abs().max().item<float>(), 1e-4f) << "gates " << gates;
    }
  }
}

TEST(Int8RecurrentLayer, RejectsBatchSizesThatDoNotDescribeThePackedData) {
  Layer lstm = MakeLayer(4, 4, 6, Int8LinearWeight::kNeverDynamic);
  at::Tensor h0 = torch::zeros({3, 6});
  at::Tensor data = torch::randn({10, 4});
  auto run = [&](const at::Tensor& sizes) {
    return LstmInt8PackedLayer(data, sizes, h0, h0, *lstm.w_ih, *lstm.w_hh, false);
  };
  EXPECT_THROW(run(torch::tensor(std::vector<int64_t>{3, 3, 2, 1}, torch::kLong)), c10::Error);  // 9 rows, not 10
  EXPECT_THROW(run(torch::tensor(std::vector<int64_t>{3, 3, 1, 2, 1}, torch::kLong)), c10::Error);  // increasing
  EXPECT_THROW(run(torch::tensor(std::vector<int64_t>{3, 3, 2, 2, 0}, torch::kLong)), c10::Error);  // a zero
  EXPECT_THROW(run(torch::tensor(std::vector<float>{3, 3, 2, 1, 1})), c10::Error);  // not int64
  try {
    run(torch::tensor(std::vector<int64_t>{3, 3, 2, 1}, torch::kLong));
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("add up to 9 rows; the packed data has 10"),
              std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(Int8RecurrentLayer, NoStepsGivesAnEmptyOutputAndTheInitialState) {
  Layer layer = MakeLayer(4, 3, 4, Int8LinearWeight::kNeverDynamic);
  at::Tensor h0 = torch::randn({2, 4}), c0 = torch::randn({2, 4});
  auto [out, h, cell] = LstmInt8Layer(torch::randn({2, 0, 3}), h0, c0, *layer.w_ih, *layer.w_hh, true, false);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_TRUE(at::equal(h, h0));
  EXPECT_TRUE(at::equal(cell, c0));
}

TEST(Int8RecurrentLayer, RejectsShapesThatDoNotFitTheWeights) {
  Layer lstm = MakeLayer(4, 3, 4, Int8LinearWeight::kNeverDynamic);
  at::Tensor h0 = torch::zeros({2, 4});
  // Not 3-D; the wrong number of features; a state for another batch; GRU weights given LSTM ones.
  EXPECT_THROW(LstmInt8Layer(torch::randn({2, 3}), h0, h0, *lstm.w_ih, *lstm.w_hh, true, false), c10::Error);
  EXPECT_THROW(LstmInt8Layer(torch::randn({2, 5, 4}), h0, h0, *lstm.w_ih, *lstm.w_hh, true, false), c10::Error);
  EXPECT_THROW(LstmInt8Layer(torch::randn({3, 5, 3}), h0, h0, *lstm.w_ih, *lstm.w_hh, true, false), c10::Error);
  EXPECT_THROW(GruInt8Layer(torch::randn({2, 5, 3}), h0, *lstm.w_ih, *lstm.w_hh, true, false), c10::Error);
  try {
    LstmInt8Layer(torch::randn({2, 5, 4}), h0, h0, *lstm.w_ih, *lstm.w_hh, true, false);
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("expected 3 input features"), std::string::npos)
        << e.what_without_backtrace();
  }
}

}  // namespace
}  // namespace mlship
