// libFuzzer target: the KServe v2 infer-request decoder (JSON header, tensor
// data, shapes, binary sections) against a signature with every kind of
// input. Input: one flag byte; when its low bit is set, two bytes (little
// endian) give the JSON's length (the Inference-Header-Content-Length) and
// the body after the JSON is its binary section; then the body.
//
// Oracle: a crash or sanitizer report, or a decoded tensor that is
// inconsistent or larger than the body could pay for (JSON costs at least a
// byte per element, binary data its bytes).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "mlship/serving/kserve_codec.h"

namespace {

const mlship::Signature& FuzzSignature() {
  static const mlship::Signature signature = [] {
    mlship::Signature s;
    s.inputs = {{"x", mlship::DType::kFloat32, {-1, 3}},
                {"mask", mlship::DType::kBool, {-1}},
                {"ids", mlship::DType::kInt64, {-1, -1}},
                {"half", mlship::DType::kFloat16, {-1}},
                {"bytes", mlship::DType::kUInt8, {-1}}};
    s.outputs = {{"y", mlship::DType::kFloat32, {-1, 3}}};
    return s;
  }();
  return signature;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool binary = (data[0] & 1) != 0;
  const std::size_t skip = binary ? 3 : 1;
  if (size < skip) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + skip), size - skip);
  std::optional<std::size_t> json_length;
  if (binary) json_length = std::min<std::size_t>(body.size(), data[1] | (std::size_t{data[2]} << 8));
  mlship::serving::CodecLimits limits;
  limits.max_json_depth = 16;
  limits.max_elements_per_tensor = 1 << 16;
  auto decoded = mlship::serving::DecodeInferRequest(body, json_length, FuzzSignature(), limits);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) std::abort();  // every refusal says why
    return 0;
  }
  for (const mlship::serving::HostTensor& tensor : decoded->inputs) {
    if (!tensor.IsConsistent() || tensor.byte_size > body.size() * 8) std::abort();
  }
  return 0;
}
