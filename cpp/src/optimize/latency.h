// Timing candidate models inside a pass, to choose between kernels.
#pragma once

#include <cstdint>

#include "mlship/engine/model.h"

namespace mlship::optimize_internal {

// Median wall time in microseconds of `runs` calls on synthetic inputs with
// `batch` rows (the example shape when the model has no batch dimension),
// after two untimed calls. +inf when the model fails to run.
double MedianLatencyMicros(const Model& model, int64_t batch, int runs);

}  // namespace mlship::optimize_internal
