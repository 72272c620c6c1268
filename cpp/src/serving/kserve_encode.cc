// Encoding KServe v2 infer responses (JSON and binary tensor data).
#include <utility>

#include "json_text.h"
#include "mlship/serving/kserve_codec.h"
#include "tensor_data_json.h"

namespace mlship::serving {
using internal::AppendJsonString;

std::vector<std::string> OutputSelection::Names() const {
  std::vector<std::string> names;
  names.reserve(requested.size());
  for (const auto& output : requested) names.push_back(output.name);
  return names;
}

bool OutputSelection::SendsBinary(std::string_view name) const {
  for (const auto& output : requested) {
    if (output.name == name && output.binary_data.has_value()) return *output.binary_data;
  }
  return binary_data_output;
}

namespace {

// The outputs to send, in the order to send them.
StatusOr<std::vector<const HostTensor*>> SelectOutputs(const std::vector<HostTensor>& outputs,
                                                       const OutputSelection& selection) {
  std::vector<const HostTensor*> chosen;
  if (selection.requested.empty()) {
    for (const auto& output : outputs) chosen.push_back(&output);
    return chosen;
  }
  for (const auto& wanted : selection.requested) {
    const HostTensor* found = nullptr;
    for (const auto& output : outputs) {
      if (output.name == wanted.name) found = &output;
    }
    if (found == nullptr) {
      return Status::Internal("the model did not produce the requested output '" + wanted.name + "'");
    }
    chosen.push_back(found);
  }
  return chosen;
}

Status CheckOutput(const HostTensor& output, const CodecLimits& limits) {
  const std::optional<int64_t> elements = CheckedNumElements(output.shape);
  if (elements && *elements > limits.max_elements_per_tensor) {
    return Status::ResourceExhausted("output '" + output.name + "' holds " + std::to_string(*elements) +
                                     " elements, more than the " + std::to_string(limits.max_elements_per_tensor) +
                                     " one tensor may have; send smaller batches");
  }
  if (!output.IsConsistent()) {
    return Status::Internal("output '" + output.name + "' of shape " + ShapeToString(output.shape) + " and type " +
                            std::string(DTypeName(output.dtype)) + " carries " + std::to_string(output.byte_size) +
                            " bytes; expected " + std::to_string(output.ExpectedByteSize()));
  }
  return Status::Ok();
}

void AppendShape(std::string& out, const std::vector<int64_t>& shape) {
  out += '[';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(shape[i]);
  }
  out += ']';
}

}  // namespace

StatusOr<EncodedBody> EncodeInferResponse(const InferResponseHeader& header, const std::vector<HostTensor>& outputs,
                                          const OutputSelection& selection, const CodecLimits& limits) {
  ASSIGN_OR_RETURN(std::vector<const HostTensor*> chosen, SelectOutputs(outputs, selection));
  std::size_t binary_bytes = 0;
  std::size_t json_estimate = 256;
  for (const HostTensor* output : chosen) {
    RETURN_IF_ERROR(CheckOutput(*output, limits));
    if (selection.SendsBinary(output->name)) {
      binary_bytes += output->byte_size;
    } else {
      json_estimate += static_cast<std::size_t>(output->NumElements()) * 12;  // about a float's text and a comma
    }
  }

  EncodedBody encoded;
  std::string& out = encoded.body;
  out.reserve(json_estimate + binary_bytes);
  out += "{\"model_name\":";
  AppendJsonString(out, header.model_name);
  out += ",\"model_version\":";
  AppendJsonString(out, header.model_version);
  if (!header.id.empty()) {
    out += ",\"id\":";
    AppendJsonString(out, header.id);
  }
  out += ",\"outputs\":[";
  bool first = true;
  for (const HostTensor* output : chosen) {
    if (!first) out += ',';
    first = false;
    const bool binary = selection.SendsBinary(output->name);
    // KServe JSON has no BF16: JSON sends it widened to FP32 (exactly).
    const DType wire_dtype = !binary && output->dtype == DType::kBFloat16 ? DType::kFloat32 : output->dtype;
    out += "{\"name\":";
    AppendJsonString(out, output->name);
    out += ",\"datatype\":\"";
    out += DTypeName(wire_dtype);
    out += "\",\"shape\":";
    AppendShape(out, output->shape);
    if (binary) {
      out += ",\"parameters\":{\"binary_data_size\":" + std::to_string(output->byte_size) + "}}";
    } else {
      out += ",\"data\":";
      internal::AppendJsonData(out, *output);
      out += '}';
    }
  }
  out += "]}";

  bool any_binary = false;
  for (const HostTensor* output : chosen) any_binary = any_binary || selection.SendsBinary(output->name);
  if (any_binary) {
    encoded.json_length = out.size();
    for (const HostTensor* output : chosen) {
      if (selection.SendsBinary(output->name) && output->byte_size > 0) {
        out.append(reinterpret_cast<const char*>(output->data.get()), output->byte_size);
      }
    }
  }
  return encoded;
}

std::string EncodeErrorBody(std::string_view message) {
  // Messages may quote what a client sent (a path, a model name), which can
  // hold any byte; keep the body valid UTF-8 JSON by replacing non-ASCII
  // bytes. Control characters are escaped by AppendJsonString.
  std::string ascii(message);
  for (char& c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  std::string out = "{\"error\":";
  AppendJsonString(out, ascii);
  out += '}';
  return out;
}

}  // namespace mlship::serving
