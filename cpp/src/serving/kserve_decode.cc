// Decoding KServe v2 infer requests (JSON and binary tensor data).
#include <charconv>
#include <cstring>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include "json_text.h"
#include "mlship/serving/kserve_codec.h"
#include "precise_json.h"
#include "tensor_data_json.h"

namespace mlship::serving {
namespace json = boost::json;
using internal::DescribeJsonValue;
using internal::JsonKindName;

namespace {

// 'name', for messages. (Built by appending: GCC 12 warns falsely on
// "'" + std::string(...).)
std::string Quoted(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '\'';
  out += name;
  out += '\'';
  return out;
}

// "x: FP32[-1, 3], mask: BOOL[-1]", or "(none)".
std::string SpecList(const std::vector<TensorSpec>& specs) {
  if (specs.empty()) return "(none)";
  std::string out;
  for (const auto& spec : specs) {
    if (!out.empty()) out += ", ";
    out += spec.ToString();
  }
  return out;
}

// The binary tensor bytes that follow the JSON, consumed in input order.
struct BinarySection {
  // Bytes after the JSON part; empty without Inference-Header-Content-Length.
  std::string_view bytes;
  // Whether the request had the header at all.
  bool present = false;
  // How many bytes earlier inputs have taken.
  std::size_t consumed = 0;
};

// Reads an optional "parameters" object; null when absent.
StatusOr<const json::object*> OptionalParameters(const json::object& owner, std::string_view where) {
  const json::value* parameters = owner.if_contains("parameters");
  if (parameters == nullptr) return static_cast<const json::object*>(nullptr);
  if (!parameters->is_object()) {
    return Status::InvalidArgument(std::string(where) + ": 'parameters' must be an object; got " +
                                   std::string(JsonKindName(*parameters)));
  }
  return &parameters->get_object();
}

// Reads an optional boolean parameter.
StatusOr<std::optional<bool>> OptionalBoolParameter(const json::object* parameters, std::string_view key,
                                                    std::string_view where) {
  if (parameters == nullptr) return std::optional<bool>();
  const json::value* value = parameters->if_contains(key);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_bool()) {
    return Status::InvalidArgument(std::string(where) + ": parameters." + std::string(key) +
                                   " must be true or false; got " + DescribeJsonValue(*value));
  }
  return std::optional<bool>(value->get_bool());
}

// Checks a request shape against the spec: same rank, equal static dims.
Status CheckShape(const TensorSpec& spec, const std::vector<int64_t>& shape) {
  if (shape.size() != spec.shape.size()) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected shape " + ShapeToString(spec.shape) +
                                   " (rank " + std::to_string(spec.shape.size()) + "); got " +
                                   ShapeToString(shape) + " (rank " + std::to_string(shape.size()) + ")");
  }
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (spec.shape[d] != -1 && spec.shape[d] != shape[d]) {
      return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected shape " +
                                     ShapeToString(spec.shape) + "; got " + ShapeToString(shape) + " (dimension " +
                                     std::to_string(d) + " must be " + std::to_string(spec.shape[d]) + ")");
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> ReadShape(const json::object& input, const TensorSpec& spec) {
  const json::value* shape = input.if_contains("shape");
  const std::string wrong = "input " + Quoted(spec.name) +
                            ": 'shape' must be an array of non-negative integers, e.g. " +
                            ShapeToString(spec.shape) + " with each -1 replaced by a size; got ";
  if (shape == nullptr) return Status::InvalidArgument(wrong + "no 'shape'");
  if (!shape->is_array()) return Status::InvalidArgument(wrong + std::string(JsonKindName(*shape)));
  std::vector<int64_t> dims;
  for (const json::value& dim : shape->get_array()) {
    if (!dim.is_int64() || dim.get_int64() < 0) {
      return Status::InvalidArgument(wrong + "an element that is " + DescribeJsonValue(dim));
    }
    dims.push_back(dim.get_int64());
  }
  return dims;
}

Status CheckDatatype(const json::object& input, const TensorSpec& spec) {
  const std::string expected(DTypeName(spec.dtype));
  const json::value* datatype = input.if_contains("datatype");
  if (datatype == nullptr || !datatype->is_string()) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": 'datatype' must be the string \"" + expected +
                                   "\"; got " + (datatype == nullptr ? "none" : std::string(JsonKindName(*datatype))));
  }
  const std::string_view got(datatype->get_string().data(), datatype->get_string().size());
  if (got == expected) return Status::Ok();
  if (!DTypeFromName(got)) {
    return Status::InvalidArgument("input " + Quoted(spec.name) + ": unknown datatype " + Quoted(got) +
                                   "; expected " + expected + " (KServe names are " + AllDTypeNames() + ")");
  }
  return Status::InvalidArgument("input " + Quoted(spec.name) + ": expected datatype " + expected + "; got " +
                                 std::string(got));
}

