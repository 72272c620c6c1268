// LowRank: factor Linear weights with Eigen's SVD.
//
// W (out x in) ~= U_r S_r V_r^T becomes two Linears: x -> (S_r^1/2 V_r^T) x,
// then -> (U_r S_r^1/2) . + b. Only where r * (out + in) < out * in, so the
// factored layer is smaller and cheaper than the original.
#pragma once

#include <optional>

#include "mlship/optimize/pass_report.h"

namespace mlship {

struct LowRankOptions {
  // A fixed rank r >= 1 for every layer (capped at min(out, in)); when unset,
  // the rank is chosen per layer by `energy`.
  std::optional<int> rank;
  // The smallest r whose singular values keep this fraction of the squared
  // Frobenius norm, in (0, 1]. Default 0.9.
  double energy = 0.9;
};

// Errors: InvalidArgument for rank < 1 or energy outside (0, 1];
// FailedPrecondition for a model that is not TorchScript.
StatusOr<OptimizedModel> LowRank(const std::shared_ptr<Model>& model,
                                 const LowRankOptions& options);

}  // namespace mlship
