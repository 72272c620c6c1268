// JSON bodies of the KServe v2 metadata and health endpoints (internal).
#pragma once

#include <string>
#include <string_view>

#include "mlship/serving/backend.h"

namespace mlship::serving::internal {

// GET /v2: {"name": "mlship", "version": ..., "extensions": ["binary_tensor_data"]}.
std::string EncodeServerMetadata(std::string_view version, bool model_repository = false);

// GET /v2/models/{name}[/versions/{v}]: {"name", "versions", "platform",
// "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}; shapes keep
// -1 for dynamic dimensions, as KServe specifies.
std::string EncodeModelMetadata(const ModelInfo& info);

// {"<field>": true|false}, for /v2/health/live and /v2/health/ready.
std::string EncodeFlag(std::string_view field, bool value);

// GET /v2/models/{name}[/versions/{v}]/ready: {"name", "version", "ready"}.
std::string EncodeModelReady(const ModelInfo& info, bool ready);

}  // namespace mlship::serving::internal
