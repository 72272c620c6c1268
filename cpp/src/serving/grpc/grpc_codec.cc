// The gRPC tensor codec: raw_input_contents and typed contents in, raw or
// typed contents out.
#include "grpc_codec.h"

#include <cstring>
#include <limits>
#include <map>
#include <type_traits>

#include "tensor_data_json.h"

namespace mlship::serving::internal {

namespace {

using inference::InferTensorContents;
using inference::ModelInferRequest;

// Longest name quoted back in an error: names come from the client.
constexpr std::size_t kMaxQuotedName = 128;

std::string Quoted(const std::string& name) {
  std::string shown = name.size() > kMaxQuotedName ? name.substr(0, kMaxQuotedName) + "..." : name;
  return "'" + shown + "'";
}

std::string SpecNames(const std::vector<TensorSpec>& specs) {
  std::string out;
  for (const auto& spec : specs) out += (out.empty() ? "" : ", ") + spec.ToString();
  return out;
}

// Same rank, equal static dimensions (as the REST codec checks).
Status CheckShape(const TensorSpec& spec, const std::vector<int64_t>& shape) {
  if (shape.size() != spec.shape.size()) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected shape " + ShapeToString(spec.shape) +
                                   " (rank " + std::to_string(spec.shape.size()) + "); got " + ShapeToString(shape) +
                                   " (rank " + std::to_string(shape.size()) + ")");
  }
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0 || (spec.shape[d] != -1 && spec.shape[d] != shape[d])) {
      return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected shape " + ShapeToString(spec.shape) +
                                     "; got " + ShapeToString(shape) + " (dimension " + std::to_string(d) +
                                     (shape[d] < 0 ? " is negative)"
                                                   : " must be " + std::to_string(spec.shape[d]) + ")"));
    }
  }
  return Status::Ok();
}

// The typed field a dtype travels in, for messages.
const char* TypedFieldName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "bool_contents";
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32: return "int_contents";
    case DType::kInt64: return "int64_contents";
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32: return "uint_contents";
    case DType::kUInt64: return "uint64_contents";
    case DType::kFloat32: return "fp32_contents";
    case DType::kFloat64: return "fp64_contents";
    case DType::kFloat16:
    case DType::kBFloat16: return nullptr;
  }
  return nullptr;
}

// Copies `values` into `tensor` as Out, refusing values Out cannot hold.
template <typename Out, typename Values>
Status CopyTyped(const Values& values, HostTensor& tensor, const TensorSpec& spec) {
  const int64_t elements = tensor.NumElements();
  if (values.size() != elements) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": shape " + ShapeToString(tensor.shape) +
                                   " needs " + std::to_string(elements) + " values in contents." +
                                   TypedFieldName(spec.dtype) + "; got " + std::to_string(values.size()));
  }
  Out* out = tensor.mutable_data_as<Out>();
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    using In = std::decay_t<decltype(v)>;
    if constexpr (std::is_integral_v<Out> && !std::is_same_v<In, bool> && sizeof(Out) < sizeof(In)) {
      if (v < static_cast<In>(std::numeric_limits<Out>::min()) || v > static_cast<In>(std::numeric_limits<Out>::max())) {
        return Status::InvalidArgument("input " + Quoted(spec.name) + ": value " + std::to_string(v) + " at index " +
                                       std::to_string(i) + " does not fit " + std::string(DTypeName(spec.dtype)));
      }
    }
    out[i] = static_cast<Out>(v);
  }
  return Status::Ok();
}

Status DecodeTyped(const InferTensorContents& c, HostTensor& tensor, const TensorSpec& spec) {
  switch (spec.dtype) {
    case DType::kBool: return CopyTyped<uint8_t>(c.bool_contents(), tensor, spec);
    case DType::kInt8: return CopyTyped<int8_t>(c.int_contents(), tensor, spec);
    case DType::kInt16: return CopyTyped<int16_t>(c.int_contents(), tensor, spec);
    case DType::kInt32: return CopyTyped<int32_t>(c.int_contents(), tensor, spec);
    case DType::kInt64: return CopyTyped<int64_t>(c.int64_contents(), tensor, spec);
    case DType::kUInt8: return CopyTyped<uint8_t>(c.uint_contents(), tensor, spec);
    case DType::kUInt16: return CopyTyped<uint16_t>(c.uint_contents(), tensor, spec);
    case DType::kUInt32: return CopyTyped<uint32_t>(c.uint_contents(), tensor, spec);
    case DType::kUInt64: return CopyTyped<uint64_t>(c.uint64_contents(), tensor, spec);
    case DType::kFloat32: return CopyTyped<float>(c.fp32_contents(), tensor, spec);
    case DType::kFloat64: return CopyTyped<double>(c.fp64_contents(), tensor, spec);
    case DType::kFloat16:
    case DType::kBFloat16: break;
  }
  return Status::InvalidArgument("input " + Quoted(spec.name) + ": " + std::string(DTypeName(spec.dtype)) +
                                 " has no typed contents in the protocol; send it in raw_input_contents");
}

