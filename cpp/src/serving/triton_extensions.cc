// The synthesized Triton model config and the extensions' JSON bodies.
#include "triton_extensions.h"

#include <boost/json.hpp>

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

std::vector<TritonTensorConfig> TensorConfigs(const std::vector<TensorSpec>& specs, bool batched) {
  std::vector<TritonTensorConfig> out;
  out.reserve(specs.size());
  for (const TensorSpec& spec : specs) {
    TritonTensorConfig tensor{spec.name, TritonDataTypeName(spec.dtype), spec.shape};
    if (batched && !tensor.dims.empty()) tensor.dims.erase(tensor.dims.begin());
    out.push_back(std::move(tensor));
  }
  return out;
}

json::array Dims(const std::vector<int64_t>& dims) {
  json::array out;
  for (const int64_t d : dims) out.emplace_back(d);
  return out;
}

json::object Duration(const DurationStatistic& d) { return json::object{{"count", d.count}, {"ns", d.ns}}; }

}  // namespace

std::string TritonDataTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "TYPE_BOOL";
    case DType::kInt8: return "TYPE_INT8";
    case DType::kInt16: return "TYPE_INT16";
    case DType::kInt32: return "TYPE_INT32";
    case DType::kInt64: return "TYPE_INT64";
    case DType::kUInt8: return "TYPE_UINT8";
    case DType::kUInt16: return "TYPE_UINT16";
    case DType::kUInt32: return "TYPE_UINT32";
    case DType::kUInt64: return "TYPE_UINT64";
    case DType::kFloat16: return "TYPE_FP16";
    case DType::kBFloat16: return "TYPE_BF16";
    case DType::kFloat32: return "TYPE_FP32";
    case DType::kFloat64: return "TYPE_FP64";
  }
  return "TYPE_INVALID";
}

TritonModelConfig SynthesizeTritonConfig(const ModelInfo& info, const ModelConfigInfo& config) {
  TritonModelConfig out;
  out.name = info.name;
  out.platform = info.platform;
  const bool batched = config.max_batch_size > 0 && info.signature.batchable();
  out.max_batch_size = batched ? config.max_batch_size : 0;
  out.inputs = TensorConfigs(info.signature.inputs, batched);
  // Outputs of a batching model carry the batch dimension first too.
  out.outputs = TensorConfigs(info.signature.outputs, batched);
  out.preferred_batch_sizes = config.preferred_batch_sizes;
  out.max_queue_delay_us = config.max_queue_delay_us;
  out.instance_count = config.instance_count;
  return out;
}

std::string EncodeTritonConfigJson(const TritonModelConfig& config) {
  json::array inputs;
  for (const auto& t : config.inputs) {
    inputs.emplace_back(
        json::object{{"name", t.name}, {"data_type", t.data_type}, {"format", "FORMAT_NONE"}, {"dims", Dims(t.dims)}});
  }
  json::array outputs;
  for (const auto& t : config.outputs) {
    outputs.emplace_back(json::object{{"name", t.name}, {"data_type", t.data_type}, {"dims", Dims(t.dims)}});
  }
  json::object out{{"name", config.name},
                   {"platform", config.platform},
                   {"backend", config.backend},
                   {"version_policy", json::object{{"latest", json::object{{"num_versions", 1}}}}},
                   {"max_batch_size", config.max_batch_size},
                   {"input", std::move(inputs)},
                   {"output", std::move(outputs)},
                   {"instance_group", json::array{json::object{{"name", config.name},
                                                               {"kind", "KIND_CPU"},
                                                               {"count", config.instance_count}}}}};
  if (config.max_batch_size > 0) {
    out["dynamic_batching"] = json::object{{"preferred_batch_size", Dims(config.preferred_batch_sizes)},
                                           {"max_queue_delay_microseconds", config.max_queue_delay_us}};
  }
  return json::serialize(out);
}

std::string EncodeTritonStatisticsJson(const std::vector<ModelStatistics>& stats) {
  json::array models;
  for (const ModelStatistics& s : stats) {
    models.emplace_back(json::object{
        {"name", s.name},
        {"version", s.version},
        {"last_inference", s.last_inference_ms},
        {"inference_count", s.inference_count},
        {"execution_count", s.execution_count},
        {"inference_stats", json::object{{"success", Duration(s.success)},
                                         {"fail", Duration(s.fail)},
                                         {"queue", Duration(s.queue)},
                                         {"compute_input", Duration({})},
                                         {"compute_infer", Duration(s.compute_infer)},
                                         {"compute_output", Duration({})}}},
        {"batch_stats", json::array{}}});
  }
  return json::serialize(json::object{{"model_stats", std::move(models)}});
}

}  // namespace mlship::serving::internal
