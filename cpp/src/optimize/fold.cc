// Fold: batch norms (and constant arithmetic) into convolutions, then the
// measured choice of oneDNN's prepacked convolutions.
#include "mlship/optimize/fold.h"

#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>

#include <cmath>
#include <sstream>

#include "graph_rewrite.h"
#include "latency.h"

namespace mlship {
namespace {

using optimize_internal::AllNodes;
using optimize_internal::FrozenCopy;

int Count(torch::jit::Graph& graph, std::initializer_list<const char*> kinds) {
  int count = 0;
  for (torch::jit::Node* node : AllNodes(graph)) {
    for (const char* kind : kinds) count += node->kind() == c10::Symbol::fromQualString(kind);
  }
  return count;
}

constexpr std::initializer_list<const char*> kConvolutions = {"aten::conv1d", "aten::conv2d", "aten::conv3d",
                                                             "aten::_convolution"};
constexpr std::initializer_list<const char*> kBatchNorms = {"aten::batch_norm"};

StatusOr<std::shared_ptr<Model>> BuildFolded(const Model& model, bool prepack) {
  ASSIGN_OR_RETURN(FrozenCopy copy, optimize_internal::FreezeCopy(model, "folding"));
  try {
    optimize_internal::FoldIntoConvolutions(copy.graph);
    if (prepack) torch::jit::ConvertFrozenOpsToMKLDNN(copy.graph);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("cannot fold this model: ") + e.what());
  }
  return optimize_internal::BuildModel(std::move(copy), model, prepack ? "fold+prepack" : "fold");
}

}  // namespace

StatusOr<OptimizedModel> Fold(const std::shared_ptr<Model>& model, const FoldOptions& options) {
  if (model == nullptr) return Status::InvalidArgument("Fold: no model");
  if (options.timing_runs < 1) {
    return Status::InvalidArgument("timing_runs must be at least 1; was " + std::to_string(options.timing_runs));
  }
  ASSIGN_OR_RETURN(FrozenCopy probe, optimize_internal::FreezeCopy(*model, "folding"));
  const int convolutions = Count(*probe.graph, kConvolutions);
  const int batch_norms = Count(*probe.graph, kBatchNorms);
  PassReport report{"fold", convolutions + batch_norms, 0, "", {}};
  if (convolutions == 0 && batch_norms == 0) {
    report.summary = "nothing to fold: the model has no convolution and no batch norm";
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto folded, BuildFolded(*model, /*prepack=*/false));
  ASSIGN_OR_RETURN(FrozenCopy after, optimize_internal::FreezeCopy(*folded, "folding"));
  const int left = Count(*after.graph, kBatchNorms);
  report.layers_changed = batch_norms - left;
  report.details.emplace_back("batch norms folded", std::to_string(batch_norms - left) + " of " +
                                                        std::to_string(batch_norms));
  if (left > 0) {
    report.details.emplace_back("batch norms kept",
                                std::to_string(left) + " (not directly after a convolution or Linear with constant weights)");
  }
  bool prepack = options.prepack == PrepackMode::kAlways && convolutions > 0;
  std::shared_ptr<Model> chosen = folded;
  if (options.prepack == PrepackMode::kAuto && convolutions > 0) {
    ASSIGN_OR_RETURN(auto prepacked, BuildFolded(*model, /*prepack=*/true));
    auto one = optimize_internal::BestLatencyMicros({folded.get(), prepacked.get()}, 1, options.timing_runs);
    auto eight = optimize_internal::BestLatencyMicros({folded.get(), prepacked.get()}, 8, options.timing_runs);
    std::ostringstream timings;
    timings << "batch 1: " << std::lround(one[0]) << " / " << std::lround(one[1]) << "; batch 8: "
            << std::lround(eight[0]) << " / " << std::lround(eight[1]);
    report.details.emplace_back("best us (folded / prepacked)", timings.str());
    prepack = std::sqrt(one[1] * eight[1]) < std::sqrt(one[0] * eight[0]);
    if (prepack) chosen = prepacked;
  } else if (prepack) {
    ASSIGN_OR_RETURN(chosen, BuildFolded(*model, /*prepack=*/true));
  }
  if (prepack) report.layers_changed += convolutions;
  report.details.emplace_back("convolutions", std::to_string(convolutions) +
                                                  (prepack ? " in oneDNN's prepacked layout" : " as they were"));
  report.summary = "folded " + std::to_string(batch_norms - left) + " of " + std::to_string(batch_norms) +
                   " batch norm(s) into the convolution or Linear before them; " + std::to_string(convolutions) + " convolution(s) " +
                   (prepack ? "prepacked for oneDNN" : "kept in torch's default layout (measured faster)");
  if (report.layers_changed == 0) {
    report.summary = "nothing folded: no batch norm follows a convolution or Linear, and prepacking measured slower";
    return OptimizedModel{model, report};
  }
  return OptimizedModel{chosen, report};
}

}  // namespace mlship
