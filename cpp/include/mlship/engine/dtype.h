// Element types of tensors, named as in the KServe v2 protocol ("FP32").
//
// Torch-free so the batching and serving layers can use it; engine code
// converts to at::ScalarType with the helpers in dtype_torch.h.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mlship {

enum class DType {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

// "FP32", "INT64", "BOOL", "BF16", ...
std::string_view DTypeName(DType dtype);
// Parses a KServe v2 datatype name; nullopt if unknown.
std::optional<DType> DTypeFromName(std::string_view name);
// Bytes per element.
std::size_t DTypeSize(DType dtype);
// The list of all names, for error messages: "BOOL, INT8, ...".
std::string AllDTypeNames();

}  // namespace mlship
