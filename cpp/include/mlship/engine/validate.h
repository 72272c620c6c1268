// Checking input tensors against a Signature before they reach a model.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship {

// InvalidArgument, naming the input and what was expected and what came,
// when: the count differs, a dtype differs, the rank differs, a fixed
// dimension differs, a tensor is empty along dimension 0, a tensor is not on
// the CPU, or the dynamic batch dimensions of several inputs disagree.
// Non-contiguous tensors are accepted (Run makes them contiguous); NaN and Inf
// pass through.
Status ValidateInputs(const Signature& signature, const std::vector<at::Tensor>& inputs);

}  // namespace mlship
