// DType <-> c10::ScalarType.
#include "mlship/engine/dtype_torch.h"

#include <string>

namespace mlship {

c10::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kBool: return c10::kBool;
    case DType::kInt8: return c10::kChar;
    case DType::kInt16: return c10::kShort;
    case DType::kInt32: return c10::kInt;
    case DType::kInt64: return c10::kLong;
    case DType::kUInt8: return c10::kByte;
    case DType::kUInt16: return c10::kUInt16;
    case DType::kUInt32: return c10::kUInt32;
    case DType::kUInt64: return c10::kUInt64;
    case DType::kFloat16: return c10::kHalf;
    case DType::kBFloat16: return c10::kBFloat16;
    case DType::kFloat32: return c10::kFloat;
    case DType::kFloat64: return c10::kDouble;
  }
  return c10::kFloat;
}

StatusOr<DType> FromScalarType(c10::ScalarType type) {
  switch (type) {
    case c10::kBool: return DType::kBool;
    case c10::kChar: return DType::kInt8;
    case c10::kShort: return DType::kInt16;
    case c10::kInt: return DType::kInt32;
    case c10::kLong: return DType::kInt64;
    case c10::kByte: return DType::kUInt8;
    case c10::kUInt16: return DType::kUInt16;
    case c10::kUInt32: return DType::kUInt32;
    case c10::kUInt64: return DType::kUInt64;
    case c10::kHalf: return DType::kFloat16;
    case c10::kBFloat16: return DType::kBFloat16;
    case c10::kFloat: return DType::kFloat32;
    case c10::kDouble: return DType::kFloat64;
    default:
      return Status::InvalidArgument(std::string("tensor dtype ") + c10::toString(type) +
                                     " is not supported; expected one of " + AllDTypeNames());
  }
}

}  // namespace mlship