// Reads parameters.binary_data_size when present.
StatusOr<std::optional<std::size_t>> ReadBinarySize(const json::object& input, const TensorSpec& spec) {
  ASSIGN_OR_RETURN(const json::object* parameters, OptionalParameters(input, "input " + Quoted(spec.name)));
  if (parameters == nullptr) return std::optional<std::size_t>();
  const json::value* size = parameters->if_contains("binary_data_size");
  if (size == nullptr) return std::optional<std::size_t>();
  if (!size->is_int64() || size->get_int64() < 0) {
    return Status::InvalidArgument("input " + Quoted(spec.name) +
                                   ": parameters.binary_data_size must be a non-negative integer; got " +
                                   DescribeJsonValue(*size));
  }
  return std::optional<std::size_t>(static_cast<std::size_t>(size->get_int64()));
}

// Copies the input's binary bytes into a fresh tensor, after checking the
// declared size against the shape and the bytes the body really holds, so a
// hostile shape never gets an allocation the body does not pay for.
StatusOr<HostTensor> ReadBinaryData(const TensorSpec& spec, std::vector<int64_t> shape, std::size_t byte_size,
                                    std::size_t declared, BinarySection& binary) {
  const std::string name = Quoted(spec.name);
  if (!binary.present) {
    return Status::InvalidArgument("input " + name + " declares parameters.binary_data_size but the request has no " +
                                   std::string(kInferenceHeaderContentLength) +
                                   " header to say where the JSON ends and binary data begins");
  }
  if (declared != byte_size) {
    return Status::InvalidArgument("input " + name + ": shape " + ShapeToString(shape) + " of " +
                                   std::string(DTypeName(spec.dtype)) + " needs " + std::to_string(byte_size) +
                                   " bytes; parameters.binary_data_size is " + std::to_string(declared));
  }
  const std::size_t remaining = binary.bytes.size() - binary.consumed;
  if (declared > remaining) {
    return Status::InvalidArgument("input " + name + ": parameters.binary_data_size is " + std::to_string(declared) +
                                   " but only " + std::to_string(remaining) +
                                   " bytes of binary data remain after the JSON and earlier binary inputs");
  }
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(binary.bytes.data()) + binary.consumed;
  if (spec.dtype == DType::kBool) RETURN_IF_ERROR(internal::CheckBinaryBools(bytes, declared, spec.name));
  binary.consumed += declared;
  return HostTensor::CopyOf(spec.name, spec.dtype, std::move(shape), bytes);
}

