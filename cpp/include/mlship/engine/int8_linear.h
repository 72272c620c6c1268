// Int8LinearWeight: the weights of one int8 Linear layer, and how it runs.
//
// mlship's quantize pass replaces `aten::linear(x, W, b)` in a TorchScript
// graph with `mlship::linear_int8(x, packed)`, where `packed` is one of these
// held as a graph constant. It stores plain tensors (int8 weights with one
// symmetric scale per output channel, a float bias), so a saved model carries
// no kernel-specific format and loads on any torch build once mlship's ops are
// registered (see mlship_ops.h).
//
// Two kernels, chosen per call by the number of rows in x:
// - dynamic: activations are quantized per batch and multiplied in int8 by
//   torch's own `quantized::linear_dynamic` (FBGEMM/oneDNN), when the
//   installed LibTorch has it (looked up in the dispatcher at run time);
// - weight-only: mlship's kernel (int8_gemm.h) multiplies float activations by
//   the int8 weights, dequantizing on the fly.
// Rows >= dynamic_from_rows() use the dynamic kernel when torch has it; the
// rest, and everything on a torch without it, use the weight-only kernel.
//
// Thread-safety: immutable after construction; Forward() is safe for
// concurrent use.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <torch/custom_class.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

namespace mlship {

class Int8LinearWeight : public torch::CustomClassHolder {
 public:
  // Never switch to the dynamic kernel.
  static constexpr int64_t kNeverDynamic = std::numeric_limits<int64_t>::max();

  // The serialized form: (int8 weight [out, in], float scales [out],
  // float bias [out] or an empty tensor, dynamic_from_rows).
  using State = std::tuple<at::Tensor, at::Tensor, at::Tensor, int64_t>;

  // Quantizes a float weight [out, in] per output channel, symmetric:
  // scale = max|row| / 127, q = round(w / scale) clamped to [-127, 127].
  static c10::intrusive_ptr<Int8LinearWeight> Quantize(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                                       int64_t dynamic_from_rows);
  // Rebuilds from State (used when a saved model is loaded).
  static c10::intrusive_ptr<Int8LinearWeight> FromState(State state);

  // y = x W^T + b for x of shape [..., in]; returns [..., out] in x's dtype.
  // With `relu`, max(y, 0): torch's dynamic kernel applies it as it writes y
  // (quantized::linear_relu_dynamic), the weight-only one in place after.
  at::Tensor Forward(const at::Tensor& x, bool relu = false) const;

  State GetState() const;
  // The same weights with another kernel threshold.
  c10::intrusive_ptr<Int8LinearWeight> WithDynamicFromRows(int64_t rows) const;

  int64_t dynamic_from_rows() const { return dynamic_from_rows_; }
  // True when torch's dynamic int8 kernel is there to use.
  bool has_dynamic_kernel() const { return !packed_.isNone(); }
  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }

  Int8LinearWeight(at::Tensor weight, at::Tensor scales, at::Tensor bias, int64_t dynamic_from_rows);

 private:
  at::Tensor weight_;  // int8 [out, in], contiguous
  at::Tensor scales_;  // float32 [out]
  at::Tensor bias_;    // float32 [out], or undefined when the layer has none
  int64_t dynamic_from_rows_;
  // torch's packed weights for quantized::linear_dynamic; None when this
  // LibTorch has no such kernel or the threshold says never.
  c10::IValue packed_;
};

// True when the installed LibTorch registers quantized::linear_dynamic and
// quantized::linear_prepack (FBGEMM or oneDNN builds do).
bool TorchHasDynamicInt8Kernel();

}  // namespace mlship