bool HasTypedContents(const ModelInferRequest::InferInputTensor& input) {
  if (!input.has_contents()) return false;
  const InferTensorContents& c = input.contents();
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() + c.uint_contents_size() +
             c.uint64_contents_size() + c.fp32_contents_size() + c.fp64_contents_size() + c.bytes_contents_size() >
         0;
}

// One input, checked against its spec.
StatusOr<HostTensor> DecodeInput(const ModelInferRequest& request, int index, const TensorSpec& spec,
                                 const CodecLimits& limits) {
  const ModelInferRequest::InferInputTensor& input = request.inputs(index);
  const std::string expected(DTypeName(spec.dtype));
  if (input.datatype() != expected) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected datatype " + expected + "; got " +
                                   Quoted(input.datatype()));
  }
  const std::vector<int64_t> shape(input.shape().begin(), input.shape().end());
  RETURN_IF_ERROR(CheckShape(spec, shape));
  const std::optional<int64_t> elements = CheckedNumElements(shape);
  const std::optional<std::size_t> bytes = CheckedByteSize(shape, spec.dtype);
  if (!elements || !bytes || *elements > limits.max_elements_per_tensor) {
    return Status::ResourceExhausted("input " + Quoted(spec.name) + ": shape " + ShapeToString(shape) +
                                     " has more than the " + std::to_string(limits.max_elements_per_tensor) +
                                     " elements a tensor may hold here");
  }
  if (request.raw_input_contents_size() > 0) {
    const std::string& raw = request.raw_input_contents(index);
    if (raw.size() != *bytes) {
      return Status::InvalidArgument("input " + Quoted(spec.name) + ": shape " + ShapeToString(shape) + " of " +
                                     expected + " needs " + std::to_string(*bytes) +
                                     " bytes in raw_input_contents; got " + std::to_string(raw.size()));
    }
    const auto* data = reinterpret_cast<const uint8_t*>(raw.data());
    if (spec.dtype == DType::kBool) RETURN_IF_ERROR(CheckBinaryBools(data, raw.size(), spec.name));
    return HostTensor::CopyOf(spec.name, spec.dtype, shape, data);
  }
  HostTensor tensor = HostTensor::Allocate(spec.name, spec.dtype, shape);
  RETURN_IF_ERROR(DecodeTyped(input.contents(), tensor, spec));
  return tensor;
}

template <typename In, typename Field>
void AppendTyped(const HostTensor& tensor, Field* field) {
  const int64_t n = tensor.NumElements();
  field->Reserve(static_cast<int>(n));
  const In* in = tensor.data_as<In>();
  for (int64_t i = 0; i < n; ++i) field->Add(in[i]);
}

Status EncodeTyped(const HostTensor& t, InferTensorContents& c) {
  switch (t.dtype) {
    case DType::kBool: {
      const uint8_t* in = t.data_as<uint8_t>();
      for (int64_t i = 0; i < t.NumElements(); ++i) c.add_bool_contents(in[i] != 0);
      return Status::Ok();
    }
    case DType::kInt8: AppendTyped<int8_t>(t, c.mutable_int_contents()); return Status::Ok();
    case DType::kInt16: AppendTyped<int16_t>(t, c.mutable_int_contents()); return Status::Ok();
    case DType::kInt32: AppendTyped<int32_t>(t, c.mutable_int_contents()); return Status::Ok();
    case DType::kInt64: AppendTyped<int64_t>(t, c.mutable_int64_contents()); return Status::Ok();
    case DType::kUInt8: AppendTyped<uint8_t>(t, c.mutable_uint_contents()); return Status::Ok();
    case DType::kUInt16: AppendTyped<uint16_t>(t, c.mutable_uint_contents()); return Status::Ok();
    case DType::kUInt32: AppendTyped<uint32_t>(t, c.mutable_uint_contents()); return Status::Ok();
    case DType::kUInt64: AppendTyped<uint64_t>(t, c.mutable_uint64_contents()); return Status::Ok();
    case DType::kFloat32: AppendTyped<float>(t, c.mutable_fp32_contents()); return Status::Ok();
    case DType::kFloat64: AppendTyped<double>(t, c.mutable_fp64_contents()); return Status::Ok();
    case DType::kFloat16:
    case DType::kBFloat16: break;
  }
  return Status::InvalidArgument("output " + Quoted(t.name) + " is " + std::string(DTypeName(t.dtype)) +
                                 ", which has no typed contents in the protocol; leave binary_data_output on "
                                 "(the default) to receive it in raw_output_contents");
}

}  // namespace

