// IEEE 754 half precision (FP16) and bfloat16 (BF16) conversions, torch-free.
//
// KServe JSON carries FP16 values as ordinary numbers, so the codec converts
// them here. Written by hand because the conversion is small and exact, and
// pulling a half-float library (or torch's c10::Half) into a torch-free layer
// for two functions is not worth it.
#pragma once

#include <cstdint>

namespace mlship::serving {

// The FP16 bits nearest to `value`, rounding ties to even (as IEEE 754 and
// torch do). Values beyond the FP16 range become +-infinity, NaN stays NaN.
// Converting straight from double avoids the double rounding that a detour
// through float would add.
uint16_t HalfFromDouble(double value);

// The float whose value equals the FP16 bits `half` (exact: every FP16 value
// is a float).
float HalfToFloat(uint16_t half);

// The float whose value equals the bfloat16 bits `bf16` (exact).
float BFloat16ToFloat(uint16_t bf16);

// The largest finite FP16 value, 65504.
inline constexpr double kHalfMax = 65504.0;

}  // namespace mlship::serving
