// Quantize(): option parsing and dispatch to the int8 and half passes.
#include "mlship/optimize/quantize.h"

#include "quantize_passes.h"

namespace mlship {

StatusOr<QuantDType> ParseQuantDType(std::string_view name) {
  if (name == "int8") return QuantDType::kInt8;
  if (name == "fp16" || name == "float16") return QuantDType::kFloat16;
  if (name == "bf16" || name == "bfloat16") return QuantDType::kBFloat16;
  return Status::InvalidArgument("unknown quantization dtype '" + std::string(name) +
                                 "'; supported: 'int8', 'fp16', 'bf16'");
}

std::string_view QuantDTypeName(QuantDType dtype) {
  switch (dtype) {
    case QuantDType::kInt8:
      return "int8";
    case QuantDType::kFloat16:
      return "fp16";
    case QuantDType::kBFloat16:
      return "bf16";
  }
  return "int8";
}

StatusOr<Int8Mode> ParseInt8Mode(std::string_view name) {
  if (name == "auto") return Int8Mode::kAuto;
  if (name == "dynamic") return Int8Mode::kDynamic;
  if (name == "weight_only") return Int8Mode::kWeightOnly;
  return Status::InvalidArgument("unknown int8 mode '" + std::string(name) +
                                 "'; supported: 'auto', 'dynamic', 'weight_only'");
}

StatusOr<OptimizedModel> Quantize(const std::shared_ptr<Model>& model, const QuantizeOptions& options) {
  if (model == nullptr) return Status::InvalidArgument("Quantize: no model");
  if (options.timing_runs < 1) {
    return Status::InvalidArgument("timing_runs must be at least 1; was " + std::to_string(options.timing_runs));
  }
  if (options.dtype == QuantDType::kInt8) return optimize_internal::QuantizeInt8(model, options);
  return optimize_internal::QuantizeHalf(model, options);
}

}  // namespace mlship