StatusOr<GrpcDecodedRequest> DecodeGrpcInferRequest(const ModelInferRequest& request, const Signature& signature,
                                                    const CodecLimits& limits) {
  GrpcDecodedRequest out;
  if (request.raw_input_contents_size() > 0 && request.raw_input_contents_size() != request.inputs_size()) {
    return Status::InvalidArgument("raw_input_contents must hold one entry per input (" +
                                   std::to_string(request.inputs_size()) + "); got " +
                                   std::to_string(request.raw_input_contents_size()));
  }
  // Where each Signature input is in the request.
  std::map<std::string, int, std::less<>> position;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const std::string& name = request.inputs(i).name();
    bool known = false;
    for (const auto& spec : signature.inputs) known = known || spec.name == name;
    if (!known) {
      return Status::InvalidArgument("unknown input " + Quoted(name) + "; the model's inputs are " +
                                     SpecNames(signature.inputs));
    }
    if (!position.emplace(name, i).second) return Status::InvalidArgument("input " + Quoted(name) + " is given twice");
    if (request.raw_input_contents_size() > 0 && HasTypedContents(request.inputs(i))) {
      return Status::InvalidArgument("input " + Quoted(name) +
                                     " has typed contents while the request uses raw_input_contents; send "
                                     "every input one way");
    }
  }
  out.inputs.reserve(signature.inputs.size());
  for (const auto& spec : signature.inputs) {
    const auto at = position.find(spec.name);
    if (at == position.end()) {
      return Status::InvalidArgument("missing input " + Quoted(spec.name) + "; the model's inputs are " +
                                     SpecNames(signature.inputs));
    }
    ASSIGN_OR_RETURN(HostTensor tensor, DecodeInput(request, at->second, spec, limits));
    out.inputs.push_back(std::move(tensor));
  }
  for (const auto& requested : request.outputs()) {
    bool known = false;
    for (const auto& spec : signature.outputs) known = known || spec.name == requested.name();
    if (!known) {
      return Status::InvalidArgument("unknown output " + Quoted(requested.name()) + " requested; the model's outputs are " +
                                     SpecNames(signature.outputs));
    }
    out.requested_outputs.push_back(requested.name());
  }
  if (const auto p = request.parameters().find("binary_data_output"); p != request.parameters().end()) {
    if (p->second.parameter_choice_case() != inference::InferParameter::kBoolParam) {
      return Status::InvalidArgument("parameter 'binary_data_output' must be a bool");
    }
    out.raw_outputs = p->second.bool_param();
  }
  if (const auto p = request.parameters().find("routing_key"); p != request.parameters().end()) {
    if (p->second.parameter_choice_case() != inference::InferParameter::kStringParam ||
        p->second.string_param().size() > 256) {
      return Status::InvalidArgument("parameter 'routing_key' must be a string of at most 256 bytes");
    }
    out.routing_key = p->second.string_param();
  }
  return out;
}

Status EncodeGrpcInferOutputs(const std::vector<HostTensor>& outputs, const std::vector<std::string>& requested,
                              bool raw, inference::ModelInferResponse& response) {
  std::vector<const HostTensor*> chosen;
  if (requested.empty()) {
    for (const HostTensor& t : outputs) chosen.push_back(&t);
  } else {
    for (const std::string& name : requested) {
      const HostTensor* found = nullptr;
      for (const HostTensor& t : outputs) {
        if (t.name == name) found = &t;
      }
      if (found == nullptr) return Status::Internal("the model did not produce output " + Quoted(name));
      chosen.push_back(found);
    }
  }
  for (const HostTensor* t : chosen) {
    if (!t->IsConsistent()) return Status::Internal("output " + Quoted(t->name) + " is inconsistent");
    auto* out = response.add_outputs();
    out->set_name(t->name);
    out->set_datatype(std::string(DTypeName(t->dtype)));
    for (const int64_t d : t->shape) out->add_shape(d);
    if (raw) {
      response.add_raw_output_contents()->assign(reinterpret_cast<const char*>(t->data.get()), t->byte_size);
    } else {
      RETURN_IF_ERROR(EncodeTyped(*t, *out->mutable_contents()));
    }
  }
  return Status::Ok();
}

}  // namespace mlship::serving::internal
