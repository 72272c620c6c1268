// Prune: structured pruning of Linear layers on a TorchScript model's graph.
//
// Finds pairs of `aten::linear` A -> (zero-preserving activations) -> B where
// A's output feeds only B, removes A's neurons (rows of A's weight, with their
// bias) with the smallest L2 norm, and removes the matching input columns of
// B. Dense matrices really shrink, so the model gets smaller and faster.
// Layers whose outputs leave the model (or feed anything else) keep their shape.
#pragma once

#include "mlship/optimize/pass_report.h"

namespace mlship {

struct PruneOptions {
  // Fraction of each prunable layer's neurons to remove, in [0, 1). Each
  // layer keeps at least one neuron. Default 0.5.
  double amount = 0.5;
};

// Errors: InvalidArgument for amount outside [0, 1); FailedPrecondition for
// a model that is not TorchScript.
StatusOr<OptimizedModel> Prune(const std::shared_ptr<Model>& model, const PruneOptions& options);

}  // namespace mlship
