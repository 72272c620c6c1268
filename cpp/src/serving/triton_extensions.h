// Triton's model configuration and statistics extensions: the config
// mlship synthesizes for a model (Triton has a config.pbtxt; mlship has a
// Signature and batcher options), and both extensions' JSON bodies
// (internal; the gRPC front end writes the same values as protobuf).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlship/serving/backend.h"

namespace mlship::serving::internal {

// One input or output as Triton's ModelInput / ModelOutput describe it.
struct TritonTensorConfig {
  std::string name;
  // Triton's DataType enum name: "TYPE_FP32", "TYPE_INT64", "TYPE_BOOL", ...
  std::string data_type;
  // The dimensions without the batch dimension when the model batches
  // (max_batch_size > 0), as Triton writes them; -1 for dynamic ones.
  std::vector<int64_t> dims;
};

// The configuration Triton's tools read (perf_analyzer, model_analyzer,
// tritonclient's get_model_config).
struct TritonModelConfig {
  std::string name;
  // The KServe platform string of ModelInfo ("pytorch_torchscript", ...).
  std::string platform;
  // Always "pytorch": what runs the model.
  std::string backend = "pytorch";
  // ModelConfigInfo::max_batch_size when every input's dimension 0 is
  // dynamic (the Signature is batchable), else 0 (no batch dimension:
  // dims are the full shapes).
  int64_t max_batch_size = 0;
  std::vector<TritonTensorConfig> inputs;
  std::vector<TritonTensorConfig> outputs;
  // dynamic_batching is written when max_batch_size > 0.
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  // One instance group of kind KIND_CPU with this count.
  int instance_count = 1;
};

// "TYPE_FP32" for DType::kFloat32, etc. (BF16 is "TYPE_BF16").
std::string TritonDataTypeName(DType dtype);

// The configuration of the version `info` describes.
TritonModelConfig SynthesizeTritonConfig(const ModelInfo& info, const ModelConfigInfo& config);

// GET .../config: the config as Triton's HTTP endpoint writes it
// ({"name", "platform", "backend", "max_batch_size", "input": [{"name",
// "data_type", "format", "dims"}], "output": [...], "dynamic_batching":
// {...}, "instance_group": [{"name", "kind", "count"}], "version_policy"}).
std::string EncodeTritonConfigJson(const TritonModelConfig& config);

// GET .../stats: {"model_stats": [{"name", "version", "last_inference",
// "inference_count", "execution_count", "inference_stats": {"success",
// "fail", "queue", "compute_input", "compute_infer", "compute_output"} each
// {"count", "ns"}, "batch_stats": []}]}. compute_input and compute_output
// are zero: mlship measures one forward pass (compute_infer) only.
std::string EncodeTritonStatisticsJson(const std::vector<ModelStatistics>& stats);

}  // namespace mlship::serving::internal
