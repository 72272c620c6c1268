// Timing candidate models inside a pass, to choose between kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "mlship/engine/model.h"

namespace mlship::optimize_internal {

// The fastest of `runs` calls, in microseconds, of each model on the same
// synthetic inputs with `batch` rows (the example shape when the models have
// no batch dimension). Calls alternate between the models, and the minimum is
// kept rather than the median: on a shared machine the minimum is what the
// kernel can do, while medians measure the neighbours. +inf for a model that
// fails to run.
std::vector<double> BestLatencyMicros(const std::vector<const Model*>& models, int64_t batch, int runs);

}  // namespace mlship::optimize_internal
