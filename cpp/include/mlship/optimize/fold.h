// Fold: exact fp32 graph simplifications for convolutional networks.
//
// On a frozen copy of the graph: batch norms after convolutions (or Linears)
// are folded into their weights and bias, and so are constant adds, subs,
// muls and divs after them (torch's frozen-graph passes). Then, optionally,
// convolutions and their elementwise neighbours are converted to oneDNN's
// prepacked layout (weights reordered once instead of per call); the pass
// times the model with and without that step and keeps the faster. The
// arithmetic is the same up to float rounding.
#pragma once

#include "mlship/optimize/pass_report.h"

namespace mlship {

// Whether to try oneDNN's prepacked convolutions after folding.
enum class PrepackMode {
  kAuto,    // time both at batch 1 and batch 8 and keep the faster (default)
  kNever,   // folding only
  kAlways,  // prepack whenever the graph has convolutions
};

struct FoldOptions {
  // --- Affects behaviour ---
  PrepackMode prepack = PrepackMode::kAuto;

  // --- Affects how long the pass takes ---
  // Timed runs per variant when choosing (the fastest counts). Default 15.
  int timing_runs = 15;
};

// Errors: FailedPrecondition for a model that is not TorchScript;
// InvalidArgument for timing_runs < 1. A model with no convolution and no
// batch norm comes back as it is, with layers_changed == 0.
StatusOr<OptimizedModel> Fold(const std::shared_ptr<Model>& model, const FoldOptions& options);

}  // namespace mlship
