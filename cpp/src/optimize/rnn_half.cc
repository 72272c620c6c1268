// Half-precision LSTM/GRU layers with plain torch operators: the weights are
// stored in fp16/bf16 and the recurrence runs in that precision (oneDNN's RNN
// kernels take bf16/fp16 on CPUs that have the instructions), with the input
// and initial states cast down and the outputs cast back to fp32; or the
// weights are widened to fp32 for each call.
#include <ATen/ATen.h>

#include <algorithm>

#include "graph_rewrite.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {
namespace {

// The tensors of a list value whose elements are all constants.
std::optional<std::vector<at::Tensor>> ConstantTensors(torch::jit::Value* list) {
  if (auto constant = torch::jit::toIValue(list); constant && constant->isTensorList()) {
    return constant->toTensorVector();
  }
  if (list->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<at::Tensor> tensors;
  for (torch::jit::Value* item : list->node()->inputs()) {
    auto constant = torch::jit::toIValue(item);
    if (!constant || !constant->isTensor()) return std::nullopt;
    tensors.push_back(constant->toTensor());
  }
  return tensors;
}

torch::jit::Value* Cast(torch::jit::Node* before, torch::jit::Value* value, at::ScalarType to) {
  return InsertCall(before, "aten::to", {value, InsertConstant(before, static_cast<int64_t>(to))});
}

}  // namespace

std::vector<RnnSite> FindRecurrentLayers(torch::jit::Graph& graph, bool include_packed) {
  static const c10::Symbol kLstm = c10::Symbol::fromQualString("aten::lstm");
  static const c10::Symbol kGru = c10::Symbol::fromQualString("aten::gru");
  std::vector<RnnSite> sites;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if ((node->kind() != kLstm && node->kind() != kGru) || node->inputs().size() != 9) continue;
    const c10::FunctionSchema* schema = node->maybeSchema();
    if (schema == nullptr) continue;
    RnnSite site{node, {}, schema->overload_name() == "data"};
    if (schema->overload_name() != "input" && !(site.packed && include_packed)) continue;
    // The initial states must be castable: one tensor (GRU) or a list built in the graph (LSTM).
    torch::jit::Value* hx = node->input(site.HxIndex());
    if (!hx->type()->cast<c10::TensorType>() && hx->node()->kind() != c10::prim::ListConstruct) continue;
    auto params = ConstantTensors(node->input(site.ParamsIndex()));
    if (!params || params->empty()) continue;
    bool all_float = std::all_of(params->begin(), params->end(),
                                 [](const at::Tensor& t) { return t.scalar_type() == at::kFloat; });
    site.params = *params;
    if (all_float) sites.push_back(site);
  }
  return sites;
}

void RecurrentToHalf(const RnnSite& site, at::ScalarType dtype, bool compute_in_half) {
  torch::jit::Node* node = site.node;
  std::vector<torch::jit::Value*> params;
  for (const at::Tensor& p : site.params) {
    torch::jit::Value* half = InsertConstant(node, p.to(dtype).contiguous());
    params.push_back(compute_in_half ? half : Cast(node, half, at::kFloat));
  }
  node->replaceInput(2, TensorList(node, params));
  if (!compute_in_half) return;
  node->replaceInput(0, Cast(node, node->input(0), dtype));
  torch::jit::Value* hx = node->input(1);
  if (hx->type()->cast<c10::TensorType>()) {  // GRU: one state tensor
    node->replaceInput(1, Cast(node, hx, dtype));
  } else {  // LSTM: (h0, c0), a ListConstruct (FindRecurrentLayers checked)
    std::vector<torch::jit::Value*> states;
    for (torch::jit::Value* state : hx->node()->inputs()) states.push_back(Cast(node, state, dtype));
    node->replaceInput(1, TensorList(node, states));
  }
  // Outputs back to fp32, right after the layer.
  torch::jit::Node* after = node->next();
  for (torch::jit::Value* out : node->outputs()) {
    torch::jit::Value* wide = Cast(after, out, at::kFloat);
    out->replaceAllUsesAfterNodeWith(wide->node(), wide);
  }
}

}  // namespace mlship::optimize_internal
