// Structured pruning: drop the smallest neurons of a Linear and the matching
// inputs of the Linear that consumes it; convolution channels by groups
// (prune_channels.cc).
#include "mlship/optimize/prune.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <unordered_map>

#include "graph_rewrite.h"
#include "prune_internal.h"
#include "quantize_passes.h"

namespace mlship {
namespace optimize_internal {

bool IsZeroPreservingElementwise(const torch::jit::Node* node) {
  // (sigmoid and softmax are not here: they map 0 elsewhere or mix neurons.)
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

at::Tensor StrongestRows(const std::vector<const LinearSite*>& layers, int64_t keep) {
  at::Tensor squares;
  for (const LinearSite* layer : layers) {
    // A neuron (or channel) is affine in (x, 1): its norm includes its bias.
    at::Tensor flat = layer->weight.reshape({layer->weight.size(0), -1});
    at::Tensor rows = layer->bias ? at::cat({flat, layer->bias->unsqueeze(1)}, 1) : flat;
    at::Tensor sq = rows.pow(2).sum(1);
    squares = squares.defined() ? squares + sq : sq;
  }
  return std::get<0>(std::get<1>(at::topk(squares, keep)).sort());
}

int64_t KeepOf(int64_t count, double amount) {
  const int64_t remove = static_cast<int64_t>(std::floor(amount * static_cast<double>(count)));
  return std::max<int64_t>(1, count - remove);
}

}  // namespace optimize_internal

namespace {

using optimize_internal::IsZeroPreservingElementwise;

using optimize_internal::LinearSite;
using optimize_internal::ShapeText;
using torch::jit::Node;
using torch::jit::Value;

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

// A convolution whose channels can be removed: groups == 1 (with groups,
// channels are tied to their group).
bool UngroupedConvolution(const Node* node) {
  auto groups = torch::jit::toIValue(node->input(6));
  return groups && groups->isInt() && groups->toInt() == 1;
}

// What pruning did to the Linears.
struct NeuronCounts {
  int64_t before = 0;  // neurons in the pruned layers
  int64_t after = 0;
};

// Plans pairs A -> (zero-preserving activations) -> B among the Linears: the
// `amount` of A's neurons with the smallest L2 norm go, with B's matching
// inputs. Decided on the original weights.
NeuronCounts PlanLinearPairs(const std::vector<LinearSite>& sites, double amount, optimize_internal::CutPlan& plan) {
  NeuronCounts counts;
  std::unordered_map<const Node*, int> site_of;
  for (std::size_t i = 0; i < sites.size(); ++i) site_of[sites[i].node] = static_cast<int>(i);
  for (std::size_t i = 0; i < sites.size(); ++i) {
    int next = FollowingLinear(sites[i].node->output(), site_of);
    if (next < 0) continue;
    const int64_t neurons = sites[i].weight.size(0);
    const int64_t keep = optimize_internal::KeepOf(neurons, amount);
    if (keep == neurons) continue;
    at::Tensor kept = optimize_internal::StrongestRows({&sites[i]}, keep);
    plan[sites[i].node].rows = kept;
    plan[sites[next].node].cols = kept;
    counts.before += neurons;
    counts.after += keep;
  }
  return counts;
}

// Shrinks the weights of `sites` as `plan` says; returns "before -> after"
// shapes of the layers it changed, and counts those whose outputs shrank.
std::string ApplyPlan(const std::vector<LinearSite>& sites, const optimize_internal::CutPlan& plan, int& shrunk) {
  std::string shapes;
  for (const LinearSite& site : sites) {
    auto it = plan.find(site.node);
    if (it == plan.end()) continue;
    const optimize_internal::Cut& cut = it->second;
    at::Tensor w = site.weight;
    std::optional<at::Tensor> b = site.bias;
    if (cut.rows.defined()) {
      w = w.index_select(0, cut.rows);
      if (b) b = b->index_select(0, cut.rows);
      ++shrunk;
    }
    if (cut.cols.defined()) w = w.index_select(1, cut.cols);
    shapes += (shapes.empty() ? "" : ", ") + ShapeText(site.weight) + " -> " + ShapeText(w);
    Node* node = site.node;
    node->replaceInput(1, optimize_internal::InsertConstant(node, w.contiguous()));
    if (b) node->replaceInput(2, optimize_internal::InsertConstant(node, b->contiguous()));
  }
  return shapes;
}

// The sites whose weight constant belongs to them alone: shrinking a shared one would change another layer.
std::vector<LinearSite> OwnWeights(std::vector<LinearSite> sites) {
  sites.erase(std::remove_if(sites.begin(), sites.end(),
                             [](const LinearSite& site) { return site.node->input(1)->uses().size() != 1; }),
              sites.end());
  return sites;
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
  optimize_internal::CutPlan plan;
  const NeuronCounts neurons = PlanLinearPairs(OwnWeights(linears), options.amount, plan);
  const optimize_internal::ChannelCounts channels =
      optimize_internal::PlanChannelGroups(OwnWeights(convolutions), OwnWeights(linears), options.amount, plan);
  int dense_changed = 0, conv_changed = 0;
  const std::string dense_shapes = ApplyPlan(linears, plan, dense_changed);
  const std::string conv_shapes = ApplyPlan(convolutions, plan, conv_changed);
  report.layers_changed = dense_changed + conv_changed;
  if (report.layers_changed == 0) {
    report.summary = options.amount == 0.0 ? "amount is 0: nothing removed"
                                           : "nothing to prune: no Linear layer feeds another Linear (nor a "
                                             "convolution another layer) through elementwise activations only";
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto pruned, optimize_internal::BuildModel(std::move(copy), *model, "prune"));
  std::vector<std::string> parts;
  if (!dense_shapes.empty()) report.details.emplace_back("weights (out x in)", dense_shapes);
  if (dense_changed > 0) {
    report.details.emplace_back("neurons", std::to_string(neurons.before) + " -> " + std::to_string(neurons.after));
    parts.push_back("removed " + std::to_string(neurons.before - neurons.after) + " of " +
                    std::to_string(neurons.before) + " neurons in " + std::to_string(dense_changed) + " of " +
                    std::to_string(linears.size()) + " Linear layers (layers feeding outputs keep their shape)");
  }
  if (conv_changed > 0) {
    report.details.emplace_back("convolutions (out x in x kernel)", conv_shapes);
    report.details.emplace_back("channels", std::to_string(channels.before) + " -> " + std::to_string(channels.after));
    parts.push_back("removed " + std::to_string(channels.before - channels.after) + " of " +
                    std::to_string(channels.before) + " channels in " + std::to_string(conv_changed) + " of " +
                    std::to_string(convolutions.size()) +
                    " convolutions (channels joined by a residual add are pruned together)");
  }
  report.summary = parts[0] + (parts.size() > 1 ? "; " + parts[1] : "");
  return OptimizedModel{pruned, report};
}

}  // namespace mlship
