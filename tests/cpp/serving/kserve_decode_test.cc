#include <gtest/gtest.h>

#include <cstdint>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mlship/serving/float16.h"
#include "mlship/serving/kserve_codec.h"
#include "text_assertions.h"

namespace mlship::serving {
namespace {

using ::mlship::serving::testing::Contains;
using ::mlship::serving::testing::Lacks;


Signature OneInput(DType dtype, std::vector<int64_t> shape) {
  Signature signature;
  signature.inputs = {{"x", dtype, shape}};
  signature.outputs = {{"y", dtype, shape}};
  return signature;
}

// x: FP32[-1, 3]; mask: BOOL[-1]; outputs y: FP32[-1, 3], score: FP64[-1].
Signature TwoInputs() {
  Signature signature;
  signature.inputs = {{"x", DType::kFloat32, {-1, 3}}, {"mask", DType::kBool, {-1}}};
  signature.outputs = {{"y", DType::kFloat32, {-1, 3}}, {"score", DType::kFloat64, {-1}}};
  return signature;
}

std::string Input(const std::string& name, const std::string& datatype, const std::string& shape,
                  const std::string& data) {
  return "{\"name\":\"" + name + "\",\"datatype\":\"" + datatype + "\",\"shape\":" + shape + ",\"data\":" + data + "}";
}

std::string Body(const std::string& inputs, const std::string& rest = "") {
  return "{\"inputs\":[" + inputs + "]" + rest + "}";
}

StatusOr<DecodedInferRequest> Decode(const std::string& body, const Signature& signature,
                                     const CodecLimits& limits = {}) {
  return DecodeInferRequest(body, std::nullopt, signature, limits);
}

// Decodes and expects InvalidArgument whose message contains `fragment`.
void ExpectInvalid(const std::string& body, const Signature& signature, const std::string& fragment) {
  StatusOr<DecodedInferRequest> decoded = Decode(body, signature);
  ASSERT_FALSE(decoded.ok()) << "decoded without error: " << body;
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << decoded.status().ToString();
  EXPECT_TRUE(Contains(decoded.status().message(), fragment));
}

template <typename T>
std::vector<T> Values(const HostTensor& tensor) {
  std::vector<T> out(static_cast<std::size_t>(tensor.NumElements()));
  std::memcpy(out.data(), tensor.data.get(), tensor.byte_size);
  return out;
}

TEST(KServeDecodeTest, DecodesFlatFp32Data) {
  auto decoded = Decode(Body(Input("x", "FP32", "[2,3]", "[1,2,3,4.5,-5,6e-1]")), OneInput(DType::kFloat32, {-1, 3}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->inputs.size(), 1u);
  const HostTensor& x = decoded->inputs[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DType::kFloat32);
  EXPECT_EQ(x.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<float>(x), (std::vector<float>{1, 2, 3, 4.5f, -5, 0.6f}));
  EXPECT_TRUE(x.IsConsistent());
}

TEST(KServeDecodeTest, DecodesNestedDataInRowMajorOrder) {
  auto decoded = Decode(Body(Input("x", "INT32", "[2,2,2]", "[[[1,2],[3,4]],[[5,6],[7,8]]]")),
                        OneInput(DType::kInt32, {-1, 2, 2}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Values<int32_t>(decoded->inputs[0]), (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(KServeDecodeTest, DecodesScalarsAndEmptyTensors) {
  auto scalar = Decode(Body(Input("x", "FP64", "[]", "[2.5]")), OneInput(DType::kFloat64, {}));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(Values<double>(scalar->inputs[0]), (std::vector<double>{2.5}));
  auto empty = Decode(Body(Input("x", "FP32", "[0,3]", "[]")), OneInput(DType::kFloat32, {-1, 3}));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->inputs[0].byte_size, 0u);
}

template <typename T>
void ExpectDecodes(DType dtype, const std::string& name, const std::string& data, const std::vector<T>& expected) {
  SCOPED_TRACE(name + " " + data);
  const std::string shape = "[" + std::to_string(expected.size()) + "]";
  auto decoded = Decode(Body(Input("x", name, shape, data)), OneInput(dtype, {-1}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->inputs[0].dtype, dtype);
  EXPECT_EQ(Values<T>(decoded->inputs[0]), expected);
}

TEST(KServeDecodeTest, DecodesEveryKServeDatatypeToItsLimits) {
  ExpectDecodes<uint8_t>(DType::kBool, "BOOL", "[true,false,true]", {1, 0, 1});
  ExpectDecodes<int8_t>(DType::kInt8, "INT8", "[-128,0,127]", {-128, 0, 127});
  ExpectDecodes<int16_t>(DType::kInt16, "INT16", "[-32768,32767]", {-32768, 32767});
  ExpectDecodes<int32_t>(DType::kInt32, "INT32", "[-2147483648,2147483647]",
                         {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()});
  ExpectDecodes<int64_t>(DType::kInt64, "INT64", "[-9223372036854775808,9223372036854775807]",
                         {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()});
  ExpectDecodes<uint8_t>(DType::kUInt8, "UINT8", "[0,255]", {0, 255});
  ExpectDecodes<uint16_t>(DType::kUInt16, "UINT16", "[0,65535]", {0, 65535});
  ExpectDecodes<uint32_t>(DType::kUInt32, "UINT32", "[0,4294967295]", {0, 4294967295u});
  ExpectDecodes<uint64_t>(DType::kUInt64, "UINT64", "[0,18446744073709551615]",
                          {0, std::numeric_limits<uint64_t>::max()});
  ExpectDecodes<uint16_t>(DType::kFloat16, "FP16", "[1,-2.5,65504,0.1]",
                          {0x3C00, 0xC100, 0x7BFF, HalfFromDouble(0.1)});
  ExpectDecodes<float>(DType::kFloat32, "FP32", "[0.1,-3.4028234663852886e38,7]",
                       {0.1f, -std::numeric_limits<float>::max(), 7.0f});
  ExpectDecodes<double>(DType::kFloat64, "FP64", "[0.1,1e308,-5]", {0.1, 1e308, -5.0});
}

TEST(KServeDecodeTest, NegativeZeroStaysNegativeForFloatInputs) {
  auto decoded = Decode(Body(Input("x", "FP32", "[1,3]", "[-0,0,-0.0]")), OneInput(DType::kFloat32, {-1, 3}));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const std::vector<float> values = Values<float>(decoded->inputs[0]);
  EXPECT_TRUE(std::signbit(values[0]));
  EXPECT_FALSE(std::signbit(values[1]));
  EXPECT_TRUE(std::signbit(values[2]));
  ExpectDecodes<int32_t>(DType::kInt32, "INT32", "[-0]", {0});
}

TEST(KServeDecodeTest, AcceptsIntegralFloatsForIntegerTypes) {
  // Python's json writes 3.0 for a float that holds an integer.
  ExpectDecodes<int64_t>(DType::kInt64, "INT64", "[3.0,-2e3]", {3, -2000});
}

TEST(KServeDecodeTest, Fp64ValuesAreReadCorrectlyRounded) {
  // Boost.JSON 1.81's own parser reads these one unit in the last place off.
  const std::vector<double> hard = {1.3927926388013963e-143, 5.409760742964738e+124, 0.30000000000000004,
                                    -2.128409656321987e-239};
  std::string data = "[";
  for (std::size_t i = 0; i < hard.size(); ++i) {
    char text[32];
    data.append(text, std::to_chars(text, text + sizeof text, hard[i]).ptr);
    data += i + 1 < hard.size() ? "," : "]";
  }
  ExpectDecodes<double>(DType::kFloat64, "FP64", data, hard);
}

TEST(KServeDecodeTest, PutsInputsInSignatureOrderAndReadsIdAndOutputs) {
  const std::string body = "{\"id\":\"req-7\",\"parameters\":{\"binary_data_output\":true},\"inputs\":[" +
                           Input("mask", "BOOL", "[1]", "[false]") + "," + Input("x", "FP32", "[1,3]", "[1,2,3]") +
                           "],\"outputs\":[{\"name\":\"score\",\"parameters\":{\"binary_data\":false}},"
                           "{\"name\":\"y\"}]}";
  auto decoded = Decode(body, TwoInputs());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->id, "req-7");
  ASSERT_EQ(decoded->inputs.size(), 2u);
  EXPECT_EQ(decoded->inputs[0].name, "x");
  EXPECT_EQ(decoded->inputs[1].name, "mask");
  EXPECT_EQ(decoded->outputs.Names(), (std::vector<std::string>{"score", "y"}));
  EXPECT_TRUE(decoded->outputs.binary_data_output);
  EXPECT_FALSE(decoded->outputs.SendsBinary("score"));  // the output's own setting wins
  EXPECT_TRUE(decoded->outputs.SendsBinary("y"));       // the request-wide default
}

TEST(KServeDecodeTest, WithoutOutputsSectionAllOutputsAreSentAsJson) {
  auto decoded = Decode(Body(Input("x", "FP32", "[1,3]", "[1,2,3]")), OneInput(DType::kFloat32, {-1, 3}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->id.empty());
  EXPECT_TRUE(decoded->outputs.requested.empty());
  EXPECT_FALSE(decoded->outputs.SendsBinary("y"));
}

// ---- Binary tensor data extension ----

std::string Bytes(const void* data, std::size_t size) { return std::string(static_cast<const char*>(data), size); }

TEST(KServeDecodeTest, DecodesBinaryInputsInOrderBesideJsonInputs) {
  const float x[] = {1.5f, -2, 3, 4, 5, 6};
  const std::string json =
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,3],\"parameters\":{\"binary_data_size\":24}}," +
      Input("mask", "BOOL", "[2]", "[true,false]") + "]}";
  const std::string body = json + Bytes(x, sizeof x);
  auto decoded = DecodeInferRequest(body, json.size(), TwoInputs(), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Values<float>(decoded->inputs[0]), (std::vector<float>{1.5f, -2, 3, 4, 5, 6}));
  EXPECT_EQ(Values<uint8_t>(decoded->inputs[1]), (std::vector<uint8_t>{1, 0}));
}

TEST(KServeDecodeTest, DecodesSeveralBinaryInputsBackToBack) {
  const float x[] = {1, 2, 3};
  const uint8_t mask[] = {0, 1, 1};
  const std::string json =
      "{\"inputs\":[{\"name\":\"mask\",\"datatype\":\"BOOL\",\"shape\":[3],\"parameters\":{\"binary_data_size\":3}},"
      "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"parameters\":{\"binary_data_size\":12}}]}";
  const std::string body = json + Bytes(mask, sizeof mask) + Bytes(x, sizeof x);
  auto decoded = DecodeInferRequest(body, json.size(), TwoInputs(), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Values<float>(decoded->inputs[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(Values<uint8_t>(decoded->inputs[1]), (std::vector<uint8_t>{0, 1, 1}));
}

TEST(KServeDecodeTest, Bf16IsAcceptedAsBinaryButNotAsJson) {
  const uint16_t bf16[] = {0x3F80, 0xC040};
  const std::string json =
      "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"BF16\",\"shape\":[2],\"parameters\":{\"binary_data_size\":4}}]}";
  auto decoded = DecodeInferRequest(json + Bytes(bf16, sizeof bf16), json.size(), OneInput(DType::kBFloat16, {-1}), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(Values<uint16_t>(decoded->inputs[0]), (std::vector<uint16_t>{0x3F80, 0xC040}));
  ExpectInvalid(Body(Input("x", "BF16", "[1]", "[1.0]")), OneInput(DType::kBFloat16, {-1}), "BF16 has no JSON form");
}

void ExpectBinaryInvalid(const std::string& json, const std::string& tail, std::optional<std::size_t> json_length,
                         const std::string& fragment) {
  auto decoded = DecodeInferRequest(json + tail, json_length, TwoInputs(), {});
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(decoded.status().message(), fragment));
}

const std::string kBinaryX =
    "{\"inputs\":[{\"name\":\"mask\",\"datatype\":\"BOOL\",\"shape\":[1],\"data\":[true]},"
    "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"parameters\":{\"binary_data_size\":12}}]}";

TEST(KServeDecodeTest, BinaryErrorsSayWhatWasDeclaredAndWhatCame) {
  ExpectBinaryInvalid(kBinaryX, "", std::nullopt,
                      "declares parameters.binary_data_size but the request has no Inference-Header-Content-Length");
  ExpectBinaryInvalid(kBinaryX, std::string(8, '\0'), kBinaryX.size(),
                      "parameters.binary_data_size is 12 but only 8 bytes of binary data remain");
  ExpectBinaryInvalid(kBinaryX, std::string(16, '\0'), kBinaryX.size(),
                      "carries 16 bytes of binary data after the JSON but the inputs declare 12");
  std::string wrong_size = kBinaryX;
  wrong_size.replace(wrong_size.find("12}"), 2, "20");
  ExpectBinaryInvalid(wrong_size, std::string(20, '\0'), wrong_size.size(),
                      "input 'x': shape [1, 3] of FP32 needs 12 bytes; parameters.binary_data_size is 20");
  std::string both = kBinaryX;
  both.replace(both.find("\"parameters\""), 0, "\"data\":[1,2,3],");
  ExpectBinaryInvalid(both, std::string(12, '\0'), both.size(), "has both 'data' and parameters.binary_data_size");
  std::string negative = kBinaryX;
  negative.replace(negative.find("12}"), 2, "-4");
  ExpectBinaryInvalid(negative, "", negative.size(), "binary_data_size must be a non-negative integer; got -4");
}

TEST(KServeDecodeTest, BinaryBoolsMustBeZeroOrOne) {
  const std::string json =
      "{\"inputs\":[{\"name\":\"mask\",\"datatype\":\"BOOL\",\"shape\":[2],\"parameters\":{\"binary_data_size\":2}},"
      + Input("x", "FP32", "[0,3]", "[]") + "]}";
  ExpectBinaryInvalid(json, std::string("\x01\x02", 2), json.size(), "binary BOOL element 1 is byte 2");
}

TEST(KServeDecodeTest, InferenceHeaderLengthMustBeAByteCountWithinTheBody) {
  auto ok = ParseInferenceHeaderLength("42", 100);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42u);
  for (const char* bad : {"", "abc", "-1", "4 2", "12x"}) {
    auto parsed = ParseInferenceHeaderLength(bad, 100);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(Contains(parsed.status().message(), "must be a decimal byte count"));
  }
  auto too_long = ParseInferenceHeaderLength("101", 100);
  ASSERT_FALSE(too_long.ok());
  EXPECT_TRUE(Contains(too_long.status().message(), "is 101 but the body has only 100 bytes"));
}

// ---- Errors: each names the input, what was expected and what came ----

const Signature kFp32 = OneInput(DType::kFloat32, {-1, 3});

TEST(KServeDecodeTest, RefusesBodiesThatAreNotJsonObjects) {
  ExpectInvalid("{\"inputs\": [", kFp32, "request body is not valid JSON");
  ExpectInvalid("{} trailing", kFp32, "request body is not valid JSON");
  ExpectInvalid("[1,2,3]", kFp32, "must be a JSON object with an 'inputs' array; got an array");
  ExpectInvalid("{\"id\":\"a\"}", kFp32, "'inputs' must be an array of tensors; got none");
  ExpectInvalid("{\"inputs\":{}}", kFp32, "'inputs' must be an array of tensors; got an object");
  ExpectInvalid("{\"inputs\":[3]}", kFp32, "inputs[0] must be an object");
  ExpectInvalid("{\"inputs\":[{\"datatype\":\"FP32\"}]}", kFp32, "inputs[0] needs a string 'name'");
}

TEST(KServeDecodeTest, RefusesJsonNestedDeeperThanTheLimit) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", deep)), kFp32, "nests deeper than 64 levels");
  CodecLimits shallow;
  shallow.max_json_depth = 5;  // object > inputs > input > data > one nested level
  auto decoded = Decode(Body(Input("x", "FP32", "[1,3]", "[[[1,2,3]]]")), kFp32, shallow);
  ASSERT_FALSE(decoded.ok());
  EXPECT_TRUE(Contains(decoded.status().message(), "nests deeper than 5 levels"));
}

TEST(KServeDecodeTest, RefusesUnknownMissingAndRepeatedInputs) {
  ExpectInvalid(Body(Input("z", "FP32", "[1,3]", "[1,2,3]")), kFp32,
                "unknown input 'z'; the model's inputs are x: FP32[-1, 3]");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,2,3]")), TwoInputs(),
                "missing input 'mask' (mask: BOOL[-1]); the model's inputs are x: FP32[-1, 3], mask: BOOL[-1]");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,2,3]") + "," + Input("x", "FP32", "[1,3]", "[1,2,3]")), kFp32,
                "input 'x' appears more than once");
}

TEST(KServeDecodeTest, RefusesWrongOrUnknownDatatypes) {
  ExpectInvalid(Body(Input("x", "INT64", "[1,3]", "[1,2,3]")), kFp32, "input 'x': expected datatype FP32; got INT64");
  ExpectInvalid(Body(Input("x", "FLOAT", "[1,3]", "[1,2,3]")), kFp32,
                "input 'x': unknown datatype 'FLOAT'; expected FP32 (KServe names are BOOL, INT8");
  ExpectInvalid(Body("{\"name\":\"x\",\"shape\":[1,3],\"data\":[1,2,3]}"), kFp32,
                "input 'x': 'datatype' must be the string \"FP32\"; got none");
}

TEST(KServeDecodeTest, RefusesShapesThatDoNotFitTheSignature) {
  ExpectInvalid(Body(Input("x", "FP32", "[3]", "[1,2,3]")), kFp32,
                "input 'x': expected shape [-1, 3] (rank 2); got [3] (rank 1)");
  ExpectInvalid(Body(Input("x", "FP32", "[1,4]", "[1,2,3,4]")), kFp32,
                "input 'x': expected shape [-1, 3]; got [1, 4] (dimension 1 must be 3)");
  ExpectInvalid(Body(Input("x", "FP32", "[-1,3]", "[1,2,3]")), kFp32,
                "input 'x': 'shape' must be an array of non-negative integers");
  ExpectInvalid(Body(Input("x", "FP32", "\"1,3\"", "[1,2,3]")), kFp32, "got a string");
  ExpectInvalid(Body("{\"name\":\"x\",\"datatype\":\"FP32\",\"data\":[1,2,3]}"), kFp32, "got no 'shape'");
}

TEST(KServeDecodeTest, RefusesDataWhoseCountDoesNotMatchTheShape) {
  ExpectInvalid(Body(Input("x", "FP32", "[2,3]", "[1,2,3,4,5]")), kFp32,
                "input 'x': shape [2, 3] needs 6 elements; 'data' holds 5");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[[1,2],[3,4]]")), kFp32, "needs 3 elements; 'data' holds 4");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "{\"a\":1}")), kFp32,
                "input 'x': 'data' must be an array (flat or nested); got an object");
  ExpectInvalid(Body("{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3]}"), kFp32,
                "input 'x' has no 'data' (nor parameters.binary_data_size");
}

TEST(KServeDecodeTest, RefusesValuesOutOfRangeForTheDatatype) {
  ExpectInvalid(Body(Input("x", "UINT8", "[2]", "[1,300]")), OneInput(DType::kUInt8, {-1}),
                "input 'x': element 1 is 300, out of range for UINT8 (0 to 255)");
  ExpectInvalid(Body(Input("x", "UINT8", "[1]", "[-1]")), OneInput(DType::kUInt8, {-1}),
                "element 0 is -1, out of range for UINT8");
  ExpectInvalid(Body(Input("x", "INT8", "[1]", "[-129]")), OneInput(DType::kInt8, {-1}),
                "element 0 is -129, out of range for INT8 (-128 to 127)");
  ExpectInvalid(Body(Input("x", "INT64", "[1]", "[9223372036854775808]")), OneInput(DType::kInt64, {-1}),
                "element 0 is 9223372036854775808, out of range for INT64");
  ExpectInvalid(Body(Input("x", "INT64", "[1]", "[1e19]")), OneInput(DType::kInt64, {-1}),
                "out of range for INT64");
  ExpectInvalid(Body(Input("x", "UINT32", "[1]", "[4294967296]")), OneInput(DType::kUInt32, {-1}),
                "out of range for UINT32 (0 to 4294967295)");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,2,1e39]")), kFp32,
                "element 2 is 1e+39, out of range for FP32");
  ExpectInvalid(Body(Input("x", "FP16", "[1]", "[70000]")), OneInput(DType::kFloat16, {-1}),
                "element 0 is 70000, out of range for FP16 (magnitude up to 65504)");
}

