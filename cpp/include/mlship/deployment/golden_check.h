// The golden check: a version must reproduce the outputs stored with it on
// its sample inputs before it takes traffic. The comparison is the one
// routine every such check shares (engine/output_compare.h), so the server
// and the pytest plugin agree on what "the same outputs" means.
#pragma once

#include "mlship/deployment/model_version.h"
#include "mlship/deployment/server.h"

namespace mlship {

// Runs `golden.inputs` through `version` (its own batcher and workers, as a
// request would) and compares every output with `golden.outputs`, within
// golden.rtol/atol or the default tolerance of each output's dtype.
// FailedPrecondition naming the output and the worst element when one
// differs; InvalidArgument when the golden data does not fit the model.
Status CheckGolden(ModelVersion& version, const GoldenData& golden);

}  // namespace mlship
