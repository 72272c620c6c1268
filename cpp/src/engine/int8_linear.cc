// Int8LinearWeight: quantized weights and the choice between torch's dynamic
// int8 kernel and mlship's weight-only one.
#include "mlship/engine/int8_linear.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include "mlship/engine/int8_gemm.h"

namespace mlship {
namespace {

// Swallows torch warnings for the scope of a WarningHandlerGuard. Torch 2.13
// warns that quantized tensors are deprecated; its prepack op still takes
// one, and that is an implementation detail users should not see.
class SilentWarnings final : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

std::optional<c10::OperatorHandle> FindOp(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

// torch's packed weights for quantized::linear_dynamic, or None.
c10::IValue Prepack(const at::Tensor& weight, const at::Tensor& scales, const at::Tensor& bias) {
  static const std::optional<c10::OperatorHandle> prepack = FindOp("quantized::linear_prepack");
  if (!prepack || !TorchHasDynamicInt8Kernel()) return c10::IValue();
  static SilentWarnings silent;
  c10::WarningUtils::WarningHandlerGuard quiet(&silent);
  try {
    at::Tensor qweight = at::_make_per_channel_quantized_tensor(
        weight, scales.to(at::kDouble), at::zeros({weight.size(0)}, at::kLong), /*axis=*/0);
    std::vector<c10::IValue> stack{qweight, bias.defined() ? c10::IValue(bias) : c10::IValue()};
    prepack->callBoxed(stack);
    return stack.at(0);
  } catch (const std::exception&) {
    return c10::IValue();  // e.g. no quantized engine for this CPU: the weight-only kernel serves
  }
}

at::Tensor RunDynamic(const at::Tensor& x2d, const c10::IValue& packed, bool relu) {
  static const std::optional<c10::OperatorHandle> linear_dynamic = FindOp("quantized::linear_dynamic");
  static const std::optional<c10::OperatorHandle> linear_relu_dynamic = FindOp("quantized::linear_relu_dynamic");
  // reduce_range: 7-bit activations, torch's own default on x86, so that CPUs
  // without VNNI cannot saturate 16-bit intermediate sums.
  std::vector<c10::IValue> stack{x2d, packed, true};
  if (relu && linear_relu_dynamic) {
    linear_relu_dynamic->callBoxed(stack);
    return stack.at(0).toTensor();
  }
  linear_dynamic->callBoxed(stack);
  at::Tensor y = stack.at(0).toTensor();
  return relu ? y.relu_() : y;
}

}  // namespace

bool TorchHasDynamicInt8Kernel() {
  static const bool has = FindOp("quantized::linear_dynamic").has_value() &&
                          FindOp("quantized::linear_prepack").has_value();
  return has;
}

Int8LinearWeight::Int8LinearWeight(at::Tensor weight, at::Tensor scales, at::Tensor bias, int64_t dynamic_from_rows)
    : weight_(weight.contiguous()),
      scales_(scales.to(at::kFloat).contiguous()),
      bias_(bias.defined() ? bias.to(at::kFloat).contiguous() : bias),
      dynamic_from_rows_(dynamic_from_rows) {
  TORCH_CHECK(weight_.dim() == 2 && weight_.scalar_type() == at::kChar, "Int8LinearWeight: expected an int8 matrix");
  TORCH_CHECK(scales_.numel() == weight_.size(0), "Int8LinearWeight: expected one scale per output channel");
  TORCH_CHECK(!bias_.defined() || bias_.numel() == weight_.size(0), "Int8LinearWeight: bias size mismatch");
  if (dynamic_from_rows_ != kNeverDynamic) packed_ = Prepack(weight_, scales_, bias_);
}

c10::intrusive_ptr<Int8LinearWeight> Int8LinearWeight::Quantize(const at::Tensor& weight,
                                                                const std::optional<at::Tensor>& bias,
                                                                int64_t dynamic_from_rows) {
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  // A zero row gets scale 1 so dequantizing never divides by zero.
  at::Tensor scales = w.abs().amax({1}) / 127.0;
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  at::Tensor q = at::round(w / scales.unsqueeze(1)).clamp(-127, 127).to(at::kChar);
  at::Tensor b = bias ? bias->detach().to(at::kFloat).contiguous() : at::Tensor();
  return c10::make_intrusive<Int8LinearWeight>(q, scales, b, dynamic_from_rows);
}

c10::intrusive_ptr<Int8LinearWeight> Int8LinearWeight::FromState(State state) {
  auto& [weight, scales, bias, dynamic_from_rows] = state;
  return c10::make_intrusive<Int8LinearWeight>(weight, scales, bias.numel() == 0 ? at::Tensor() : bias,
                                               dynamic_from_rows);
}

Int8LinearWeight::State Int8LinearWeight::GetState() const {
  return {weight_, scales_, bias_.defined() ? bias_ : at::empty({0}, at::kFloat), dynamic_from_rows_};
}

c10::intrusive_ptr<Int8LinearWeight> Int8LinearWeight::WithDynamicFromRows(int64_t rows) const {
  return c10::make_intrusive<Int8LinearWeight>(weight_, scales_, bias_, rows);
}

at::Tensor Int8LinearWeight::Forward(const at::Tensor& x, bool relu) const {
  const int64_t in = in_features();
  const int64_t out = out_features();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear_int8: expected an input whose last dimension is ", in,
              "; got shape ", x.sizes());
  at::Tensor x2d = x.to(at::kFloat).reshape({-1, in}).contiguous();
  const int64_t rows = x2d.size(0);
  at::Tensor y;
  if (!packed_.isNone() && rows >= dynamic_from_rows_) {
    y = RunDynamic(x2d, packed_, relu);
  } else {
    y = at::empty({rows, out}, x2d.options());
    Int8WeightOnlyGemm(x2d.const_data_ptr<float>(), rows, in, weight_.const_data_ptr<int8_t>(),
                       scales_.const_data_ptr<float>(), bias_.defined() ? bias_.const_data_ptr<float>() : nullptr,
                       out, y.mutable_data_ptr<float>());
    if (relu) y.relu_();
  }
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  y = y.view(shape);
  return x.scalar_type() == at::kFloat ? y : y.to(x.scalar_type());
}

}  // namespace mlship
