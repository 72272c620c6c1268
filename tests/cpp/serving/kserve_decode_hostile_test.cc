// Hostile infer requests against the decoder: shapes that promise more than
// the body holds, sizes that overflow, and big JSON bodies. Each test sends
// the input and asserts the bound with an allocation counter.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "mlship/serving/kserve_codec.h"
#include "text_assertions.h"

namespace mlship::serving {
namespace {

using ::mlship::serving::testing::AllocationCounter;
using ::mlship::serving::testing::Contains;

constexpr std::size_t kMiB = std::size_t{1} << 20;

Signature OneInput(DType dtype, std::vector<int64_t> shape) {
  Signature signature;
  signature.inputs = {{"x", dtype, shape}};
  signature.outputs = {{"y", dtype, shape}};
  return signature;
}

TEST(KServeDecodeHostileTest, AShapeWithEmptyDataIsRefusedBeforeAnyTensorIsAllocated) {
  // 87 bytes that used to make the server zero-fill 256 MiB.
  const std::string body = R"({"inputs":[{"name":"x","shape":[1048576,64],"datatype":"FP32","data":[]}]})";
  AllocationCounter counter;
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kFloat32, {-1, 64}), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(decoded.status().message(), "needs 67108864 elements; 'data' holds 0"));
  EXPECT_LT(counter.allocated_bytes(), kMiB);
}

TEST(KServeDecodeHostileTest, AShapeWithZeroBinaryBytesIsRefusedBeforeAnyTensorIsAllocated) {
  const std::string json =
      R"({"inputs":[{"name":"x","shape":[1048576,64],"datatype":"FP32","parameters":{"binary_data_size":0}}]})";
  AllocationCounter counter;
  StatusOr<DecodedInferRequest> decoded =
      DecodeInferRequest(json, json.size(), OneInput(DType::kFloat32, {-1, 64}), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_TRUE(Contains(decoded.status().message(), "needs 268435456 bytes; parameters.binary_data_size is 0"));
  EXPECT_LT(counter.allocated_bytes(), kMiB);
}

TEST(KServeDecodeHostileTest, AByteSizeThatWouldWrapToZeroIsRefused) {
  // 2^31 x 2^31 elements fit in int64, but times 4 bytes they wrap size_t to
  // 0: the model used to read an empty buffer as 2^62 floats.
  CodecLimits limits;
  limits.max_elements_per_tensor = std::numeric_limits<int64_t>::max();
  const std::string json = R"({"inputs":[{"name":"x","shape":[2147483648,2147483648],"datatype":"FP32",)"
                           R"("parameters":{"binary_data_size":0}}]})";
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(json, json.size(), OneInput(DType::kFloat32, {-1, -1}), limits);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(decoded.status().message(), "[2147483648, 2147483648]"));
}

TEST(KServeDecodeHostileTest, CheckedByteSizeRefusesWhatWouldWrap) {
  EXPECT_FALSE(CheckedByteSize({int64_t{1} << 31, int64_t{1} << 31}, DType::kFloat32).has_value());
  EXPECT_EQ(CheckedByteSize({int64_t{1} << 31, int64_t{1} << 31}, DType::kUInt8), std::size_t{1} << 62);
  HostTensor wrapped;
  wrapped.dtype = DType::kFloat32;
  wrapped.shape = {int64_t{1} << 31, int64_t{1} << 31};
  EXPECT_FALSE(wrapped.IsConsistent());  // byte_size 0 no longer passes as the right size
}

// A body of `rows` x 64 FP32 values written as "0.5", datatype before data
// (or after it, with `data_first`).
std::string BigFp32Body(int64_t rows, bool data_first = false) {
  std::string data = "[";
  for (int64_t i = 0; i < rows * 64; ++i) data += i == 0 ? "0.5" : ",0.5";
  data += "]";
  const std::string head = R"("name":"x","shape":[)" + std::to_string(rows) + R"(,64],"datatype":"FP32")";
  return data_first ? R"({"inputs":[{"data":)" + data + "," + head + "}]}"
                    : R"({"inputs":[{)" + head + R"(,"data":)" + data + "}]}";
}

TEST(KServeDecodeHostileTest, BigJsonDataCostsAboutItsElementBytesNotATree) {
  // 1 Mi elements in 4 MiB of JSON. A tree of JSON values costs 16 bytes per
  // element plus the parser's stack (over 32 MiB at its peak); streaming the
  // data into the tensor costs its 4 MiB of floats, twice while the buffer grows.
  const int64_t rows = 16384;
  const std::string body = BigFp32Body(rows);
  AllocationCounter counter;
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kFloat32, {-1, 64}), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const std::size_t element_bytes = static_cast<std::size_t>(rows) * 64 * sizeof(float);
  EXPECT_EQ(decoded->inputs[0].byte_size, element_bytes);
  EXPECT_EQ(decoded->inputs[0].data_as<float>()[12345], 0.5f);
  EXPECT_LT(counter.peak_bytes(), 3 * element_bytes) << "peak " << counter.peak_bytes() << " bytes";
}

TEST(KServeDecodeHostileTest, DataBeforeItsDatatypeIsStillDecodedWithinABound) {
  const int64_t rows = 4096;
  const std::string body = BigFp32Body(rows, /*data_first=*/true);
  AllocationCounter counter;
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kFloat32, {-1, 64}), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->inputs[0].data_as<float>()[rows * 64 - 1], 0.5f);
  // Kept as 16-byte scalars until the datatype is known (twice that while
  // their vector grows), then converted: under 40 bytes an element, where
  // the tree cost 16 bytes twice over plus its arena and the whole body.
  const std::size_t elements = static_cast<std::size_t>(rows) * 64;
  EXPECT_LT(counter.peak_bytes(), elements * 40) << "peak " << counter.peak_bytes() << " bytes";
}

TEST(KServeDecodeHostileTest, DataBeforeItsDatatypeReportsBadElementsByIndex) {
  const std::string body = R"({"inputs":[{"data":[1,2,"three"],"name":"x","shape":[3],"datatype":"INT32"}]})";
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kInt32, {-1}), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message(), "input 'x': element 2 is a string; INT32 data must be integers");
}

TEST(KServeDecodeHostileTest, ObjectsInsideDataAreOneBadElement) {
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,{"a":[1,2,{"b":3}]}]}]})";
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kFloat32, {-1}), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message(), "input 'x': element 1 is an object; FP32 data must be numbers");
}

TEST(KServeDecodeHostileTest, ManyValuesOutsideDataAreRefusedInsteadOfBuilt) {
  std::string padding = "[";
  for (int i = 0; i < 100000; ++i) padding += i == 0 ? "0" : ",0";
  padding += "]";
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"pad":)" + padding + "}}";
  AllocationCounter counter;
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, std::nullopt, OneInput(DType::kFloat32, {-1}), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_TRUE(Contains(decoded.status().message(), "values outside the inputs' 'data' arrays"));
  EXPECT_LT(counter.peak_bytes(), 4 * kMiB);
}

}  // namespace
}  // namespace mlship::serving
