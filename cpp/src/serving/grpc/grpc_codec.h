// ModelInferRequest -> checked HostTensors, HostTensors -> ModelInferResponse
// (internal to mlship_grpc). The same checks as the REST codec: every input
// against the model's Signature (name, datatype, shape, element bound),
// InvalidArgument naming the input, what was expected and what came;
// ResourceExhausted past CodecLimits. Thread-safe (no state).
#pragma once

#include <string>
#include <vector>

#include "grpc_inference.pb.h"
#include "mlship/engine/signature.h"
#include "mlship/serving/codec_limits.h"
#include "mlship/serving/host_tensor.h"
#include "mlship/status.h"

namespace mlship::serving::internal {

// A ModelInferRequest's tensors, decoded.
struct GrpcDecodedRequest {
  // One per Signature input, in Signature order.
  std::vector<HostTensor> inputs;
  // Outputs asked for, in request order; empty: all.
  std::vector<std::string> requested_outputs;
  // Whether outputs go out as raw_output_contents (the default, what
  // tritonclient reads fastest) or as typed contents: false when the
  // request's parameter "binary_data_output" is false.
  bool raw_outputs = true;
  // parameters["routing_key"], when a string.
  std::string routing_key;
};

// Decodes and checks `request` against `signature`. Inputs come either all
// as raw_input_contents (one entry per input, in the order of `inputs`) or
// all as typed contents; FP16 and BF16 only raw (the protocol has no typed
// field for them).
StatusOr<GrpcDecodedRequest> DecodeGrpcInferRequest(const inference::ModelInferRequest& request,
                                                    const Signature& signature, const CodecLimits& limits);

// Fills `response`'s outputs from `outputs` (all, in order, when
// `requested` is empty; else those, in its order), raw or typed.
// InvalidArgument when typed contents are asked for an FP16/BF16 output;
// Internal when an output is missing or inconsistent.
Status EncodeGrpcInferOutputs(const std::vector<HostTensor>& outputs, const std::vector<std::string>& requested,
                              bool raw, inference::ModelInferResponse& response);

}  // namespace mlship::serving::internal
