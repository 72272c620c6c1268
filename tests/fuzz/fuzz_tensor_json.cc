// libFuzzer target: the JSON tensor reader (the streaming parser that turns
// an input's "data" into elements, flat or nested, of every datatype). The
// first byte picks the datatype and the second the declared element count;
// the rest is the "data" value, spliced into an otherwise valid request so
// every input reaches the reader.
//
// Oracle: a crash or sanitizer report, a refusal without a message, or a
// decoded tensor whose size disagrees with its shape and datatype.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mlship/serving/kserve_codec.h"

namespace {

struct Kind {
  mlship::DType dtype;
  const char* name;
};

constexpr Kind kKinds[] = {
    {mlship::DType::kBool, "BOOL"},     {mlship::DType::kUInt8, "UINT8"},   {mlship::DType::kInt8, "INT8"},
    {mlship::DType::kInt16, "INT16"},   {mlship::DType::kInt32, "INT32"},   {mlship::DType::kInt64, "INT64"},
    {mlship::DType::kFloat16, "FP16"},  {mlship::DType::kFloat32, "FP32"},  {mlship::DType::kFloat64, "FP64"},
    {mlship::DType::kUInt16, "UINT16"}, {mlship::DType::kUInt32, "UINT32"}, {mlship::DType::kUInt64, "UINT64"},
    {mlship::DType::kBFloat16, "BF16"},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Kind& kind = kKinds[data[0] % (sizeof kKinds / sizeof kKinds[0])];
  const unsigned count = data[1];
  const std::string_view value(reinterpret_cast<const char*>(data + 2), size - 2);

  mlship::Signature signature;
  signature.inputs = {{"x", kind.dtype, {-1}}};
  std::string body = "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"";
  body += kind.name;
  body += "\",\"shape\":[" + std::to_string(count) + "],\"data\":";
  body += value;
  body += "}]}";

  mlship::serving::CodecLimits limits;
  limits.max_json_depth = 16;
  auto decoded = mlship::serving::DecodeInferRequest(body, std::nullopt, signature, limits);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) std::abort();
    return 0;
  }
  if (decoded->inputs.size() != 1) std::abort();
  const mlship::serving::HostTensor& tensor = decoded->inputs[0];
  if (!tensor.IsConsistent() || tensor.byte_size != count * mlship::DTypeSize(kind.dtype)) std::abort();
  return 0;
}
