// The two quantization passes behind Quantize().
#pragma once

#include "mlship/optimize/quantize.h"

namespace mlship::optimize_internal {

StatusOr<OptimizedModel> QuantizeInt8(const std::shared_ptr<Model>& model, const QuantizeOptions& options);
StatusOr<OptimizedModel> QuantizeHalf(const std::shared_ptr<Model>& model, const QuantizeOptions& options);

}  // namespace mlship::optimize_internal
