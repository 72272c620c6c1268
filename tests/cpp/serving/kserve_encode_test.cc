#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mlship/serving/kserve_codec.h"
#include "text_assertions.h"

namespace mlship::serving {
namespace {

using ::mlship::serving::testing::Contains;
using ::mlship::serving::testing::Lacks;

namespace json = boost::json;

template <typename T>
HostTensor Tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  return HostTensor::CopyOf(name, dtype, std::move(shape), values.data());
}

const InferResponseHeader kHeader{"digits", "3", "req-1"};

EncodedBody Encode(const std::vector<HostTensor>& outputs, const OutputSelection& selection = {}) {
  StatusOr<EncodedBody> encoded = EncodeInferResponse(kHeader, outputs, selection, {});
  EXPECT_TRUE(encoded.ok()) << encoded.status().ToString();
  return encoded.ok() ? *encoded : EncodedBody{};
}

json::object ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return value.is_object() ? value.get_object() : json::object();
}

TEST(KServeEncodeTest, WritesTheResponseEnvelopeAndJsonOutputs) {
  const EncodedBody encoded = Encode({Tensor<float>("y", DType::kFloat32, {2, 2}, {0.1f, -2, 3.5f, 1e20f})});
  EXPECT_FALSE(encoded.json_length.has_value());
  EXPECT_EQ(encoded.body,
            "{\"model_name\":\"digits\",\"model_version\":\"3\",\"id\":\"req-1\",\"outputs\":[{\"name\":\"y\","
            "\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[0.1,-2,3.5,1e+20]}]}");
}

TEST(KServeEncodeTest, OmitsAnEmptyIdAndEscapesStrings) {
  StatusOr<EncodedBody> encoded = EncodeInferResponse({"a\"b\\c", "1", ""},
                                                      {Tensor<int32_t>("y", DType::kInt32, {1}, {5})}, {}, {});
  ASSERT_TRUE(encoded.ok());
  const json::object body = ParseJson(encoded->body);
  EXPECT_EQ(body.at("model_name").as_string(), "a\"b\\c");
  EXPECT_FALSE(body.contains("id"));
}

// Encodes one output and returns its "data" array.
json::array DataOf(const HostTensor& output) {
  const json::object body = ParseJson(Encode({output}).body);
  return body.at("outputs").as_array().at(0).as_object().at("data").as_array();
}

TEST(KServeEncodeTest, WritesEveryDatatypeAsNumbersThatReadBack) {
  EXPECT_EQ(json::serialize(DataOf(Tensor<uint8_t>("b", DType::kBool, {3}, {1, 0, 1}))), "[true,false,true]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<int8_t>("i8", DType::kInt8, {2}, {-128, 127}))), "[-128,127]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<uint8_t>("u8", DType::kUInt8, {2}, {0, 255}))), "[0,255]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<int16_t>("i16", DType::kInt16, {1}, {-32768}))), "[-32768]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<uint16_t>("u16", DType::kUInt16, {1}, {65535}))), "[65535]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<int32_t>("i32", DType::kInt32, {1}, {-7}))), "[-7]");
  EXPECT_EQ(json::serialize(DataOf(Tensor<uint32_t>("u32", DType::kUInt32, {1}, {4294967295u}))), "[4294967295]");
  EXPECT_EQ(DataOf(Tensor<int64_t>("i64", DType::kInt64, {1}, {std::numeric_limits<int64_t>::min()}))[0].as_int64(),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(DataOf(Tensor<uint64_t>("u64", DType::kUInt64, {1}, {std::numeric_limits<uint64_t>::max()}))[0].as_uint64(),
            std::numeric_limits<uint64_t>::max());
  // FP16 0x3555 is 0.333251953125: written as the float it holds.
  const json::array fp16 = DataOf(Tensor<uint16_t>("h", DType::kFloat16, {2}, {0x3C00, 0x3555}));
  EXPECT_EQ(fp16[0].to_number<double>(), 1.0);
  EXPECT_EQ(static_cast<float>(fp16[1].as_double()), 0.333251953125f);
  // Shortest text that reads back to the same float.
  EXPECT_TRUE(Contains(Encode({Tensor<float>("f", DType::kFloat32, {2}, {0.3f, 16777216.0f})}).body,
                       "\"data\":[0.3,16777216]"));
}