// Decodes one entry of "inputs" into slots[spec index].
Status DecodeInput(const json::value& item, std::size_t position, const Signature& signature,
                   const CodecLimits& limits, BinarySection& binary, internal::DataDiversion& diversion,
                   std::vector<std::optional<HostTensor>>& slots) {
  const json::object* input = item.if_object();
  if (input == nullptr) {
    return Status::InvalidArgument("inputs[" + std::to_string(position) +
                                   "] must be an object with name, shape, datatype and data; got " +
                                   std::string(JsonKindName(item)));
  }
  const json::value* name_value = input->if_contains("name");
  if (name_value == nullptr || !name_value->is_string()) {
    return Status::InvalidArgument("inputs[" + std::to_string(position) +
                                   "] needs a string 'name'; the model's inputs are " + SpecList(signature.inputs));
  }
  const std::string_view name(name_value->get_string().data(), name_value->get_string().size());
  std::size_t index = 0;
  while (index < signature.inputs.size() && signature.inputs[index].name != name) ++index;
  if (index == signature.inputs.size()) {
    return Status::InvalidArgument("unknown input " + Quoted(name) + "; the model's inputs are " +
                                   SpecList(signature.inputs));
  }
  if (slots[index].has_value()) {
    return Status::InvalidArgument("input " + Quoted(name) + " appears more than once in 'inputs'");
  }
  const TensorSpec& spec = signature.inputs[index];
  RETURN_IF_ERROR(CheckDatatype(*input, spec));
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadShape(*input, spec));
  RETURN_IF_ERROR(CheckShape(spec, shape));
  // Every size is checked, with arithmetic that cannot wrap, before any
  // memory is claimed for the tensor.
  const std::optional<int64_t> elements = CheckedNumElements(shape);
  const std::optional<std::size_t> byte_size = CheckedByteSize(shape, spec.dtype);
  if (elements && !byte_size) {
    return Status::ResourceExhausted("input " + Quoted(name) + ": shape " + ShapeToString(shape) + " of " +
                                     std::string(DTypeName(spec.dtype)) +
                                     " needs more bytes than this machine can address; send smaller batches");
  }
  if (!elements || !byte_size || *elements > limits.max_elements_per_tensor) {
    return Status::ResourceExhausted("input " + Quoted(name) + ": shape " + ShapeToString(shape) +
                                     " holds more than the " + std::to_string(limits.max_elements_per_tensor) +
                                     " elements one tensor may have; send smaller batches");
  }
  ASSIGN_OR_RETURN(std::optional<std::size_t> binary_size, ReadBinarySize(*input, spec));
  const json::value* data = input->if_contains("data");
  if (data != nullptr && binary_size.has_value()) {
    return Status::InvalidArgument("input " + Quoted(name) +
                                   " has both 'data' and parameters.binary_data_size; send one of them");
  }
  if (data == nullptr && !binary_size.has_value()) {
    return Status::InvalidArgument("input " + Quoted(name) +
                                   " has no 'data' (nor parameters.binary_data_size for binary data)");
  }

  std::optional<HostTensor> tensor;
  if (binary_size.has_value()) {
    ASSIGN_OR_RETURN(tensor, ReadBinaryData(spec, std::move(shape), *byte_size, *binary_size, binary));
  } else {
    if (!data->is_array()) {
      return Status::InvalidArgument("input " + Quoted(name) + ": 'data' must be an array (flat or nested); got " +
                                     std::string(JsonKindName(*data)));
    }
    // The parse took the array's leaves out of the document (see
    // DataDiversion); the document holds an empty array in their place.
    std::optional<internal::DivertedData>* leaves =
        position < diversion.by_input.size() ? &diversion.by_input[position] : nullptr;
    const int64_t count = leaves != nullptr && leaves->has_value() ? (*leaves)->count() : 0;
    if (count != *elements) {
      return Status::InvalidArgument("input " + Quoted(name) + ": shape " + ShapeToString(shape) + " needs " +
                                     std::to_string(*elements) + " elements; 'data' holds " + std::to_string(count));
    }
    internal::JsonDataWriter converted(spec.dtype);
    if (leaves != nullptr && leaves->has_value()) {
      internal::DivertedData& diverted = **leaves;
      if (diverted.converted && diverted.converted->dtype() != spec.dtype) {
        return Status::InvalidArgument("input " + Quoted(name) + ": 'datatype' appears more than once");
      }
      if (diverted.converted) {
        converted = std::move(*diverted.converted);
      } else {
        // The datatype came after the data: convert the kept leaves now.
        for (const json::value& leaf : diverted.leaves) converted.Add(leaf);
        diverted.leaves = {};
      }
    }
    RETURN_IF_ERROR(converted.status(spec.name));
    tensor = HostTensor::Adopt(spec.name, spec.dtype, std::move(shape), converted.TakeBytes());
  }
  slots[index] = std::move(*tensor);
  return Status::Ok();
}

// Reads the request's parameters.routing_key: a string of at most
// kMaxRoutingKeyBytes; empty when absent.
StatusOr<std::string> RoutingKeyParameter(const json::object& request) {
  ASSIGN_OR_RETURN(const json::object* parameters, OptionalParameters(request, "request"));
  const json::value* key = parameters != nullptr ? parameters->if_contains("routing_key") : nullptr;
  if (key == nullptr) return std::string();
  if (!key->is_string()) {
    return Status::InvalidArgument("request: parameters.routing_key must be a string; got " +
                                   std::string(JsonKindName(*key)));
  }
  if (key->get_string().size() > kMaxRoutingKeyBytes) {
    return Status::InvalidArgument("request: parameters.routing_key must be at most " +
                                   std::to_string(kMaxRoutingKeyBytes) + " bytes; got " +
                                   std::to_string(key->get_string().size()));
  }
  return std::string(key->get_string().data(), key->get_string().size());
}

StatusOr<OutputSelection> DecodeOutputs(const json::object& request, const Signature& signature) {
  OutputSelection selection;
  ASSIGN_OR_RETURN(const json::object* parameters, OptionalParameters(request, "request"));
  ASSIGN_OR_RETURN(std::optional<bool> binary_output,
                   OptionalBoolParameter(parameters, "binary_data_output", "request"));
  selection.binary_data_output = binary_output.value_or(false);

  const json::value* outputs = request.if_contains("outputs");
  if (outputs == nullptr) return selection;
  if (!outputs->is_array()) {
    return Status::InvalidArgument("'outputs' must be an array of {\"name\": ...} objects; got " +
                                   std::string(JsonKindName(*outputs)));
  }
  for (const json::value& item : outputs->get_array()) {
    const json::object* output = item.if_object();
    const json::value* name_value = output != nullptr ? output->if_contains("name") : nullptr;
    if (name_value == nullptr || !name_value->is_string()) {
      return Status::InvalidArgument("each entry of 'outputs' must be an object with a string 'name'; the model's "
                                     "outputs are " + SpecList(signature.outputs));
    }
    const std::string name(name_value->get_string().data(), name_value->get_string().size());
    // A signature without outputs (not recorded) cannot be checked here; the
    // encoder then reports outputs the model did not produce.
    bool known = signature.outputs.empty();
    for (const auto& spec : signature.outputs) known = known || spec.name == name;
    if (!known) {
      return Status::InvalidArgument("unknown output " + Quoted(name) + "; the model's outputs are " +
                                     SpecList(signature.outputs));
    }
    for (const auto& earlier : selection.requested) {
      if (earlier.name == name) {
        return Status::InvalidArgument("output " + Quoted(name) + " appears more than once in 'outputs'");
      }
    }
    ASSIGN_OR_RETURN(const json::object* output_parameters, OptionalParameters(*output, "output " + Quoted(name)));
    ASSIGN_OR_RETURN(std::optional<bool> binary,
                     OptionalBoolParameter(output_parameters, "binary_data", "output " + Quoted(name)));
    selection.requested.push_back({name, binary});
  }
  return selection;
}

}  // namespace

