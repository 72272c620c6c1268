#include "mlship/serving/host_tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace mlship::serving {
namespace {

TEST(HostTensorTest, AllocateSizesTheBufferFromShapeAndDtype) {
  HostTensor tensor = HostTensor::Allocate("x", DType::kFloat32, {2, 3});
  EXPECT_EQ(tensor.NumElements(), 6);
  EXPECT_EQ(tensor.byte_size, 24u);
  EXPECT_TRUE(tensor.IsConsistent());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(tensor.data_as<float>()[i], 0.0f);
}

TEST(HostTensorTest, BoolIsOneBytePerElementAndScalarsHaveOneElement) {
  EXPECT_EQ(HostTensor::Allocate("m", DType::kBool, {5}).byte_size, 5u);
  EXPECT_EQ(HostTensor::Allocate("s", DType::kFloat64, {}).NumElements(), 1);
  EXPECT_EQ(HostTensor::Allocate("e", DType::kInt64, {0, 4}).byte_size, 0u);
}

TEST(HostTensorTest, CopiesShareTheBuffer) {
  HostTensor tensor = HostTensor::Allocate("x", DType::kInt32, {2});
  HostTensor copy = tensor;
  tensor.mutable_data_as<int32_t>()[1] = 7;
  EXPECT_EQ(copy.data_as<int32_t>()[1], 7);
}

TEST(HostTensorTest, CopyOfCopiesTheBytes) {
  const int16_t values[] = {1, -2, 3};
  HostTensor tensor = HostTensor::CopyOf("x", DType::kInt16, {3}, values);
  EXPECT_EQ(tensor.data_as<int16_t>()[1], -2);
  EXPECT_NE(static_cast<const void*>(tensor.data.get()), static_cast<const void*>(values));
}

TEST(HostTensorTest, InconsistentTensorsAreDetected) {
  HostTensor tensor = HostTensor::Allocate("x", DType::kFloat32, {2, 2});
  tensor.byte_size = 12;
  EXPECT_FALSE(tensor.IsConsistent());
  tensor = HostTensor::Allocate("x", DType::kFloat32, {2});
  tensor.data.reset();
  EXPECT_FALSE(tensor.IsConsistent());
}

TEST(HostTensorTest, CheckedNumElementsRefusesNegativeAndOverflowingShapes) {
  EXPECT_EQ(CheckedNumElements({3, 4}), 12);
  EXPECT_EQ(CheckedNumElements({}), 1);
  EXPECT_EQ(CheckedNumElements({-1, 4}), std::nullopt);
  const int64_t big = int64_t{1} << 32;
  EXPECT_EQ(CheckedNumElements({big, big}), std::nullopt);
  EXPECT_EQ(CheckedNumElements({big, big, 0}), std::nullopt);  // overflow is found before the zero
  EXPECT_EQ(CheckedNumElements({0, big, big}), 0);
}

}  // namespace
}  // namespace mlship::serving
