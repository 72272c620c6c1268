// Int8ConvWeight: int8 convolution weights packed for a chosen quantized engine.
#include "mlship/engine/int8_conv.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <utility>

namespace mlship {
namespace {

// Swallows torch's warnings that quantized tensors are deprecated while the
// weights are packed: an implementation detail users should not see.
class SilentWarnings final : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

std::optional<at::QEngine> EngineNamed(const std::string& name) {
  if (name == "fbgemm") return at::QEngine::FBGEMM;
  if (name == "onednn") return at::QEngine::ONEDNN;
  if (name == "x86") return at::QEngine::X86;
  if (name == "qnnpack") return at::QEngine::QNNPACK;
  return std::nullopt;
}

// Sets torch's global quantized engine for its scope.
class EngineScope {
 public:
  explicit EngineScope(at::QEngine engine) : previous_(at::globalContext().qEngine()) {
    at::globalContext().setQEngine(engine);
  }
  ~EngineScope() { at::globalContext().setQEngine(previous_); }
  EngineScope(const EngineScope&) = delete;
  EngineScope& operator=(const EngineScope&) = delete;

 private:
  at::QEngine previous_;
};

std::optional<c10::OperatorHandle> Op(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchema({name, overload});
}

c10::IValue Pack(const Int8ConvWeight::State& state) {
  static const std::optional<c10::OperatorHandle> prepack = Op("quantized::conv2d_prepack", "");
  const auto& [weight, scales, bias, stride, padding, dilation, groups, engine_name] = state;
  auto engine = EngineNamed(engine_name);
  if (!prepack || !engine) return c10::IValue();
  static SilentWarnings silent;
  c10::WarningUtils::WarningHandlerGuard quiet(&silent);
  try {
    EngineScope scope(*engine);
    at::Tensor qweight = at::_make_per_channel_quantized_tensor(
        weight, scales.to(at::kDouble), at::zeros({weight.size(0)}, at::kLong), /*axis=*/0);
    std::vector<c10::IValue> stack{qweight, bias.numel() > 0 ? c10::IValue(bias) : c10::IValue(),
                                   c10::IValue(stride), c10::IValue(padding), c10::IValue(dilation),
                                   c10::IValue(groups)};
    prepack->callBoxed(stack);
    return stack.at(0);
  } catch (const std::exception&) {
    return c10::IValue();  // the engine is not in this LibTorch, or refuses the shape: the fp32 fallback runs
  }
}

}  // namespace

bool Int8ConvWeight::EngineSupported(const std::string& engine) {
  auto wanted = EngineNamed(engine);
  if (!wanted) return false;
  const auto& supported = at::globalContext().supportedQEngines();
  return std::find(supported.begin(), supported.end(), *wanted) != supported.end();
}

Int8ConvWeight::Int8ConvWeight(State state) : state_(std::move(state)) {
  const at::Tensor& weight = std::get<0>(state_);
  TORCH_CHECK(weight.dim() == 4 && weight.scalar_type() == at::kChar, "Int8ConvWeight: expected a 4-D int8 weight");
  TORCH_CHECK(std::get<1>(state_).numel() == weight.size(0), "Int8ConvWeight: expected one scale per output channel");
  packed_ = Pack(state_);
}

c10::intrusive_ptr<Int8ConvWeight> Int8ConvWeight::Quantize(const at::Tensor& weight,
                                                            const std::optional<at::Tensor>& bias,
                                                            std::vector<int64_t> stride, std::vector<int64_t> padding,
                                                            std::vector<int64_t> dilation, int64_t groups,
                                                            const std::string& engine) {
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  // A zero filter gets scale 1 so dequantizing never divides by zero.
  at::Tensor scales = w.abs().amax({1, 2, 3}) / 127.0;
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  at::Tensor q = at::round(w / scales.view({-1, 1, 1, 1})).clamp(-127, 127).to(at::kChar);
  at::Tensor b = bias ? bias->detach().to(at::kFloat).contiguous() : at::empty({0}, at::kFloat);
  return c10::make_intrusive<Int8ConvWeight>(
      State{q, scales, b, std::move(stride), std::move(padding), std::move(dilation), groups, engine});
}

c10::intrusive_ptr<Int8ConvWeight> Int8ConvWeight::FromState(State state) {
  return c10::make_intrusive<Int8ConvWeight>(std::move(state));
}

at::Tensor Int8ConvWeight::Forward(const at::Tensor& qx, double scale, int64_t zero_point, bool relu) const {
  TORCH_CHECK(qx.is_quantized() && qx.dim() == 4, "conv2d_int8: expected a 4-D quantized input; got ",
              qx.is_quantized() ? "" : "an unquantized ", qx.dim(), "-D tensor");
  if (!packed_.isNone()) {  // Pack() found quantized::conv2d_prepack, so the conv ops are there too
    static const std::optional<c10::OperatorHandle> conv = Op("quantized::conv2d", "new");
    static const std::optional<c10::OperatorHandle> conv_relu = Op("quantized::conv2d_relu", "new");
    std::vector<c10::IValue> stack{qx, packed_, scale, zero_point};
    (relu ? conv_relu : conv)->callBoxed(stack);
    return stack.at(0).toTensor();
  }
  const auto& [weight, scales, bias, stride, padding, dilation, groups, engine] = state_;
  at::Tensor w = weight.to(at::kFloat) * scales.view({-1, 1, 1, 1});
  at::Tensor y = at::conv2d(qx.dequantize(), w, bias.numel() > 0 ? bias : at::Tensor(), stride, padding, dilation,
                            groups);
  if (relu) y = at::relu(y);
  return at::quantize_per_tensor(y, scale, zero_point, at::kQUInt8);
}

}  // namespace mlship
