// KServe v2 (Open Inference Protocol) REST codec: infer request bodies to
// HostTensors, HostTensors to infer response bodies.
//
// Both JSON tensor data (flat or nested "data" arrays) and the binary tensor
// data extension are supported: with binary data, the header
// Inference-Header-Content-Length gives the length of the JSON that opens
// the body, and each tensor that declares parameters.binary_data_size has
// that many raw little-endian bytes after it, in the order of the tensors.
//
// Decoding checks every input against the model's Signature and answers
// InvalidArgument (HTTP 400) with a message that names the input, what was
// expected and what came; a size bound from CodecLimits answers
// ResourceExhausted (HTTP 413). All functions are thread-safe (no state).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/serving/codec_limits.h"
#include "mlship/serving/host_tensor.h"
#include "mlship/status.h"

namespace mlship::serving {

// The HTTP header that carries the JSON length when binary tensors follow.
inline constexpr std::string_view kInferenceHeaderContentLength = "Inference-Header-Content-Length";

// Which outputs a client asked for, and whether each is to be sent as JSON
// numbers or as binary tensor data.
struct OutputSelection {
  // One entry of the request's "outputs" array.
  struct Requested {
    // The output's name; always one of the Signature's outputs.
    std::string name;
    // parameters.binary_data when the entry sets it.
    std::optional<bool> binary_data;
  };
  // The outputs asked for, in request order; empty means all outputs.
  std::vector<Requested> requested;
  // The request-level parameter "binary_data_output": how outputs whose
  // entry does not say (or that were not listed) are sent. Default JSON.
  bool binary_data_output = false;

  // The names in `requested`, in order.
  std::vector<std::string> Names() const;
  // True when output `name` goes out as binary data.
  bool SendsBinary(std::string_view name) const;
};

// An infer request body, decoded and checked against the Signature.
struct DecodedInferRequest {
  // The request's "id"; empty when it had none.
  std::string id;
  // One tensor per Signature input, in Signature order.
  std::vector<HostTensor> inputs;
  // The "outputs" section and the binary_data_output parameter.
  OutputSelection outputs;
  // parameters.routing_key (a string of at most kMaxRoutingKeyBytes); empty
  // when absent. The mlship-routing-key header, when sent, takes precedence.
  std::string routing_key;
};

// Longest routing key accepted (header or parameters.routing_key), in bytes.
inline constexpr std::size_t kMaxRoutingKeyBytes = 256;

// Parses the value of the Inference-Header-Content-Length header: a decimal
// byte count no larger than `body_size`.
StatusOr<std::size_t> ParseInferenceHeaderLength(std::string_view value, std::size_t body_size);

// Decodes an infer request body. `json_length` is the parsed
// Inference-Header-Content-Length (nullopt when the header is absent: the
// whole body is JSON and no input may be binary).
StatusOr<DecodedInferRequest> DecodeInferRequest(std::string_view body, std::optional<std::size_t> json_length,
                                                 const Signature& signature, const CodecLimits& limits);

// The identifying fields of an infer response.
struct InferResponseHeader {
  // "model_name".
  std::string model_name;
  // "model_version".
  std::string model_version;
  // "id"; omitted from the JSON when empty.
  std::string id;
};

// An encoded response body.
struct EncodedBody {
  // JSON, followed by the binary tensors when json_length is set.
  std::string body;
  // The length of the JSON part, for the Inference-Header-Content-Length
  // header; nullopt when the body is JSON only.
  std::optional<std::size_t> json_length;
};

// Encodes `outputs` as an infer response. Sends the outputs `selection`
// names, in its order (all of `outputs`, in order, when it names none),
// as JSON numbers written with std::to_chars (shortest form that reads back
// to the same value) or as binary data, per SendsBinary. In JSON, FP16 is
// written as numbers, BF16 is widened to FP32 (KServe JSON has no BF16), and
// a non-finite float (NaN, +-inf, which JSON cannot spell) is written as
// null: ask for binary data to receive it exactly. Answers Internal when an
// output asked for is missing or inconsistent, ResourceExhausted when an
// output holds more than limits.max_elements_per_tensor elements.
StatusOr<EncodedBody> EncodeInferResponse(const InferResponseHeader& header, const std::vector<HostTensor>& outputs,
                                          const OutputSelection& selection, const CodecLimits& limits);

// {"error": "<message>"}, the body of every error response. Bytes outside
// ASCII become '?' (messages may quote raw client input), so the body is
// always valid JSON.
std::string EncodeErrorBody(std::string_view message);

}  // namespace mlship::serving
