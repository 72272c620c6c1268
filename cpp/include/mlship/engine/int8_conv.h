// Int8ConvWeight: the weights of one int8 2-D convolution on int8 activations.
//
// mlship's static int8 pass replaces `aten::conv2d(x, W, b, ...)` (and the
// ReLU after it) with `mlship::conv2d_int8(qx, packed, scale, zero_point,
// relu)`, where qx is a quint8 tensor and `packed` is one of these held as a
// graph constant. It stores plain tensors (int8 weights with one symmetric
// scale per output channel, a float bias), the convolution's parameters and
// the name of torch's quantized engine it was measured fastest with, and packs
// the weights for that engine (quantized::conv2d_prepack) when it is built or
// loaded. Storing the engine here, rather than using torch's packed class,
// keeps the measured choice across save and load: torch's class repacks for
// whichever engine is global when it is loaded.
//
// On a LibTorch whose quantized engines cannot pack the weights, Forward
// dequantizes, convolves in fp32 and requantizes: slower, same function.
//
// Thread-safety: immutable after construction; Forward() is safe for
// concurrent use. Construction switches torch's global quantized engine for
// the duration of the packing, so models should not be built concurrently
// with other code that packs quantized weights.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <torch/custom_class.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace mlship {

class Int8ConvWeight : public torch::CustomClassHolder {
 public:
  // The serialized form: (int8 weight [out, in / groups, kh, kw], float
  // scales [out], float bias [out] or an empty tensor, stride, padding,
  // dilation, groups, engine).
  using State = std::tuple<at::Tensor, at::Tensor, at::Tensor, std::vector<int64_t>, std::vector<int64_t>,
                           std::vector<int64_t>, int64_t, std::string>;

  // Quantizes a float weight per output channel, symmetric (scale =
  // max|w| / 127), and packs it for `engine` ("fbgemm", "onednn", "x86",
  // "qnnpack").
  static c10::intrusive_ptr<Int8ConvWeight> Quantize(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                                     std::vector<int64_t> stride, std::vector<int64_t> padding,
                                                     std::vector<int64_t> dilation, int64_t groups,
                                                     const std::string& engine);
  static c10::intrusive_ptr<Int8ConvWeight> FromState(State state);
  explicit Int8ConvWeight(State state);

  // conv2d(qx) (then ReLU), requantized to (scale, zero_point), quint8.
  at::Tensor Forward(const at::Tensor& qx, double scale, int64_t zero_point, bool relu) const;

  const State& GetState() const { return state_; }
  // The engine the weights are packed for, or "none" (the fp32 fallback).
  std::string packed_engine() const { return packed_.isNone() ? "none" : std::get<7>(state_); }

  // Whether this LibTorch can pack int8 convolution weights for `engine`.
  static bool EngineSupported(const std::string& engine);

 private:
  State state_;
  c10::IValue packed_;  // torch's Conv2dPackedParamsBase, or None
};

}  // namespace mlship
