// int8 embedding tables: aten::embedding(W, idx) -> embedding(Wq, idx) * embedding(scales, idx),
// and aten::embedding_bag over those dequantized rows, with plain torch
// operators, so saved models need nothing of mlship for them.
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

namespace {

// Row-wise symmetric: scale = max|row| / 127; an all-zero row gets scale 1.
std::pair<at::Tensor, at::Tensor> RowWiseInt8(const at::Tensor& weight) {
  at::Tensor w = weight.detach().contiguous();
  at::Tensor scales = w.abs().amax({1}, /*keepdim=*/true) / 127.0;
  scales = at::where(scales > 0, scales, at::ones_like(scales));
  at::Tensor q = at::round(w / scales).clamp(-127, 127).to(at::kChar);
  return {q, scales.contiguous()};
}

// embedding(q, idx, ...) * embedding(scales, idx, ...): the looked-up rows, dequantized.
torch::jit::Value* DequantizedLookup(torch::jit::Node* before, const at::Tensor& weight,
                                     const std::vector<torch::jit::Value*>& rest) {
  auto [q, scales] = RowWiseInt8(weight);
  std::vector<torch::jit::Value*> rows_args{InsertConstant(before, q)};
  rows_args.insert(rows_args.end(), rest.begin(), rest.end());
  std::vector<torch::jit::Value*> scale_args{InsertConstant(before, scales)};
  scale_args.insert(scale_args.end(), rest.begin(), rest.end());
  torch::jit::Value* rows = InsertCall(before, "aten::embedding", rows_args);
  torch::jit::Value* row_scales = InsertCall(before, "aten::embedding", scale_args);
  // int8 * float promotes to float: the lookup is dequantized row by row.
  return InsertCall(before, "aten::mul", {rows, row_scales});
}

}  // namespace

void QuantizeEmbeddingInt8(const EmbeddingSite& site) {
  torch::jit::Node* node = site.node;
  // Same indices, padding_idx, scale_grad_by_freq and sparse for both lookups.
  std::vector<torch::jit::Value*> rest(node->inputs().begin() + 1, node->inputs().end());
  torch::jit::Value* rows = DequantizedLookup(node, site.weight, rest);
  rows->setType(node->output()->type());
  node->output()->replaceAllUsesWith(rows);
  node->destroy();
}

StatusOr<EmbeddingSite> FindEmbeddingBag(torch::jit::Node* node) {
  static const auto kBag = c10::Symbol::fromQualString("aten::embedding_bag");
  // (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
  // include_last_offset[, padding_idx])
  if (node->kind() != kBag || (node->inputs().size() != 8 && node->inputs().size() != 9)) {
    return Status::NotFound("not an embedding bag");
  }
  auto weight = torch::jit::toIValue(node->input(0));
  if (!weight || !weight->isTensor() || weight->toTensor().dim() != 2 || weight->toTensor().scalar_type() != at::kFloat) {
    return Status::NotFound("its table is not a constant float matrix");
  }
  if (node->inputs().size() == 9) {
    auto padding = torch::jit::toIValue(node->input(8));
    if (!padding || !(padding->isNone() || (padding->isInt() && padding->toInt() < 0))) {
      return Status::FailedPrecondition("it has a padding_idx");
    }
  }
  for (std::size_t i = 1; i < node->outputs().size(); ++i) {
    if (node->output(i)->hasUses()) return Status::FailedPrecondition("its offset2bag/bag_size/max_indices are read");
  }
  return EmbeddingSite{node, weight->toTensor()};
}

void QuantizeEmbeddingBagInt8(const EmbeddingSite& site) {
  // The bag's rows are looked up and dequantized first, [n, dim]; then the
  // same bag runs over that small table with indices 0..n-1, so offsets,
  // mode, per-sample weights and include_last_offset keep their meaning.
  torch::jit::Node* node = site.node;
  torch::jit::Value* flat = InsertCall(node, "aten::reshape", {node->input(1), InsertConstant(node, std::vector<int64_t>{-1})});
  torch::jit::Value* no = InsertConstant(node, false);
  torch::jit::Value* rows = DequantizedLookup(node, site.weight, {flat, InsertConstant(node, int64_t{-1}), no, no});
  torch::jit::Value* ones = InsertCall(node, "aten::ones_like", {flat});
  torch::jit::Value* positions =
      InsertCall(node, "aten::sub", {InsertCall(node, "aten::cumsum", {ones, InsertConstant(node, int64_t{0})}),
                                     InsertConstant(node, int64_t{1})});
  std::vector<torch::jit::Value*> args{rows, positions};
  args.insert(args.end(), node->inputs().begin() + 2, node->inputs().begin() + 8);
  if (node->inputs().size() == 9) args.push_back(InsertConstant(node, c10::IValue()));  // no padding_idx
  torch::jit::Value* packed = InsertCall(node, "aten::embedding_bag", args);
  // Several results come back packed in a prim::TupleConstruct of the op's outputs.
  node->output(0)->replaceAllUsesWith(packed->node()->input(0));
  node->destroy();
}

}  // namespace mlship::optimize_internal
