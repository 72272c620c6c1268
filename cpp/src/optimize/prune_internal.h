// Shared by the pruning pass (prune.cc) and its channel groups
// (prune_channels.cc): what to keep of each layer, decided before any weight
// changes.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "graph_rewrite.h"

namespace mlship::optimize_internal {

// What a layer keeps of its weight: rows (its outputs, dim 0) and columns
// (its inputs, dim 1), as sorted indices; undefined means all of them.
struct Cut {
  at::Tensor rows;
  at::Tensor cols;
};
using CutPlan = std::unordered_map<const torch::jit::Node*, Cut>;

// Elementwise activations with f(0) = 0: a neuron whose pre-activation is
// near zero contributes near nothing after them, so removing it is safe.
bool IsZeroPreservingElementwise(const torch::jit::Node* node);

// The indices of the `keep` rows of `weight` (with `bias` as one more column)
// with the largest L2 norm, summed in squares over all of `weights`; sorted.
at::Tensor StrongestRows(const std::vector<const LinearSite*>& layers, int64_t keep);

// How many to keep of `count` outputs when pruning `amount` of them (at least one).
int64_t KeepOf(int64_t count, double amount);

struct ChannelCounts {
  int64_t before = 0;  // channels in the groups that were pruned
  int64_t after = 0;
};

// Convolution channels that must go together: the outputs of convolutions
// that are added to each other (a residual connection), through ReLUs and
// pooling, up to the convolutions and Linears (after a global mean or
// pooling and flatten) that read them. Each such group, when nothing else
// reads its values, loses `amount` of its channels (the weakest over all its
// producers); every producer loses those rows and every consumer those
// columns. `convolutions` and `linears` are the candidate layers (their
// weights used by them alone). Adds the cuts to `plan`.
ChannelCounts PlanChannelGroups(const std::vector<LinearSite>& convolutions, const std::vector<LinearSite>& linears,
                                double amount, CutPlan& plan);

}  // namespace mlship::optimize_internal
