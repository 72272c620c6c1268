// int8 embedding tables: aten::embedding(W, idx) -> embedding(Wq, idx) * embedding(scales, idx),
// with plain torch operators, so saved models need nothing of mlship for them.
#include <ATen/ATen.h>

#include "graph_rewrite.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {

std::vector<EmbeddingSite> FindEmbeddings(torch::jit::Graph& graph) {
  static const auto kEmbedding = c10::Symbol::fromQualString("aten::embedding");
  std::vector<EmbeddingSite> sites;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (node->kind() != kEmbedding || node->inputs().size() != 5) continue;
    auto weight = torch::jit::toIValue(node->input(0));
    if (!weight || !weight->isTensor()) continue;
    const at::Tensor& w = weight->toTensor();
    if (w.dim() != 2 || w.scalar_type() != at::kFloat) continue;
    sites.push_back(EmbeddingSite{node, w});
  }
  return sites;
}

void QuantizeEmbeddingInt8(const EmbeddingSite& site) {
  // Row-wise symmetric: scale = max|row| / 127; an all-zero row gets scale 1.
  at::Tensor w = site.weight.detach().contiguous();
  at::Tensor scales = w.abs().amax({1}, /*keepdim=*/true) / 127.0;
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  at::Tensor q = at::round(w / scales).clamp(-127, 127).to(at::kChar);
  torch::jit::Node* node = site.node;
  // Same indices, padding_idx, scale_grad_by_freq and sparse for both lookups.
  std::vector<torch::jit::Value*> rest(node->inputs().begin() + 1, node->inputs().end());
  std::vector<torch::jit::Value*> rows_args{InsertConstant(node, q)};
  rows_args.insert(rows_args.end(), rest.begin(), rest.end());
  std::vector<torch::jit::Value*> scale_args{InsertConstant(node, scales.contiguous())};
  scale_args.insert(scale_args.end(), rest.begin(), rest.end());
  torch::jit::Value* rows = InsertCall(node, "aten::embedding", rows_args);
  torch::jit::Value* row_scales = InsertCall(node, "aten::embedding", scale_args);
  // int8 * float promotes to float: the lookup is dequantized row by row.
  ReplaceWithCall(node, "aten::mul", {rows, row_scales});
}

}  // namespace mlship::optimize_internal
