// Structured pruning: drop the smallest neurons of a Linear and the matching
// inputs of the Linear that consumes it.
#include "mlship/optimize/prune.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <unordered_map>

#include "graph_rewrite.h"

namespace mlship {
namespace {

using optimize_internal::LinearSite;
using torch::jit::Node;
using torch::jit::Value;

// Elementwise activations with f(0) = 0: a neuron whose pre-activation is
// near zero contributes near nothing after them, so removing it is safe.
// (sigmoid and softmax are not here: they map 0 elsewhere or mix neurons.)
bool IsZeroPreservingElementwise(const Node* node) {
  static const std::vector<c10::Symbol> kinds = [] {
    std::vector<c10::Symbol> out;
    for (const char* name : {"aten::relu", "aten::relu_", "aten::gelu", "aten::tanh", "aten::silu", "aten::leaky_relu",
                             "aten::elu", "aten::selu", "aten::celu", "aten::hardtanh", "aten::hardswish",
                             "aten::mish", "aten::relu6", "aten::dropout", "aten::softsign"}) {
      out.push_back(c10::Symbol::fromQualString(name));
    }
    return out;
  }();
  if (std::find(kinds.begin(), kinds.end(), node->kind()) == kinds.end()) return false;
  if (node->outputs().size() != 1) return false;
  for (std::size_t i = 1; i < node->inputs().size(); ++i) {
    if (node->input(i)->type()->cast<c10::TensorType>()) return false;  // e.g. a learned slope
  }
  return true;
}

// The Linear that alone consumes `value`, through zero-preserving activations
// only; -1 when there is none (the value is an output, or feeds anything else).
int FollowingLinear(const Value* value, const std::unordered_map<const Node*, int>& site_of) {
  while (true) {
    if (value->uses().size() != 1 || value->uses()[0].offset != 0) return -1;
    const Node* user = value->uses()[0].user;
    if (auto it = site_of.find(user); it != site_of.end()) return it->second;
    if (!IsZeroPreservingElementwise(user)) return -1;
    value = user->output();
  }
}

std::string Shape(const at::Tensor& t) { return std::to_string(t.size(0)) + "x" + std::to_string(t.size(1)); }

}  // namespace

StatusOr<OptimizedModel> Prune(const std::shared_ptr<Model>& model, const PruneOptions& options) {
  if (!(options.amount >= 0.0 && options.amount < 1.0)) {
    std::ostringstream msg;
    msg << "amount must be in [0, 1); was " << options.amount;
    return Status::InvalidArgument(msg.str());
  }
  if (model == nullptr) return Status::InvalidArgument("Prune: no model");
  ASSIGN_OR_RETURN(auto copy, optimize_internal::FreezeCopy(*model, "pruning", optimize_internal::FusedPaths::kUnfuse));
  std::vector<LinearSite> sites = optimize_internal::FindLinears(*copy.graph);
  PassReport report{"prune", static_cast<int>(sites.size()), 0, "", {}};
  if (sites.empty()) {
    report.summary = optimize_internal::NothingToDo("prune");
    return OptimizedModel{model, report};
  }
  std::unordered_map<const Node*, int> site_of;
  for (std::size_t i = 0; i < sites.size(); ++i) site_of[sites[i].node] = static_cast<int>(i);

  // Rows to keep (neurons) and columns to keep (inputs) per site, decided on
  // the original weights; undefined means "all".
  std::vector<at::Tensor> keep_rows(sites.size()), keep_cols(sites.size());
  int64_t neurons_before = 0, neurons_after = 0;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    int next = FollowingLinear(sites[i].node->output(), site_of);
    const at::Tensor& w = sites[i].weight;
    // The weight constant must belong to this layer alone, or shrinking it would change another.
    if (next < 0 || sites[i].node->input(1)->uses().size() != 1 || sites[next].node->input(1)->uses().size() != 1) {
      continue;
    }
    const int64_t neurons = w.size(0);
    const int64_t remove = static_cast<int64_t>(std::floor(options.amount * static_cast<double>(neurons)));
    const int64_t keep = std::max<int64_t>(1, neurons - remove);
    if (keep == neurons) continue;
    // A neuron is affine in (x, 1): its norm includes its bias.
    at::Tensor rows = sites[i].bias ? at::cat({w, sites[i].bias->unsqueeze(1)}, 1) : w;
    at::Tensor kept = std::get<0>(std::get<1>(at::topk(rows.norm(2, {1}), keep)).sort());
    keep_rows[i] = kept;
    keep_cols[next] = kept;
    neurons_before += neurons;
    neurons_after += keep;
  }
  std::ostringstream shapes;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (!keep_rows[i].defined() && !keep_cols[i].defined()) continue;
    at::Tensor w = sites[i].weight;
    std::optional<at::Tensor> b = sites[i].bias;
    if (keep_rows[i].defined()) {
      w = w.index_select(0, keep_rows[i]);
      if (b) b = b->index_select(0, keep_rows[i]);
      ++report.layers_changed;
    }
    if (keep_cols[i].defined()) w = w.index_select(1, keep_cols[i]);
    shapes << (shapes.tellp() > 0 ? ", " : "") << Shape(sites[i].weight) << " -> " << Shape(w);
    Node* node = sites[i].node;
    node->replaceInput(1, optimize_internal::InsertConstant(node, w.contiguous()));
    if (b) node->replaceInput(2, optimize_internal::InsertConstant(node, b->contiguous()));
  }
  if (report.layers_changed == 0) {
    report.summary = options.amount == 0.0
                         ? "amount is 0: nothing removed"
                         : "nothing to prune: no Linear layer feeds another Linear through elementwise activations only";
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto pruned, optimize_internal::BuildModel(std::move(copy), *model, "prune"));
  report.details.emplace_back("weights (out x in)", shapes.str());
  report.details.emplace_back("neurons", std::to_string(neurons_before) + " -> " + std::to_string(neurons_after));
  report.summary = "removed " + std::to_string(neurons_before - neurons_after) + " of " +
                   std::to_string(neurons_before) + " neurons in " + std::to_string(report.layers_changed) + " of " +
                   std::to_string(report.layers_seen) + " Linear layers (layers feeding outputs keep their shape)";
  return OptimizedModel{pruned, report};
}

}  // namespace mlship
