// Unfusing torch's fused Transformer fast paths in a frozen graph, so that the
// Linear layers they hide become plain `aten::linear` nodes a pass can rewrite.
#pragma once

#include "graph_rewrite.h"

namespace mlship::optimize_internal {

// What UnfuseFastPaths did.
struct UnfuseResult {
  // Fused calls whose branch was switched off, by op
  // ("aten::_transformer_encoder_layer_fwd", "aten::_native_multi_head_attention").
  std::vector<std::pair<std::string, int>> unfused;
  int total() const;
};

// nn.TransformerEncoderLayer and nn.MultiheadAttention choose at run time
// between a fused kernel (which reads the fp32 in-projection, out-projection
// and feed-forward weights itself) and the unfused code made of aten::linear,
// softmax and layer norm. Both compute the same function; torch documents the
// fused one as an inference optimisation of the other.
//
// This pass makes each such choice constant (the unfused branch), then
// simplifies the graph until the self-attention projections are single
// constant-weight Linears at the top level:
// - `x is x` on the same value folds to true (self-attention passes one
//   tensor as query, key and value);
// - common subexpressions are merged and an If output that every branch
//   yields from the same value is merged with its twin, so `query is key`
//   folds too;
// - Ifs with constant conditions are inlined;
// then the module is frozen again, since freeze_module leaves the attention
// weights that the fused branch read as attributes.
//
// It changes nothing in a graph without fused Transformer calls. The result
// runs slower in fp32 than the fused path; it is meant to be rewritten.
// Called by FreezeCopy(..., FusedPaths::kUnfuse).
UnfuseResult UnfuseFastPaths(FrozenCopy& copy);

}  // namespace mlship::optimize_internal