TEST(KServeDecodeTest, RefusesValuesOfTheWrongJsonType) {
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,\"2\",3]")), kFp32,
                "input 'x': element 1 is a string; FP32 data must be numbers");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,null,3]")), kFp32, "element 1 is null; FP32 data must be numbers");
  ExpectInvalid(Body(Input("x", "INT32", "[1]", "[1.5]")), OneInput(DType::kInt32, {-1}),
                "element 0 is 1.5; INT32 data must be integers");
  ExpectInvalid(Body(Input("x", "INT32", "[1]", "[true]")), OneInput(DType::kInt32, {-1}),
                "element 0 is true; INT32 data must be integers");
  ExpectInvalid(Body(Input("x", "BOOL", "[1]", "[1]")), OneInput(DType::kBool, {-1}),
                "element 0 is 1; BOOL data must be true or false");
  ExpectInvalid(Body(Input("x", "FP32", "[1,3]", "[1,{},3]")), kFp32, "element 1 is an object");
}

TEST(KServeDecodeTest, RefusesTensorsBeyondTheElementLimit) {
  CodecLimits limits;
  limits.max_elements_per_tensor = 5;
  auto decoded = Decode(Body(Input("x", "FP32", "[2,3]", "[1,2,3,4,5,6]")), kFp32, limits);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(decoded.status().message(), "input 'x': shape [2, 3] holds more than the 5 elements"));
  // A shape whose product overflows is refused the same way, before any allocation.
  auto overflow = Decode(Body(Input("x", "FP32", "[9223372036854775807,3]", "[]")), kFp32);
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.status().code(), StatusCode::kResourceExhausted);
}

