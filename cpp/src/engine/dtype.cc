// DType names and sizes.
#include "mlship/engine/dtype.h"

#include <array>

namespace mlship {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 13> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kInt8, "INT8", 1},
    {DType::kInt16, "INT16", 2},
    {DType::kInt32, "INT32", 4},
    {DType::kInt64, "INT64", 8},
    {DType::kUInt8, "UINT8", 1},
    {DType::kUInt16, "UINT16", 2},
    {DType::kUInt32, "UINT32", 4},
    {DType::kUInt64, "UINT64", 8},
    {DType::kFloat16, "FP16", 2},
    {DType::kBFloat16, "BF16", 2},
    {DType::kFloat32, "FP32", 4},
    {DType::kFloat64, "FP64", 8},
}};

const DTypeInfo& Info(DType dtype) { return kDTypes[static_cast<std::size_t>(dtype)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return Info(dtype).name; }
std::size_t DTypeSize(DType dtype) { return Info(dtype).size; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

std::string AllDTypeNames() {
  std::string out;
  for (const auto& info : kDTypes) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

}  // namespace mlship
