// What one optimization pass did, and the model it produced.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mlship/engine/model.h"

namespace mlship {

struct PassReport {
  // "int8", "fp16", "bf16", "prune" or "low_rank".
  std::string technique;
  // Layers the pass could apply to, and the ones it changed.
  int layers_seen = 0;
  int layers_changed = 0;
  // One line: what was done, or why nothing was ("nothing to quantize: ...").
  std::string summary;
  // Ordered facts for the report, e.g. {"kernel", "weight-only (mlship)"}.
  std::vector<std::pair<std::string, std::string>> details;
};

// A pass's result. When the pass found nothing to change, `model` is the
// input model itself and report.layers_changed is 0; that is not an error.
struct OptimizedModel {
  std::shared_ptr<Model> model;
  PassReport report;
};

}  // namespace mlship
