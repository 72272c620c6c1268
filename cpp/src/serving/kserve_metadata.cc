// Metadata and health bodies, built with Boost.JSON.
#include "kserve_metadata.h"

#include <boost/json.hpp>

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

json::array EncodeSpecs(const std::vector<TensorSpec>& specs) {
  json::array out;
  for (const auto& spec : specs) {
    json::array shape;
    for (int64_t dim : spec.shape) shape.emplace_back(dim);
    out.emplace_back(json::object{
        {"name", spec.name}, {"datatype", std::string(DTypeName(spec.dtype))}, {"shape", std::move(shape)}});
  }
  return out;
}

}  // namespace

std::string EncodeServerMetadata(std::string_view version, bool model_repository) {
  json::array extensions{"binary_tensor_data"};
  if (model_repository) extensions.emplace_back("model_repository");
  return json::serialize(json::object{{"name", "mlship"},
                                      {"version", json::string_view(version.data(), version.size())},
                                      {"extensions", std::move(extensions)}});
}

std::string EncodeModelMetadata(const ModelInfo& info) {
  json::array versions;
  for (const auto& version : info.versions) versions.emplace_back(version);
  return json::serialize(json::object{{"name", info.name},
                                      {"versions", std::move(versions)},
                                      {"platform", info.platform},
                                      {"inputs", EncodeSpecs(info.signature.inputs)},
                                      {"outputs", EncodeSpecs(info.signature.outputs)}});
}

std::string EncodeFlag(std::string_view field, bool value) {
  return json::serialize(json::object{{json::string_view(field.data(), field.size()), value}});
}

std::string EncodeModelReady(const ModelInfo& info, bool ready) {
  return json::serialize(json::object{{"name", info.name}, {"version", info.version}, {"ready", ready}});
}

}  // namespace mlship::serving::internal