TEST(KServeEncodeTest, Bf16IsWidenedToFp32InJsonButKeptInBinary) {
  const HostTensor bf16 = Tensor<uint16_t>("h", DType::kBFloat16, {2}, {0x3F80, 0xC040});
  const json::object body = ParseJson(Encode({bf16}).body);
  const json::object& output = body.at("outputs").as_array().at(0).as_object();
  EXPECT_EQ(output.at("datatype").as_string(), "FP32");
  EXPECT_TRUE(Contains(Encode({bf16}).body, "\"data\":[1,-3]"));

  OutputSelection binary;
  binary.binary_data_output = true;
  const EncodedBody encoded = Encode({bf16}, binary);
  ASSERT_TRUE(encoded.json_length.has_value());
  EXPECT_TRUE(Contains(encoded.body.substr(0, *encoded.json_length), "\"datatype\":\"BF16\""));
}

TEST(KServeEncodeTest, NonFiniteFloatsBecomeNull) {
  const float inf = std::numeric_limits<float>::infinity();
  const EncodedBody encoded =
      Encode({Tensor<float>("y", DType::kFloat32, {3}, {std::nanf(""), inf, 1.0f})});
  EXPECT_TRUE(Contains(encoded.body, "\"data\":[null,null,1]"));
}

TEST(KServeEncodeTest, Fp32AndFp64RoundTripExactlyThroughText) {
  std::mt19937_64 random(7);
  std::vector<double> doubles;
  std::vector<float> floats;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t bits = random();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) doubles.push_back(d);
    const auto bits32 = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &bits32, sizeof f);
    if (std::isfinite(f)) floats.push_back(f);
  }
  // Read back with std::from_chars (correctly rounded), as a careful client does.
  const HostTensor d = Tensor<double>("d", DType::kFloat64, {static_cast<int64_t>(doubles.size())}, doubles);
  const HostTensor f = Tensor<float>("f", DType::kFloat32, {static_cast<int64_t>(floats.size())}, floats);
  const std::string body = Encode({d, f}).body;
  const std::size_t d_start = body.find("\"data\":[") + 8;
  const char* cursor = body.data() + d_start;
  for (double expected : doubles) {
    double value = 0;
    const auto result = std::from_chars(cursor, body.data() + body.size(), value);
    ASSERT_EQ(result.ec, std::errc());
    ASSERT_EQ(value, expected);
    cursor = result.ptr + 1;  // skip ',' (or ']')
  }
  cursor = body.data() + body.find("\"data\":[", d_start) + 8;
  for (float expected : floats) {
    float value = 0;
    const auto result = std::from_chars(cursor, body.data() + body.size(), value);
    ASSERT_EQ(result.ec, std::errc());
    ASSERT_EQ(value, expected);
    cursor = result.ptr + 1;
  }
}

TEST(KServeEncodeTest, SendsRequestedOutputsInRequestedOrder) {
  const std::vector<HostTensor> outputs = {Tensor<float>("y", DType::kFloat32, {1}, {1}),
                                           Tensor<double>("score", DType::kFloat64, {1}, {2})};
  OutputSelection selection;
  selection.requested = {{"score", std::nullopt}};
  json::object body = ParseJson(Encode(outputs, selection).body);
  ASSERT_EQ(body.at("outputs").as_array().size(), 1u);
  EXPECT_EQ(body.at("outputs").as_array()[0].as_object().at("name").as_string(), "score");

  selection.requested = {{"score", std::nullopt}, {"y", std::nullopt}};
  body = ParseJson(Encode(outputs, selection).body);
  EXPECT_EQ(body.at("outputs").as_array()[1].as_object().at("name").as_string(), "y");

  body = ParseJson(Encode(outputs).body);  // none requested: all, in model order
  EXPECT_EQ(body.at("outputs").as_array()[0].as_object().at("name").as_string(), "y");
}