TEST(KServeDecodeTest, RefusesBadIdsAndParameters) {
  const std::string x = Input("x", "FP32", "[1,3]", "[1,2,3]");
  ExpectInvalid("{\"id\":7,\"inputs\":[" + x + "]}", kFp32, "'id' must be a string; got a number");
  ExpectInvalid("{\"id\":\"" + std::string(2000, 'a') + "\",\"inputs\":[" + x + "]}", kFp32,
                "'id' is 2000 bytes; the limit is 1024");
  ExpectInvalid(Body(x, ",\"parameters\":[]"), kFp32, "request: 'parameters' must be an object; got an array");
  ExpectInvalid(Body(x, ",\"parameters\":{\"binary_data_output\":\"yes\"}"), kFp32,
                "request: parameters.binary_data_output must be true or false; got a string");
  ExpectInvalid(Body(x, ",\"parameters\":{\"routing_key\":7}"), kFp32,
                "request: parameters.routing_key must be a string; got a number");
  ExpectInvalid(Body(x, ",\"parameters\":{\"routing_key\":\"" + std::string(257, 'k') + "\"}"), kFp32,
                "parameters.routing_key must be at most 256 bytes; got 257");
}

TEST(KServeDecodeTest, ReadsTheRoutingKeyParameter) {
  const std::string x = Input("x", "FP32", "[1,3]", "[1,2,3]");
  auto keyed = Decode(Body(x, ",\"parameters\":{\"routing_key\":\"user-7\"}"), kFp32);
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  EXPECT_EQ(keyed->routing_key, "user-7");
  auto keyless = Decode(Body(x), kFp32);
  ASSERT_TRUE(keyless.ok());
  EXPECT_TRUE(keyless->routing_key.empty());
}

TEST(KServeDecodeTest, RefusesUnknownRepeatedOrMalformedOutputs) {
  const std::string x = Input("x", "FP32", "[1,3]", "[1,2,3]");
  ExpectInvalid(Body(x, ",\"outputs\":[{\"name\":\"z\"}]"), kFp32,
                "unknown output 'z'; the model's outputs are y: FP32[-1, 3]");
  ExpectInvalid(Body(x, ",\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]"), kFp32,
                "output 'y' appears more than once");
  ExpectInvalid(Body(x, ",\"outputs\":[\"y\"]"), kFp32,
                "each entry of 'outputs' must be an object with a string 'name'");
  ExpectInvalid(Body(x, ",\"outputs\":{}"), kFp32, "'outputs' must be an array");
  ExpectInvalid(Body(x, ",\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":1}}]"), kFp32,
                "output 'y': parameters.binary_data must be true or false; got 1");
}

TEST(KServeDecodeTest, RefusesInvalidUtf8InStrings) {
  ExpectInvalid("{\"id\":\"\xff\xfe\",\"inputs\":[]}", kFp32, "request body is not valid JSON");
}

}  // namespace
}  // namespace mlship::serving
