// What the CPU can do for reduced-precision arithmetic, from /proc/cpuinfo.
#pragma once

#include <string>
#include <vector>

namespace mlship {

// The flags among those that matter for int8/fp16/bf16 (avx2, f16c, avx512f,
// avx512_vnni, avx512_bf16, avx512_fp16, amx_bf16, amx_fp16, amx_int8, ...)
// that this CPU reports. Empty where /proc/cpuinfo cannot be read.
std::vector<std::string> ReducedPrecisionCpuFlags();

// A one-line summary, e.g. "bf16: native (avx512_bf16); fp16: convert only (f16c)".
std::string HalfPrecisionSupport();

}  // namespace mlship
