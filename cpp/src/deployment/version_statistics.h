// What Triton's configuration and statistics extensions report about one
// loaded version, read from its options and its monitor (internal to the
// deployment layer; the Router answers the Backend's Config and Statistics
// with them).
#pragma once

#include "mlship/deployment/model_version.h"
#include "mlship/serving/backend.h"

namespace mlship::internal {

// Batching and instance settings of `version`; `instances` is the server's
// worker count (every version's batches run on the shared workers).
serving::ModelConfigInfo ConfigOf(const ModelVersion& version, int instances);

// Cumulative counts and times from `version`'s monitor (all zero when
// monitoring is off): success = requests answered with outputs and their
// arrival-to-answer time; fail = requests answered with an error (count
// only); queue = time in the batcher; compute_infer = forward passes.
serving::ModelStatistics StatisticsOf(const ModelVersion& version);

}  // namespace mlship::internal
