// Half-precision convolutions with plain torch operators: the weights are
// stored in fp16/bf16, and the convolution runs in half precision (input cast
// down, output cast back up) or on weights widened per call.
#include <ATen/ATen.h>

#include <algorithm>

#include "graph_rewrite.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {

std::vector<ConvSite> FindConvolutions(torch::jit::Graph& graph) {
  static const c10::Symbol kinds[] = {c10::Symbol::fromQualString("aten::conv1d"),
                                      c10::Symbol::fromQualString("aten::conv2d"),
                                      c10::Symbol::fromQualString("aten::conv3d")};
  std::vector<ConvSite> sites;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (std::find(std::begin(kinds), std::end(kinds), node->kind()) == std::end(kinds)) continue;
    if (node->inputs().size() != 7) continue;
    if (auto site = ConstantWeightAndBias(node)) sites.push_back(*site);
  }
  return sites;
}

void ConvolutionToHalf(const ConvSite& site, at::ScalarType dtype, bool compute_in_half) {
  torch::jit::Node* node = site.node;
  auto cast = [&](torch::jit::Value* value, at::ScalarType to) {
    return InsertCall(node, "aten::to", {value, InsertConstant(node, static_cast<int64_t>(to))});
  };
  torch::jit::Value* weight = InsertConstant(node, site.weight.to(dtype).contiguous());
  torch::jit::Value* bias = InsertConstant(node, site.bias ? c10::IValue(site.bias->to(dtype)) : c10::IValue());
  std::vector<torch::jit::Value*> args(node->inputs().begin(), node->inputs().end());
  if (compute_in_half) {
    args[0] = cast(args[0], dtype);
    args[1] = weight;
    args[2] = bias;
  } else {
    args[1] = cast(weight, at::kFloat);
    args[2] = site.bias ? cast(bias, at::kFloat) : bias;
  }
  torch::jit::Value* out = InsertCall(node, node->kind().toQualString(), args);
  if (compute_in_half) out = cast(out, at::kFloat);
  node->output()->replaceAllUsesWith(out);
  node->destroy();
}

}  // namespace mlship::optimize_internal
