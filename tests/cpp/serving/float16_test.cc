#include "mlship/serving/float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace mlship::serving {
namespace {

TEST(Float16Test, ExactValuesConvertExactly) {
  EXPECT_EQ(HalfFromDouble(0.0), 0x0000);
  EXPECT_EQ(HalfFromDouble(-0.0), 0x8000);
  EXPECT_EQ(HalfFromDouble(1.0), 0x3C00);
  EXPECT_EQ(HalfFromDouble(-2.0), 0xC000);
  EXPECT_EQ(HalfFromDouble(0.5), 0x3800);
  EXPECT_EQ(HalfFromDouble(65504.0), 0x7BFF);          // largest finite half
  EXPECT_EQ(HalfFromDouble(std::ldexp(1.0, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(HalfFromDouble(std::ldexp(1.0, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(HalfFromDouble(std::ldexp(1023.0, -24)), 0x03FF);  // largest subnormal
}

TEST(Float16Test, RoundsToNearestWithTiesToEven) {
  // 1 + 2^-11 lies halfway between 1 (even mantissa) and 1 + 2^-10: stays 1.
  EXPECT_EQ(HalfFromDouble(1.0 + std::ldexp(1.0, -11)), 0x3C00);
  // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9: rounds up.
  EXPECT_EQ(HalfFromDouble(1.0 + 3 * std::ldexp(1.0, -11)), 0x3C02);
  // Just above the halfway point rounds up.
  EXPECT_EQ(HalfFromDouble(1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -30)), 0x3C01);
  // 0.1 is not representable; the nearest half is 0x2E66 (0.0999755859375).
  EXPECT_EQ(HalfFromDouble(0.1), 0x2E66);
  // Half of the smallest subnormal is a tie that rounds to even (zero);
  // a bit more rounds up to the smallest subnormal.
  EXPECT_EQ(HalfFromDouble(std::ldexp(1.0, -25)), 0x0000);
  EXPECT_EQ(HalfFromDouble(std::ldexp(1.5, -25)), 0x0001);
  // Rounding the largest subnormal up carries into the smallest normal.
  EXPECT_EQ(HalfFromDouble(std::ldexp(1023.5, -24) + std::ldexp(1.0, -40)), 0x0400);
}

TEST(Float16Test, OverflowsToInfinityAndKeepsNan) {
  EXPECT_EQ(HalfFromDouble(65519.99), 0x7BFF);  // still rounds down to 65504
  EXPECT_EQ(HalfFromDouble(65520.0), 0x7C00);   // the tie rounds to even: infinity
  EXPECT_EQ(HalfFromDouble(1e10), 0x7C00);
  EXPECT_EQ(HalfFromDouble(-1e10), 0xFC00);
  EXPECT_EQ(HalfFromDouble(std::numeric_limits<double>::infinity()), 0x7C00);
  const uint16_t nan = HalfFromDouble(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
}

TEST(Float16Test, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto half = static_cast<uint16_t>(bits);
    const float value = HalfToFloat(half);
    if (std::isnan(value)) {
      EXPECT_EQ(half & 0x7C00, 0x7C00) << bits;
      continue;
    }
    ASSERT_EQ(HalfFromDouble(value), half) << "bits " << bits << " value " << value;
  }
}

TEST(Float16Test, HalfToFloatDecodesEachClass) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
}

TEST(Float16Test, BFloat16IsTheUpperHalfOfAFloat) {
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC040), -3.0f);
  EXPECT_EQ(BFloat16ToFloat(0x7F80), std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace mlship::serving