StatusOr<std::size_t> ParseInferenceHeaderLength(std::string_view value, std::size_t body_size) {
  std::size_t length = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    return Status::InvalidArgument(std::string(kInferenceHeaderContentLength) +
                                   " must be a decimal byte count; got '" + std::string(value.substr(0, 32)) + "'");
  }
  if (length > body_size) {
    return Status::InvalidArgument(std::string(kInferenceHeaderContentLength) + " is " + std::to_string(length) +
                                   " but the body has only " + std::to_string(body_size) + " bytes");
  }
  return length;
}

StatusOr<DecodedInferRequest> DecodeInferRequest(std::string_view body, std::optional<std::size_t> json_length,
                                                 const Signature& signature, const CodecLimits& limits) {
  BinarySection binary;
  std::string_view json_text = body;
  if (json_length.has_value()) {
    if (*json_length > body.size()) {
      return Status::InvalidArgument(std::string(kInferenceHeaderContentLength) + " is " +
                                     std::to_string(*json_length) + " but the body has only " +
                                     std::to_string(body.size()) + " bytes");
    }
    json_text = body.substr(0, *json_length);
    binary.bytes = body.substr(*json_length);
    binary.present = true;
  }

  // One arena for the whole document: freed at once when decoding ends.
  json::monotonic_resource arena;
  internal::DataDiversion diversion;
  ASSIGN_OR_RETURN(json::value root,
                   internal::ParseJsonPrecisely(json_text, limits.max_json_depth, &arena, &diversion));
  const json::object* request = root.if_object();
  if (request == nullptr) {
    return Status::InvalidArgument("request body must be a JSON object with an 'inputs' array; got " +
                                   std::string(JsonKindName(root)));
  }

  DecodedInferRequest decoded;
  if (const json::value* id = request->if_contains("id"); id != nullptr) {
    if (!id->is_string()) {
      return Status::InvalidArgument("'id' must be a string; got " + std::string(JsonKindName(*id)));
    }
    if (id->get_string().size() > limits.max_id_bytes) {
      return Status::InvalidArgument("'id' is " + std::to_string(id->get_string().size()) + " bytes; the limit is " +
                                     std::to_string(limits.max_id_bytes));
    }
    decoded.id.assign(id->get_string().data(), id->get_string().size());
  }

  ASSIGN_OR_RETURN(decoded.routing_key, RoutingKeyParameter(*request));

  const json::value* inputs = request->if_contains("inputs");
  if (inputs == nullptr || !inputs->is_array()) {
    return Status::InvalidArgument(std::string("'inputs' must be an array of tensors; got ") +
                                   (inputs == nullptr ? "none" : std::string(JsonKindName(*inputs))) +
                                   "; the model's inputs are " + SpecList(signature.inputs));
  }
  std::vector<std::optional<HostTensor>> slots(signature.inputs.size());
  std::size_t position = 0;
  for (const json::value& item : inputs->get_array()) {
    RETURN_IF_ERROR(DecodeInput(item, position++, signature, limits, binary, diversion, slots));
  }
  if (binary.consumed != binary.bytes.size()) {
    return Status::InvalidArgument("the body carries " + std::to_string(binary.bytes.size()) +
                                   " bytes of binary data after the JSON but the inputs declare " +
                                   std::to_string(binary.consumed) + " (sum of parameters.binary_data_size)");
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].has_value()) {
      return Status::InvalidArgument("missing input " + Quoted(signature.inputs[i].name) + " (" +
                                     signature.inputs[i].ToString() + "); the model's inputs are " +
                                     SpecList(signature.inputs));
    }
    decoded.inputs.push_back(std::move(*slots[i]));
  }
  ASSIGN_OR_RETURN(decoded.outputs, DecodeOutputs(*request, signature));
  return decoded;
}

}  // namespace mlship::serving
