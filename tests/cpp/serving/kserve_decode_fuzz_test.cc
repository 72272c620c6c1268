// A bounded random-mutation fuzz of the KServe v2 decoder (JSON tensor
// reader, shapes, binary sections): seeds of valid requests, mutated byte by
// byte and token by token. Every result must be a Status or consistent
// tensors no larger than the body could pay for; the process must never
// crash (run under ASan and UBSan by `make test-sanitize`).
//
// MLSHIP_FUZZ_ITERATIONS (default 4000, about a second) and MLSHIP_FUZZ_SEED
// set the run; `make fuzz` runs it long. A crash it finds becomes a test in
// kserve_decode_hostile_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mlship/serving/kserve_codec.h"

namespace mlship::serving {
namespace {

Signature FuzzSignature() {
  Signature signature;
  signature.inputs = {{"x", DType::kFloat32, {-1, 3}},
                      {"mask", DType::kBool, {-1}},
                      {"ids", DType::kInt64, {-1, -1}},
                      {"half", DType::kFloat16, {-1}}};
  signature.outputs = {{"y", DType::kFloat32, {-1, 3}}};
  return signature;
}

// Valid requests (and near misses) to start from. Binary seeds carry their
// JSON length after a '|' in this table.
const std::vector<std::string>& Seeds() {
  static const std::vector<std::string> seeds = {
      R"({"id":"a","inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4.5,-5,6e-1]},)"
      R"({"name":"mask","shape":[2],"datatype":"BOOL","data":[true,false]},)"
      R"({"name":"ids","shape":[1,2],"datatype":"INT64","data":[[9007199254740993,-1]]},)"
      R"({"name":"half","shape":[1],"datatype":"FP16","data":[0.5]}],)"
      R"("outputs":[{"name":"y","parameters":{"binary_data":true}}],"parameters":{"binary_data_output":false}})",
      R"({"inputs":[{"data":[[1,2,3]],"name":"x","shape":[1,3],"datatype":"FP32"},)"
      R"({"name":"mask","datatype":"BOOL","shape":[0],"data":[]},{"name":"ids","datatype":"INT64","shape":[0,0],"data":[]},)"
      R"({"name":"half","datatype":"FP16","shape":[2],"data":[65504,-0]}]})",
      R"({"inputs":[{"name":"x","shape":[1048576,3],"datatype":"FP32","data":[]}]})",
      R"({"inputs":[{"name":"x","shape":[2147483648,3],"datatype":"FP32","parameters":{"binary_data_size":0}}]})",
  };
  return seeds;
}

// Tokens that make interesting mutations of JSON.
const std::vector<std::string>& Tokens() {
  static const std::vector<std::string> tokens = {
      "[", "]", "{", "}", ",", ":", "\"", "null", "true", "-0", "1e999", "-1", "2147483648", "9223372036854775807",
      "18446744073709551616", "0.5", "\"data\":[", "\"shape\":[", "\"datatype\":\"FP32\"",
      "\"parameters\":{\"binary_data_size\":12}", "[[[[[[[[", "]]]]]]]]", "\"x\"", "\"mask\"", "\\u0000"};
  return tokens;
}

std::string Mutate(std::string text, std::mt19937_64& rng) {
  // Mostly one mutation, so many requests stay close to valid and reach
  // the tensor reader; sometimes up to four.
  const int rounds = rng() % 4 == 0 ? 1 + static_cast<int>(rng() % 4) : 1;
  for (int r = 0; r < rounds; ++r) {
    const std::size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
    switch (rng() % 5) {
      case 0:  // flip a byte
        if (!text.empty()) text[at % text.size()] = static_cast<char>(rng());
        break;
      case 1:  // insert a token
        text.insert(at, Tokens()[rng() % Tokens().size()]);
        break;
      case 2: {  // delete a range
        const std::size_t length = rng() % 16;
        if (at < text.size()) text.erase(at, length);
        break;
      }
      case 3: {  // duplicate a range
        const std::size_t length = rng() % 64;
        if (at < text.size()) text.insert(at, text.substr(at, length));
        break;
      }
      default:  // append raw bytes (a binary section)
        for (int i = 0; i < 12; ++i) text.push_back(static_cast<char>(rng()));
        break;
    }
  }
  return text;
}

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::strtoll(value, nullptr, 10) : fallback;
}

TEST(KServeDecodeFuzzTest, MutatedRequestsDecodeToAStatusOrToConsistentTensors) {
  const int64_t iterations = EnvOr("MLSHIP_FUZZ_ITERATIONS", 4000);
  const auto seed = static_cast<uint64_t>(EnvOr("MLSHIP_FUZZ_SEED", 15));
  std::mt19937_64 rng(seed);
  const Signature signature = FuzzSignature();
  CodecLimits limits;
  limits.max_json_depth = 16;
  int64_t decoded_ok = 0;
  for (int64_t i = 0; i < iterations; ++i) {
    const std::string body = Mutate(Seeds()[rng() % Seeds().size()], rng);
    // Half the time, a binary section: the JSON ends somewhere in the body.
    std::optional<std::size_t> json_length;
    if (rng() % 2 == 0) json_length = body.empty() ? 0 : rng() % (body.size() + 1);
    StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, json_length, signature, limits);
    if (!decoded.ok()) {
      ASSERT_FALSE(decoded.status().message().empty()) << "iteration " << i;
      continue;
    }
    ++decoded_ok;
    for (const HostTensor& tensor : decoded->inputs) {
      ASSERT_TRUE(tensor.IsConsistent()) << "iteration " << i << ": " << body;
      // JSON data costs at least one byte per element; binary data its bytes.
      ASSERT_LE(tensor.byte_size, body.size() * 8) << "iteration " << i << ": " << body;
    }
  }
  // The counts appear in CI's output.
  std::cout << "[ fuzz     ] " << iterations << " mutated requests (seed " << seed << "), " << decoded_ok
            << " decoded, " << (iterations - decoded_ok) << " refused, 0 crashes" << std::endl;
  EXPECT_GT(iterations - decoded_ok, 0);
}

}  // namespace
}  // namespace mlship::serving