TEST(KServeEncodeTest, BinaryOutputsFollowTheJsonInOrder) {
  const std::vector<HostTensor> outputs = {Tensor<float>("y", DType::kFloat32, {2}, {1.5f, -2}),
                                           Tensor<int64_t>("rows", DType::kInt64, {1}, {2}),
                                           Tensor<uint8_t>("mask", DType::kBool, {3}, {1, 0, 1})};
  OutputSelection selection;
  selection.requested = {{"mask", true}, {"rows", std::nullopt}, {"y", true}};
  const EncodedBody encoded = Encode(outputs, selection);
  ASSERT_TRUE(encoded.json_length.has_value());
  const json::object body = ParseJson(encoded.body.substr(0, *encoded.json_length));
  const json::array& sent = body.at("outputs").as_array();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].as_object().at("parameters").as_object().at("binary_data_size").as_int64(), 3);
  EXPECT_FALSE(sent[0].as_object().contains("data"));
  EXPECT_EQ(json::serialize(sent[1].as_object().at("data")), "[2]");  // rows stays JSON
  EXPECT_EQ(sent[2].as_object().at("parameters").as_object().at("binary_data_size").as_int64(), 8);

  const std::string tail = encoded.body.substr(*encoded.json_length);
  ASSERT_EQ(tail.size(), 3u + 8u);
  EXPECT_EQ(tail.substr(0, 3), std::string("\x01\x00\x01", 3));
  float y[2];
  std::memcpy(y, tail.data() + 3, sizeof y);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[1], -2.0f);
}

TEST(KServeEncodeTest, BinaryDataOutputParameterSendsEveryOutputAsBinary) {
  OutputSelection selection;
  selection.binary_data_output = true;
  const EncodedBody encoded = Encode({Tensor<int32_t>("y", DType::kInt32, {2}, {7, 8})}, selection);
  ASSERT_TRUE(encoded.json_length.has_value());
  EXPECT_EQ(encoded.body.size(), *encoded.json_length + 8);
  int32_t values[2];
  std::memcpy(values, encoded.body.data() + *encoded.json_length, sizeof values);
  EXPECT_EQ(values[0], 7);
  EXPECT_EQ(values[1], 8);
}

TEST(KServeEncodeTest, BinaryRequestRoundTripsThroughDecodeAndEncode) {
  Signature signature;
  signature.inputs = {{"x", DType::kFloat16, {-1}}};
  signature.outputs = {{"x", DType::kFloat16, {-1}}};
  const uint16_t halves[] = {0x3C00, 0x7BFF, 0x0001};
  const std::string json =
      "{\"id\":\"r\",\"parameters\":{\"binary_data_output\":true},\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP16\","
      "\"shape\":[3],\"parameters\":{\"binary_data_size\":6}}]}";
  auto decoded = DecodeInferRequest(json + std::string(reinterpret_cast<const char*>(halves), 6), json.size(),
                                    signature, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  auto encoded = EncodeInferResponse({"m", "1", decoded->id}, decoded->inputs, decoded->outputs, {});
  ASSERT_TRUE(encoded.ok());
  ASSERT_TRUE(encoded->json_length.has_value());
  EXPECT_EQ(encoded->body.substr(*encoded->json_length), std::string(reinterpret_cast<const char*>(halves), 6));
}

TEST(KServeEncodeTest, MissingOrInconsistentOutputsAreInternalErrors) {
  OutputSelection selection;
  selection.requested = {{"score", std::nullopt}};
  auto missing = EncodeInferResponse(kHeader, {Tensor<float>("y", DType::kFloat32, {1}, {1})}, selection, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(Contains(missing.status().message(), "did not produce the requested output 'score'"));

  HostTensor short_tensor = Tensor<float>("y", DType::kFloat32, {2}, {1, 2});
  short_tensor.byte_size = 4;
  auto inconsistent = EncodeInferResponse(kHeader, {short_tensor}, {}, {});
  ASSERT_FALSE(inconsistent.ok());
  EXPECT_EQ(inconsistent.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(Contains(inconsistent.status().message(),
                       "output 'y' of shape [2] and type FP32 carries 4 bytes; expected 8"));
}

TEST(KServeEncodeTest, OutputsBeyondTheElementLimitAreRefused) {
  CodecLimits limits;
  limits.max_elements_per_tensor = 3;
  auto encoded = EncodeInferResponse(kHeader, {Tensor<float>("y", DType::kFloat32, {4}, {1, 2, 3, 4})}, {}, limits);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(encoded.status().message(), "output 'y' holds 4 elements, more than the 3"));
}

TEST(KServeEncodeTest, ErrorBodiesAreJsonWithAnEscapedMessage) {
  EXPECT_EQ(EncodeErrorBody("bad \"x\"\n"), "{\"error\":\"bad \\\"x\\\"\\n\"}");
  // Raw client bytes quoted in a message cannot make the body invalid UTF-8.
  EXPECT_EQ(EncodeErrorBody("no model named '\xff\xfe'"), "{\"error\":\"no model named '\?\?'\"}");
}

}  // namespace
}  // namespace mlship::serving
