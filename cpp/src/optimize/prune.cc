// Structured pruning: drop the smallest neurons of a Linear and the matching
// inputs of the Linear that consumes it.
#include "mlship/optimize/prune.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <string>
#include <unordered_map>

#include "graph_rewrite.h"
#include "quantize_passes.h"

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

// "256x64" for a Linear's weight, "32x16x3x3" for a convolution's.
std::string Shape(const at::Tensor& t) {
  std::ostringstream text;
  for (int64_t d = 0; d < t.dim(); ++d) text << (d == 0 ? "" : "x") << t.size(d);
  return text.str();
}

// A convolution whose channels can be removed: groups == 1 (with groups,
// channels are tied to their group).
bool UngroupedConvolution(const Node* node) {
  auto groups = torch::jit::toIValue(node->input(6));
  return groups && groups->isInt() && groups->toInt() == 1;
}

// What pruning did to one family of layers (Linears, or convolutions).
struct Pruned {
  int seen = 0;
  int changed = 0;
  int64_t before = 0;  // neurons (or channels) in the pruned layers
  int64_t after = 0;
  std::string shapes;  // "256x64 -> 128x64, ..."
};

// Prunes pairs A -> (zero-preserving activations) -> B among `sites`: the
// `amount` of A's outputs (rows of its weight, with their bias: dim 0) with
// the smallest L2 norm go, with B's matching inputs (dim 1). Decided on the
// original weights; the graph's constants are replaced.
Pruned PrunePairs(const std::vector<LinearSite>& sites, double amount) {
  Pruned result;
  result.seen = static_cast<int>(sites.size());
  std::unordered_map<const Node*, int> site_of;
  for (std::size_t i = 0; i < sites.size(); ++i) site_of[sites[i].node] = static_cast<int>(i);
  // Rows to keep (outputs) and columns to keep (inputs) per site; undefined means "all".
  std::vector<at::Tensor> keep_rows(sites.size()), keep_cols(sites.size());
  for (std::size_t i = 0; i < sites.size(); ++i) {
    int next = FollowingLinear(sites[i].node->output(), site_of);
    const at::Tensor& w = sites[i].weight;
    // The weight constant must belong to this layer alone, or shrinking it would change another.
    if (next < 0 || sites[i].node->input(1)->uses().size() != 1 || sites[next].node->input(1)->uses().size() != 1) {
      continue;
    }
    const int64_t neurons = w.size(0);
    const int64_t remove = static_cast<int64_t>(std::floor(amount * static_cast<double>(neurons)));
    const int64_t keep = std::max<int64_t>(1, neurons - remove);
    if (keep == neurons) continue;
    // A neuron (or channel) is affine in (x, 1): its norm includes its bias.
    at::Tensor flat = w.reshape({neurons, -1});
    at::Tensor rows = sites[i].bias ? at::cat({flat, sites[i].bias->unsqueeze(1)}, 1) : flat;
    at::Tensor kept = std::get<0>(std::get<1>(at::topk(rows.norm(2, {1}), keep)).sort());
    keep_rows[i] = kept;
    keep_cols[next] = kept;
    result.before += neurons;
    result.after += keep;
  }
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (!keep_rows[i].defined() && !keep_cols[i].defined()) continue;
    at::Tensor w = sites[i].weight;
    std::optional<at::Tensor> b = sites[i].bias;
    if (keep_rows[i].defined()) {
      w = w.index_select(0, keep_rows[i]);
      if (b) b = b->index_select(0, keep_rows[i]);
      ++result.changed;
    }
    if (keep_cols[i].defined()) w = w.index_select(1, keep_cols[i]);
    result.shapes += (result.shapes.empty() ? "" : ", ") + Shape(sites[i].weight) + " -> " + Shape(w);
    Node* node = sites[i].node;
    node->replaceInput(1, optimize_internal::InsertConstant(node, w.contiguous()));
    if (b) node->replaceInput(2, optimize_internal::InsertConstant(node, b->contiguous()));
  }
  return result;
}

}  // namespace

StatusOr<OptimizedModel> Prune(const std::shared_ptr<Model>& model, const PruneOptions& options) {
  if (!(options.amount >= 0.0 && options.amount < 1.0)) {
    std::ostringstream msg;
    msg << "amount must be in [0, 1); was " << options.amount;
    return Status::InvalidArgument(msg.str());
  }
  if (model == nullptr) return Status::InvalidArgument("Prune: no model");
  ASSIGN_OR_RETURN(auto copy, optimize_internal::FreezeCopy(*model, "pruning", optimize_internal::FusedPaths::kUnfuse));
  std::vector<LinearSite> linears = optimize_internal::FindLinears(*copy.graph);
  std::vector<LinearSite> convolutions;
  if (!optimize_internal::FindConvolutions(*copy.graph).empty()) {
    // Batch norms into the convolutions first: a batch norm between a
    // convolution and its ReLU shifts zeros, so the pair would not be seen.
    optimize_internal::FoldIntoConvolutions(copy.graph);
    for (const LinearSite& site : optimize_internal::FindConvolutions(*copy.graph)) {
      if (UngroupedConvolution(site.node)) convolutions.push_back(site);
    }
  }
  PassReport report{"prune", static_cast<int>(linears.size() + convolutions.size()), 0, "", {}};
  if (report.layers_seen == 0) {
    report.summary = optimize_internal::NothingToDo("prune");
    return OptimizedModel{model, report};
  }
  // Convolutions pair only with convolutions, Linears with Linears.
  const Pruned dense = PrunePairs(linears, options.amount);
  const Pruned conv = PrunePairs(convolutions, options.amount);
  report.layers_changed = dense.changed + conv.changed;
  if (report.layers_changed == 0) {
    report.summary = options.amount == 0.0 ? "amount is 0: nothing removed"
                                           : "nothing to prune: no Linear layer feeds another Linear (nor a "
                                             "convolution another convolution) through elementwise activations only";
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto pruned, optimize_internal::BuildModel(std::move(copy), *model, "prune"));
  std::vector<std::string> parts;
  if (dense.changed > 0) {
    report.details.emplace_back("weights (out x in)", dense.shapes);
    report.details.emplace_back("neurons", std::to_string(dense.before) + " -> " + std::to_string(dense.after));
    parts.push_back("removed " + std::to_string(dense.before - dense.after) + " of " + std::to_string(dense.before) +
                    " neurons in " + std::to_string(dense.changed) + " of " + std::to_string(dense.seen) +
                    " Linear layers (layers feeding outputs keep their shape)");
  }
  if (conv.changed > 0) {
    report.details.emplace_back("convolutions (out x in x kernel)", conv.shapes);
    report.details.emplace_back("channels", std::to_string(conv.before) + " -> " + std::to_string(conv.after));
    parts.push_back("removed " + std::to_string(conv.before - conv.after) + " of " + std::to_string(conv.before) +
                    " channels in " + std::to_string(conv.changed) + " of " + std::to_string(conv.seen) +
                    " convolutions (channels that meet a residual add keep their number)");
  }
  report.summary = parts[0] + (parts.size() > 1 ? "; " + parts[1] : "");
  return OptimizedModel{pruned, report};
}

}  // namespace mlship
