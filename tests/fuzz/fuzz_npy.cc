// libFuzzer target: the .npy reader (monitoring references and golden
// files), with every numeric dtype accepted. The first byte chooses
// float_only and a small data bound, so both the dtype refusals and the
// size checks are reached.
//
// Oracle: a crash or sanitizer report, a refusal without a message, or an
// array whose data size disagrees with its shape and dtype.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mlship/engine/npy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  mlship::NpyReadOptions options;
  options.float_only = (data[0] & 1) != 0;
  options.max_data_bytes = (data[0] & 2) != 0 ? 4096 : int64_t{1} << 20;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto array = mlship::ParseNpy(bytes, "fuzz.npy", options);
  if (!array.ok()) {
    if (array.status().message().empty()) std::abort();
    return 0;
  }
  int64_t elements = 1;
  for (int64_t d : array->shape) {
    if (d < 0) std::abort();
    elements *= d;
  }
  if (array->data.size() != static_cast<std::size_t>(elements) * mlship::DTypeSize(array->dtype)) std::abort();
  if (static_cast<int64_t>(array->data.size()) > options.max_data_bytes) std::abort();
  return 0;
}
