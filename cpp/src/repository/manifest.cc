// Manifest and ModelConfig to and from JSON (Boost.JSON).
#include "mlship/repository/manifest.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <ctime>

#include "mlship/repository/names.h"

namespace mlship::repository {
namespace json = boost::json;

namespace {

// Boost.JSON writes compact text only; manifests are read by people too, so
// they are indented (two spaces, keys in the object's order).
void Pretty(const json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [key, value] : v.get_object()) {
      out += first ? "" : ",\n";
      first = false;
      out += inner + json::serialize(json::string(key)) + ": ";
      Pretty(value, out, indent + 1);
    }
    out += "\n" + pad + "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[";
    bool first = true;
    for (const auto& value : v.get_array()) {
      out += first ? "" : ", ";
      first = false;
      Pretty(value, out, indent + 1);
    }
    out += "]";
  } else {
    out += json::serialize(v);
  }
}

std::string PrettyJson(const json::value& v) {
  std::string out;
  Pretty(v, out, 0);
  return out + "\n";
}

StatusOr<json::object> ParseObject(std::string_view text, std::string_view where) {
  if (text.size() > kMaxManifestBytes) {
    return Status::InvalidArgument(std::string(where) + " is " + std::to_string(text.size()) + " bytes; at most " +
                                   std::to_string(kMaxManifestBytes) + " are read");
  }
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  json::value v = json::parse(text, ec, {}, options);
  if (ec) return Status::InvalidArgument(std::string(where) + " is not valid JSON: " + ec.message());
  if (!v.is_object()) return Status::InvalidArgument(std::string(where) + " must hold a JSON object");
  return std::move(v.get_object());
}

// Field readers that name the field and the file on a mistake.
class Fields {
 public:
  Fields(const json::object& o, std::string_view where) : o_(o), where_(where) {}

  Status Bad(std::string_view field, std::string_view want) const {
    return Status::InvalidArgument(where_ + ": field '" + std::string(field) + "' must be " + std::string(want));
  }
  StatusOr<std::string> String(std::string_view field, bool required) const {
    const json::value* v = o_.if_contains(field);
    if (v == nullptr || v->is_null()) {
      if (required) return Bad(field, "present (a string)");
      return std::string();
    }
    if (!v->is_string()) return Bad(field, "a string");
    return std::string(v->get_string());
  }
  StatusOr<json::object> Object(std::string_view field) const {
    const json::value* v = o_.if_contains(field);
    if (v == nullptr || v->is_null()) return json::object();
    if (!v->is_object()) return Bad(field, "an object");
    return v->get_object();
  }
  StatusOr<std::map<std::string, std::string>> StringMap(std::string_view field) const {
    ASSIGN_OR_RETURN(json::object obj, Object(field));
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : obj) {
      if (!value.is_string()) return Bad(std::string(field) + "." + std::string(key), "a string");
      out[std::string(key)] = std::string(value.get_string());
    }
    return out;
  }

 private:
  const json::object& o_;
  std::string where_;
};

StatusOr<std::vector<std::string>> PathList(const json::object& o, std::string_view field, std::string_view where) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || !v->is_array()) {
    return Status::InvalidArgument(std::string(where) + ": golden." + std::string(field) + " must be a list of paths");
  }
  std::vector<std::string> out;
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) {
      return Status::InvalidArgument(std::string(where) + ": golden." + std::string(field) + " must hold strings");
    }
    out.emplace_back(item.get_string());
    RETURN_IF_ERROR(ValidateRelativePath(out.back()));
  }
  return out;
}

std::optional<double> OptionalNumber(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

}  // namespace

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

