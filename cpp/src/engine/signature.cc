// Signature to and from JSON (Boost.JSON), and its printable forms.
#include "mlship/engine/signature.h"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <optional>

namespace mlship {
namespace json = boost::json;

namespace {

constexpr std::string_view kOutputKindNames[] = {"tensor", "tuple", "list", "dict"};

json::array SpecsToJson(const std::vector<TensorSpec>& specs) {
  json::array out;
  for (const auto& spec : specs) {
    json::array shape;
    for (int64_t d : spec.shape) shape.emplace_back(d);
    out.emplace_back(json::object{{"name", spec.name},
                                  {"datatype", std::string(DTypeName(spec.dtype))},
                                  {"shape", std::move(shape)}});
  }
  return out;
}

StatusOr<std::vector<TensorSpec>> SpecsFromJson(const json::value* value, std::string_view field) {
  if (value == nullptr || !value->is_array()) {
    return Status::InvalidArgument("signature JSON: expected '" + std::string(field) + "' to be an array");
  }
  std::vector<TensorSpec> specs;
  for (const auto& item : value->get_array()) {
    const auto* obj = item.if_object();
    if (obj == nullptr) {
      return Status::InvalidArgument("signature JSON: expected objects in '" + std::string(field) + "'");
    }
    TensorSpec spec;
    const auto* name = obj->if_contains("name");
    const auto* datatype = obj->if_contains("datatype");
    const auto* shape = obj->if_contains("shape");
    if (name == nullptr || !name->is_string() || datatype == nullptr || !datatype->is_string() ||
        shape == nullptr || !shape->is_array()) {
      return Status::InvalidArgument("signature JSON: each entry of '" + std::string(field) +
                                     "' needs string 'name', string 'datatype' and array 'shape'");
    }
    spec.name = std::string(name->get_string());
    auto dtype = DTypeFromName(datatype->get_string());
    if (!dtype) {
      return Status::InvalidArgument("signature JSON: unknown datatype '" + std::string(datatype->get_string()) +
                                     "' for '" + spec.name + "'; expected one of " + AllDTypeNames());
    }
    spec.dtype = *dtype;
    for (const auto& d : shape->get_array()) {
      if (!d.is_int64() || d.get_int64() < -1) {
        return Status::InvalidArgument("signature JSON: shape of '" + spec.name +
                                       "' must hold integers >= -1 (-1 is dynamic)");
      }
      spec.shape.push_back(d.get_int64());
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

// An integer field of the sequence block, within [lo, hi].
StatusOr<int64_t> SequenceInt(const json::object& obj, std::string_view key, int64_t fallback, int64_t lo,
                              int64_t hi) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr) return fallback;
  if (!v->is_int64() || v->get_int64() < lo || v->get_int64() > hi) {
    return Status::InvalidArgument("signature JSON: sequence '" + std::string(key) + "' must be an integer in " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v->get_int64();
}

// The sequence block, checked against the inputs: every input declares the
// sequence dimension dynamic, and pad values name inputs.
StatusOr<SequenceBatching> SequenceFromJson(const json::value& value, const std::vector<TensorSpec>& inputs) {
  const auto* obj = value.if_object();
  if (obj == nullptr) return Status::InvalidArgument("signature JSON: 'sequence' must be an object");
  SequenceBatching seq;
  ASSIGN_OR_RETURN(int64_t dim, SequenceInt(*obj, "dim", 0, 1, 16));
  seq.dim = static_cast<int>(dim);
  ASSIGN_OR_RETURN(seq.max_length, SequenceInt(*obj, "max_length", seq.max_length, 1, int64_t{1} << 30));
  ASSIGN_OR_RETURN(seq.bucket, SequenceInt(*obj, "bucket", std::min(seq.bucket, seq.max_length), 1, seq.max_length));
  for (const auto& spec : inputs) {
    if (static_cast<int>(spec.shape.size()) <= seq.dim || spec.shape[seq.dim] != -1 || spec.shape[0] != -1) {
      return Status::InvalidArgument("signature: sequence batching along dimension " + std::to_string(seq.dim) +
                                     " needs every input batched (dimension 0 dynamic) and dynamic there; input " +
                                     spec.ToString() + " is not");
    }
  }
  if (const auto* pad = obj->if_contains("pad"); pad != nullptr) {
    if (!pad->is_object()) {
      return Status::InvalidArgument("signature JSON: sequence 'pad' must map input names to numbers");
    }
    for (const auto& entry : pad->get_object()) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      const std::string_view name = entry.key();
      const json::value& v = entry.value();
      const bool known = std::any_of(inputs.begin(), inputs.end(), [&](const TensorSpec& s) { return s.name == name; });
      if (!known || !v.is_number()) {
        return Status::InvalidArgument("signature JSON: sequence 'pad' names '" + std::string(name) +
                                       "', which is not a model input with a number");
      }
      seq.pad[std::string(name)] = v.to_number<double>();
    }
  }
  return seq;
}

}  // namespace

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string TensorSpec::ToString() const {
  return name + ": " + std::string(DTypeName(dtype)) + ShapeToString(shape);
}

std::string_view OutputKindName(OutputKind kind) { return kOutputKindNames[static_cast<int>(kind)]; }

bool Signature::batchable() const {
  for (const auto& spec : inputs) {
    if (spec.shape.empty() || spec.shape[0] != -1) return false;
  }
  return !inputs.empty();
}

std::string Signature::ToJson() const {
  json::object obj{{"inputs", SpecsToJson(inputs)},
                   {"outputs", SpecsToJson(outputs)},
                   {"output_kind", std::string(OutputKindName(output_kind))}};
  if (sequence.enabled()) {
    json::object pad;
    for (const auto& [name, value] : sequence.pad) pad[name] = value;
    obj["sequence"] = json::object{{"dim", sequence.dim},
                                   {"pad", std::move(pad)},
                                   {"bucket", sequence.bucket},
                                   {"max_length", sequence.max_length}};
  }
  return json::serialize(obj);
}

StatusOr<Signature> Signature::FromJson(std::string_view text) {
  boost::system::error_code ec;
  // Bounded parse: signatures are small, so refuse deep nesting outright.
  json::parse_options options;
  options.max_depth = 16;
  json::value root = json::parse(text, ec, {}, options);
  if (ec) return Status::InvalidArgument("signature JSON does not parse: " + ec.message());
  const auto* obj = root.if_object();
  if (obj == nullptr) return Status::InvalidArgument("signature JSON: expected an object at the top level");
  Signature sig;
  ASSIGN_OR_RETURN(sig.inputs, SpecsFromJson(obj->if_contains("inputs"), "inputs"));
  ASSIGN_OR_RETURN(sig.outputs, SpecsFromJson(obj->if_contains("outputs"), "outputs"));
  sig.output_kind = OutputKind::kTensor;
  if (const auto* kind = obj->if_contains("output_kind"); kind != nullptr) {
    if (!kind->is_string()) return Status::InvalidArgument("signature JSON: 'output_kind' must be a string");
    bool found = false;
    for (int i = 0; i < 4; ++i) {
      if (kind->get_string() == kOutputKindNames[i]) {
        sig.output_kind = static_cast<OutputKind>(i);
        found = true;
      }
    }
    if (!found) {
      return Status::InvalidArgument("signature JSON: unknown output_kind '" + std::string(kind->get_string()) +
                                     "'; expected tensor, tuple, list or dict");
    }
  }
  if (const auto* sequence = obj->if_contains("sequence"); sequence != nullptr && !sequence->is_null()) {
    ASSIGN_OR_RETURN(sig.sequence, SequenceFromJson(*sequence, sig.inputs));
  }
  return sig;
}

StatusOr<TensorSpec> ParseTensorSpec(std::string_view text, std::string_view flag) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(std::string(flag) + " '" + std::string(text.substr(0, 120)) + "': " + why +
                                   "; expected NAME:DTYPE:DIMS such as x:FP32:-1,64 (DTYPE one of " +
                                   AllDTypeNames() + ", -1 for a dynamic dimension)");
  };
  const std::size_t first = text.find(':');
  const std::size_t second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return bad("it needs two ':'");
  TensorSpec spec;
  spec.name = std::string(text.substr(0, first));
  if (spec.name.empty()) return bad("the name is empty");
  const std::optional<DType> dtype = DTypeFromName(text.substr(first + 1, second - first - 1));
  if (!dtype) return bad("unknown dtype '" + std::string(text.substr(first + 1, second - first - 1)) + "'");
  spec.dtype = *dtype;
  std::string_view dims = text.substr(second + 1);
  while (!dims.empty()) {
    const std::size_t comma = dims.find(',');
    const std::string_view item = dims.substr(0, comma);
    int64_t dim = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), dim);
    if (ec != std::errc() || end != item.data() + item.size() || item.empty() || dim < -1 || dim == 0) {
      return bad("dimension '" + std::string(item) + "' is not -1 or a positive integer");
    }
    spec.shape.push_back(dim);
    if (comma == std::string_view::npos) break;
    dims.remove_prefix(comma + 1);
    if (dims.empty()) return bad("a ',' ends the dimensions");
  }
  return spec;
}

}  // namespace mlship
