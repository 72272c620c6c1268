// FP16 and BF16 bit conversions (see float16.h for why they are hand-written).
#include "mlship/serving/float16.h"

#include <bit>
#include <cstring>

namespace mlship::serving {
namespace {

// FP16 layout: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
constexpr uint16_t kHalfSignMask = 0x8000;
constexpr uint16_t kHalfInfinity = 0x7C00;
constexpr uint16_t kHalfQuietNan = 0x7E00;
constexpr int kHalfMantissaBits = 10;
constexpr int kHalfExponentBias = 15;
// FP64 layout: 1 sign bit, 11 exponent bits (bias 1023), 52 mantissa bits.
constexpr int kDoubleMantissaBits = 52;
constexpr int kDoubleExponentBias = 1023;

// Shifts `value` right by `shift` bits, rounding to nearest with ties to even.
uint64_t ShiftRightRoundingToEven(uint64_t value, int shift) {
  const uint64_t kept = value >> shift;
  const uint64_t remainder = value & ((uint64_t{1} << shift) - 1);
  const uint64_t halfway = uint64_t{1} << (shift - 1);
  if (remainder > halfway || (remainder == halfway && (kept & 1) != 0)) return kept + 1;
  return kept;
}

}  // namespace

uint16_t HalfFromDouble(double value) {
  const uint64_t bits = std::bit_cast<uint64_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 48) & kHalfSignMask);
  const uint64_t magnitude = bits & 0x7FFF'FFFF'FFFF'FFFFull;
  const int biased_exponent = static_cast<int>(magnitude >> kDoubleMantissaBits);
  const uint64_t mantissa = magnitude & ((uint64_t{1} << kDoubleMantissaBits) - 1);

  if (biased_exponent == 0x7FF) {  // infinity or NaN
    return sign | (mantissa == 0 ? kHalfInfinity : kHalfQuietNan);
  }
  const int exponent = biased_exponent - kDoubleExponentBias;
  if (exponent > kHalfExponentBias) return sign | kHalfInfinity;  // beyond 2^16: overflow

  if (exponent >= 1 - kHalfExponentBias) {
    // A normal FP16: keep the top 10 mantissa bits and round the other 42. A
    // carry out of the mantissa correctly bumps the exponent (up to infinity).
    const uint64_t combined = (static_cast<uint64_t>(exponent + kHalfExponentBias) << kDoubleMantissaBits) | mantissa;
    return sign | static_cast<uint16_t>(ShiftRightRoundingToEven(combined, kDoubleMantissaBits - kHalfMantissaBits));
  }

  // Subnormal FP16 (or zero): count units of 2^-24, the smallest subnormal.
  // Below 2^-25 everything rounds to zero; exactly 2^-25 is a tie that rounds
  // to the even value, zero, which ShiftRightRoundingToEven also gives.
  if (exponent < -25) return sign;
  // value = (2^52 + mantissa) * 2^(exponent - 52), so in units of 2^-24 it is
  // (2^52 + mantissa) >> (28 - exponent), with 43 <= 28 - exponent <= 53.
  const uint64_t significand = mantissa | (uint64_t{1} << kDoubleMantissaBits);
  // A round-up to 0x400 yields the smallest normal, whose bits are exactly that.
  return sign | static_cast<uint16_t>(ShiftRightRoundingToEven(significand, 28 - exponent));
}

float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & kHalfSignMask) << 16;
  const uint32_t exponent = (half >> kHalfMantissaBits) & 0x1F;
  const uint32_t mantissa = half & 0x3FF;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) {  // infinity or NaN: widen the payload
    return std::bit_cast<float>(sign | 0x7F80'0000u | (mantissa << 13));
  }
  // Normal: rebias the exponent from 15 to 127 and widen the mantissa.
  return std::bit_cast<float>(sign | ((exponent + 127 - kHalfExponentBias) << 23) | (mantissa << 13));
}

float BFloat16ToFloat(uint16_t bf16) {
  // bfloat16 is the upper half of a float.
  return std::bit_cast<float>(static_cast<uint32_t>(bf16) << 16);
}

}  // namespace mlship::serving