StatusOr<Manifest> Manifest::Parse(std::string_view text, std::string_view where) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, where));
  const Fields f(o, where);
  const json::value* format = o.if_contains("mlship_manifest");
  if (format == nullptr || !format->is_int64() || format->get_int64() != kManifestFormat) {
    return Status::InvalidArgument(std::string(where) + " is not an mlship manifest of format " +
                                   std::to_string(kManifestFormat) + " (field 'mlship_manifest')");
  }
  Manifest m;
  ASSIGN_OR_RETURN(m.name, f.String("name", true));
  ASSIGN_OR_RETURN(m.version, f.String("version", true));
  ASSIGN_OR_RETURN(m.created, f.String("created", false));
  ASSIGN_OR_RETURN(m.model, f.String("model", true));
  RETURN_IF_ERROR(ValidateRelativePath(m.model));
  ASSIGN_OR_RETURN(json::object files, f.Object("files"));
  for (const auto& [path, entry] : files) {
    RETURN_IF_ERROR(ValidateRelativePath(path));
    const json::object* e = entry.if_object();
    const json::value* sha = e ? e->if_contains("sha256") : nullptr;
    const json::value* bytes = e ? e->if_contains("bytes") : nullptr;
    if (sha == nullptr || !sha->is_string() || sha->get_string().size() != 64 || bytes == nullptr ||
        !bytes->is_int64() || bytes->get_int64() < 0) {
      return f.Bad("files." + std::string(path), "{\"sha256\": <64 hex digits>, \"bytes\": <size>}");
    }
    m.files[std::string(path)] = FileRecord{std::string(sha->get_string()), bytes->get_int64()};
  }
  if (m.files.count(m.model) == 0) return f.Bad("files", "a list that includes the model file '" + m.model + "'");
  if (const json::value* sig = o.if_contains("signature"); sig != nullptr && !sig->is_null()) {
    StatusOr<Signature> parsed = Signature::FromJson(json::serialize(*sig));
    if (!parsed.ok()) return Status::InvalidArgument(std::string(where) + ": signature: " + parsed.status().message());
    m.signature = *parsed;
  }
  ASSIGN_OR_RETURN(m.settings, f.Object("settings"));
  ASSIGN_OR_RETURN(m.reference, f.String("reference", false));
  if (!m.reference.empty()) {
    RETURN_IF_ERROR(ValidateRelativePath(m.reference));
    if (m.files.count(m.reference) == 0) return f.Bad("reference", "one of the listed files");
  }
  if (const json::value* golden = o.if_contains("golden"); golden != nullptr && !golden->is_null()) {
    if (!golden->is_object()) return f.Bad("golden", "an object");
    GoldenRecord g;
    ASSIGN_OR_RETURN(g.inputs, PathList(golden->get_object(), "inputs", where));
    ASSIGN_OR_RETURN(g.outputs, PathList(golden->get_object(), "outputs", where));
    g.rtol = OptionalNumber(golden->get_object(), "rtol");
    g.atol = OptionalNumber(golden->get_object(), "atol");
    for (const auto* list : {&g.inputs, &g.outputs}) {
      for (const std::string& path : *list) {
        if (m.files.count(path) == 0) return f.Bad("golden", "a list of the listed files; '" + path + "' is not one");
      }
    }
    m.golden = std::move(g);
  }
  ASSIGN_OR_RETURN(m.labels, f.StringMap("labels"));
  ASSIGN_OR_RETURN(m.metadata, f.Object("metadata"));
  return m;
}

std::string Manifest::ToJson() const {
  json::object o;
  o["mlship_manifest"] = kManifestFormat;
  o["name"] = name;
  o["version"] = version;
  o["created"] = created;
  o["model"] = model;
  json::object file_list;
  for (const auto& [path, record] : files) {
    file_list[path] = json::object{{"sha256", record.sha256}, {"bytes", record.bytes}};
  }
  o["files"] = std::move(file_list);
  o["signature"] = signature ? json::parse(signature->ToJson()) : json::value(nullptr);
  o["settings"] = settings;
  o["reference"] = reference.empty() ? json::value(nullptr) : json::value(reference);
  if (golden) {
    json::object g;
    json::array inputs(golden->inputs.begin(), golden->inputs.end());
    json::array outputs(golden->outputs.begin(), golden->outputs.end());
    g["inputs"] = std::move(inputs);
    g["outputs"] = std::move(outputs);
    if (golden->rtol) g["rtol"] = *golden->rtol;
    if (golden->atol) g["atol"] = *golden->atol;
    o["golden"] = std::move(g);
  } else {
    o["golden"] = nullptr;
  }
  json::object label_list;
  for (const auto& [key, value] : labels) label_list[key] = value;
  o["labels"] = std::move(label_list);
  o["metadata"] = metadata;
  return PrettyJson(o);
}

StatusOr<ModelConfig> ModelConfig::Parse(std::string_view text, std::string_view where) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, where));
  const Fields f(o, where);
  ModelConfig c;
  ASSIGN_OR_RETURN(c.aliases, f.StringMap("aliases"));
  for (const auto& [alias, version] : c.aliases) {
    RETURN_IF_ERROR(ValidateName("alias", alias));
    RETURN_IF_ERROR(ValidateName("version", version));
  }
  ASSIGN_OR_RETURN(c.settings, f.Object("settings"));
  ASSIGN_OR_RETURN(c.rollout, f.Object("rollout"));
  return c;
}

std::string ModelConfig::ToJson() const {
  json::object o;
  json::object alias_list;
  for (const auto& [alias, version] : aliases) alias_list[alias] = version;
  o["aliases"] = std::move(alias_list);
  o["settings"] = settings;
  if (!rollout.empty()) o["rollout"] = rollout;
  return PrettyJson(o);
}

}  // namespace mlship::repository
