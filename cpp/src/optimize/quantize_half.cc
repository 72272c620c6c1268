// fp16 / bf16: aten::linear -> mlship::linear_half, and convolutions to
// half-precision weights (conv_half.cc), computed in half precision or widened
// per call, whichever is faster.
#include <cmath>
#include <sstream>

#include "graph_rewrite.h"
#include "latency.h"
#include "mlship/optimize/cpu_features.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {
namespace {

StatusOr<std::shared_ptr<Model>> BuildHalf(const Model& model, at::ScalarType dtype, bool compute_in_half,
                                           std::string_view name) {
  ASSIGN_OR_RETURN(FrozenCopy copy, FreezeCopy(model, std::string(name) + " quantization", FusedPaths::kUnfuse));
  for (const LinearSite& site : FindLinears(*copy.graph)) {
    torch::jit::Value* weight = InsertConstant(site.node, site.weight.to(dtype).contiguous());
    torch::jit::Value* bias = InsertConstant(site.node, site.bias ? c10::IValue(site.bias->to(dtype)) : c10::IValue());
    torch::jit::Value* flag = InsertConstant(site.node, compute_in_half);
    ReplaceWithCall(site.node, "mlship::linear_half", {site.node->input(0), weight, bias, flag});
  }
  if (!FindConvolutions(*copy.graph).empty()) {
    FoldIntoConvolutions(copy.graph);  // batch norms first, so they do not run between casts
    for (const ConvSite& site : FindConvolutions(*copy.graph)) ConvolutionToHalf(site, dtype, compute_in_half);
  }
  for (const RnnSite& site : FindRecurrentLayers(*copy.graph)) RecurrentToHalf(site, dtype, compute_in_half);
  return BuildModel(std::move(copy), model, name);
}

// The geometric mean of batch-1 and batch-32 latency: neither dominates.
double GeometricMean(double a, double b) { return std::sqrt(a * b); }

}  // namespace

StatusOr<OptimizedModel> QuantizeHalf(const std::shared_ptr<Model>& model, const QuantizeOptions& options) {
  const bool bf16 = options.dtype == QuantDType::kBFloat16;
  const std::string name(QuantDTypeName(options.dtype));
  const at::ScalarType dtype = bf16 ? at::kBFloat16 : at::kHalf;
  ASSIGN_OR_RETURN(FrozenCopy probe, FreezeCopy(*model, name + " quantization", FusedPaths::kUnfuse));
  const std::vector<LinearSite> linear_sites = FindLinears(*probe.graph);
  const int linears = static_cast<int>(linear_sites.size());
  const int convolutions = static_cast<int>(FindConvolutions(*probe.graph).size());
  const int recurrent = static_cast<int>(FindRecurrentLayers(*probe.graph).size());
  const int layers = linears + convolutions + recurrent;
  PassReport report{name, layers, 0, "", {}};
  report.details.emplace_back("cpu", HalfPrecisionSupport());
  if (std::string untouched = DescribeUntouched(*probe.graph, {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::lstm", "aten::gru"});
      !untouched.empty()) {
    report.details.emplace_back("left in fp32 (not supported by this pass)", untouched);
  }
  if (layers == 0) {
    report.summary = NothingToDo("quantize");
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto in_half, BuildHalf(*model, dtype, /*compute_in_half=*/true, name));
  ASSIGN_OR_RETURN(auto upcast, BuildHalf(*model, dtype, /*compute_in_half=*/false, name));
  auto one = BestLatencyMicros({in_half.get(), upcast.get()}, 1, options.timing_runs);
  auto many = BestLatencyMicros({in_half.get(), upcast.get()}, 32, options.timing_runs);
  std::ostringstream timings;
  timings << name << " batch 1: " << std::lround(one[0]) << ", batch 32: " << std::lround(many[0])
          << "; upcast batch 1: " << std::lround(one[1]) << ", batch 32: " << std::lround(many[1]);
  const bool use_half = GeometricMean(one[0], many[0]) <= GeometricMean(one[1], many[1]);
  std::string compute = use_half ? name + " (half-precision arithmetic)" : "fp32 (weights widened per call: upcast)";
  report.layers_changed = layers;
  report.details.emplace_back("compute", compute);
  report.details.emplace_back("best us", timings.str());
  report.details.emplace_back("weights", name);
  if (linears > 0) {
    report.details.emplace_back("Linear layers to " + name + " (out x in)", DescribeLinears(*model, linear_sites));
  }
  report.summary = std::to_string(linears) + " Linear layer(s)" +
                   (convolutions > 0 ? ", " + std::to_string(convolutions) + " convolution(s)" : "") +
                   (recurrent > 0 ? ", " + std::to_string(recurrent) + " LSTM/GRU layer(s)" : "") + " with " +
                   name + " weights; compute: " + compute;
  return OptimizedModel{use_half ? in_half : upcast, report};
}

}  // namespace mlship::optimize_internal
