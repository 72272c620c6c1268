// Conversions between mlship's DType and torch's ScalarType.
#pragma once

#include <c10/core/ScalarType.h>

#include "mlship/engine/dtype.h"
#include "mlship/status.h"

namespace mlship {

c10::ScalarType ToScalarType(DType dtype);
// InvalidArgument for torch types mlship does not serve (complex, quantized, ...).
StatusOr<DType> FromScalarType(c10::ScalarType type);

}  // namespace mlship
