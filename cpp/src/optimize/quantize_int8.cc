// int8: aten::linear -> mlship::linear_int8 with per-channel int8 weights, and
// the measured choice between torch's dynamic kernel and mlship's weight-only one.
#include <cmath>
#include <sstream>

#include "graph_rewrite.h"
#include "latency.h"
#include "mlship/engine/int8_conv.h"
#include "mlship/engine/int8_linear.h"
#include "mlship/engine/torchscript_model.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {
namespace {

// Batch sizes at which the two kernels are compared.
constexpr int64_t kProbeBatches[] = {1, 2, 4, 8, 16, 32};

constexpr const char* kTorchKernel = "dynamic (torch quantized::linear_dynamic)";
constexpr const char* kMlshipKernel = "weight-only (mlship)";

// torch's quantized engines int8 convolutions are measured with.
constexpr const char* kConvEngines[] = {"fbgemm", "onednn"};

// Int8 convolutions: calibration data and the quantized engine to pack for.
struct ConvPlan {
  const CalibrationData* calibration = nullptr;
  std::string engine;
};

// `relu(linear_int8(x))` -> `linear_relu_int8(x)` where the ReLU is the
// product's only reader (an in-place relu_ too: nothing else sees the value
// it overwrites), so the ReLU is applied as the product is written instead of
// in another pass over it.
void FuseReluIntoInt8Linears(torch::jit::Graph& graph) {
  static const auto kLinearInt8 = c10::Symbol::fromQualString("mlship::linear_int8");
  static const auto kRelu = c10::Symbol::fromQualString("aten::relu");
  static const auto kReluInPlace = c10::Symbol::fromQualString("aten::relu_");
  std::vector<torch::jit::Node*> relus;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (node->kind() != kRelu && node->kind() != kReluInPlace) continue;
    torch::jit::Value* in = node->input(0);
    if (in->node()->kind() == kLinearInt8 && in->uses().size() == 1) relus.push_back(node);
  }
  for (torch::jit::Node* relu : relus) {
    torch::jit::Node* linear = relu->input(0)->node();
    torch::jit::Value* fused = InsertCall(relu, "mlship::linear_relu_int8", {linear->input(0), linear->input(1)});
    fused->setType(relu->output()->type());
    relu->output()->replaceAllUsesWith(fused);
    relu->destroy();
    linear->destroy();
  }
}

// With a `convs` plan, the convolutions go to static int8 first (see
// ConvolutionsToStaticInt8) and `rewritten` says what changed.
StatusOr<std::shared_ptr<Model>> BuildInt8(const Model& model, int64_t dynamic_from_rows,
                                           const ConvPlan* convs = nullptr, StaticInt8Summary* rewritten = nullptr) {
  ASSIGN_OR_RETURN(FrozenCopy copy, FreezeCopy(model, "int8 quantization", FusedPaths::kUnfuse));
  if (convs != nullptr) {
    ASSIGN_OR_RETURN(*rewritten, ConvolutionsToStaticInt8(copy, *convs->calibration, convs->engine));
  }
  for (const LinearSite& site : FindLinears(*copy.graph)) {
    auto weight = Int8LinearWeight::Quantize(site.weight, site.bias, dynamic_from_rows);
    torch::jit::Value* packed = InsertConstant(site.node, c10::IValue(weight));
    ReplaceWithCall(site.node, "mlship::linear_int8", {site.node->input(0), packed});
  }
  FuseReluIntoInt8Linears(*copy.graph);
  for (const EmbeddingSite& site : FindEmbeddings(*copy.graph)) QuantizeEmbeddingInt8(site);
  for (const RnnSite& site : FindRecurrentLayers(*copy.graph, /*include_packed=*/true)) {
    if (auto layout = Int8RecurrentLayout(site); layout.ok()) RecurrentToInt8(site, *layout, dynamic_from_rows);
  }
  std::vector<EmbeddingSite> bags;
  for (torch::jit::Node* node : AllNodes(*copy.graph)) {
    if (auto bag = FindEmbeddingBag(node); bag.ok()) bags.push_back(*bag);
  }
  for (const EmbeddingSite& bag : bags) QuantizeEmbeddingBagInt8(bag);
  return BuildModel(std::move(copy), model, "int8");
}

std::string KernelDescription(int64_t dynamic_from_rows) {
  if (dynamic_from_rows == Int8LinearWeight::kNeverDynamic) return kMlshipKernel;
  if (dynamic_from_rows <= 1) return kTorchKernel;
  return std::string(kMlshipKernel) + " below batch " + std::to_string(dynamic_from_rows) + ", " + kTorchKernel +
         " from " + std::to_string(dynamic_from_rows);
}

// The smallest probed batch from which the dynamic kernel wins at every
// larger probed batch too; kNeverDynamic when it never does.
int64_t Crossover(const std::vector<int64_t>& batches, const std::vector<double>& weight_only,
                  const std::vector<double>& dynamic) {
  int64_t threshold = Int8LinearWeight::kNeverDynamic;
  for (std::size_t i = batches.size(); i-- > 0;) {
    if (!(dynamic[i] < weight_only[i])) break;
    threshold = batches[i];
  }
  return threshold;
}

// Nodes of `kind` in the graph.
int CountNamed(torch::jit::Graph& graph, const char* kind) {
  int count = 0;
  for (torch::jit::Node* node : AllNodes(graph)) count += node->kind() == c10::Symbol::fromQualString(kind);
  return count;
}

// Appends "<op>: <why>" to a report's "; "-separated list of layers left in fp32.
void AddRefusal(std::string& list, const torch::jit::Node* node, const Status& why) {
  list += (list.empty() ? "" : "; ") + std::string(node->kind().toQualString()) + ": " + why.message();
}

// The model with int8 convolutions packed for the fastest of torch's
// quantized engines at batch 1, or null when fp32 convolutions measured
// faster (unless forced) or the rewrite cannot take the model; the report
// says which and why. Errors: bad calibration data.
StatusOr<std::shared_ptr<Model>> Int8Convolutions(const Model& model, int64_t threshold,
                                                  const std::shared_ptr<Model>& fp32_convs,
                                                  const QuantizeOptions& options, PassReport& report,
                                                  StaticInt8Summary& convs) {
  std::vector<std::string> engines;
  std::vector<std::shared_ptr<Model>> built;
  std::vector<StaticInt8Summary> summaries;
  for (const char* engine : kConvEngines) {
    if (!Int8ConvWeight::EngineSupported(engine)) continue;
    StaticInt8Summary summary;
    ConvPlan plan{&options.calibration, engine};
    auto model_or = BuildInt8(model, threshold, &plan, &summary);
    if (!model_or.ok()) {
      if (model_or.status().code() == StatusCode::kInvalidArgument) return model_or.status();
      report.details.emplace_back("convolutions left in fp32", model_or.status().message());
      return std::shared_ptr<Model>();
    }
    engines.push_back(engine);
    built.push_back(*model_or);
    summaries.push_back(summary);
  }
  if (built.empty()) {
    report.details.emplace_back("convolutions left in fp32", "this LibTorch has no fbgemm or oneDNN quantized engine");
    return std::shared_ptr<Model>();
  }
  std::vector<const Model*> timed{fp32_convs.get()};
  for (const auto& m : built) timed.push_back(m.get());
  auto best = BestLatencyMicros(timed, 1, options.timing_runs);
  const std::size_t fastest = std::min_element(best.begin() + 1, best.end()) - best.begin();
  const bool kept = options.force_int8_convolutions || best[fastest] < best[0];
  std::string names = "fp32", times = std::to_string(std::lround(best[0]));
  for (std::size_t i = 0; i < engines.size(); ++i) {
    names += " / " + engines[i];
    times += " / " + std::to_string(std::lround(best[i + 1]));
  }
  report.details.emplace_back("int8 convolutions, best us at batch 1 (" + names + ")",
                              times + (kept ? ": " + engines[fastest - 1] + " kept" : ": fp32 kept"));
  if (!kept) {
    report.details.emplace_back("convolutions left in fp32", "int8 convolutions measured slower at batch 1 here");
    return std::shared_ptr<Model>();
  }
  convs = summaries[fastest - 1];
  return built[fastest - 1];
}

}  // namespace

StatusOr<OptimizedModel> QuantizeInt8(const std::shared_ptr<Model>& model, const QuantizeOptions& options) {
  ASSIGN_OR_RETURN(FrozenCopy probe, FreezeCopy(*model, "int8 quantization", FusedPaths::kUnfuse));
  const std::vector<LinearSite> linear_sites = FindLinears(*probe.graph);
  const int linears = static_cast<int>(linear_sites.size());
  std::vector<at::Tensor> tables;
  for (const EmbeddingSite& site : FindEmbeddings(*probe.graph)) tables.push_back(site.weight);
  const int embeddings = static_cast<int>(tables.size());
  int recurrent = 0;
  std::string recurrent_refused;
  for (const RnnSite& site : FindRecurrentLayers(*probe.graph, /*include_packed=*/true)) {
    auto layout = Int8RecurrentLayout(site);
    if (layout.ok()) {
      ++recurrent;
    } else {
      AddRefusal(recurrent_refused, site.node, layout.status());
    }
  }
  std::vector<at::Tensor> bag_tables;
  std::string bags_refused;
  for (torch::jit::Node* node : AllNodes(*probe.graph)) {
    auto bag = FindEmbeddingBag(node);
    if (bag.ok()) {
      bag_tables.push_back(bag->weight);
    } else if (bag.status().code() == StatusCode::kFailedPrecondition) {
      AddRefusal(bags_refused, node, bag.status());
    }
  }
  const int bags = static_cast<int>(bag_tables.size());
  int layers = linears + embeddings + recurrent + bags;
  const int convolutions = static_cast<int>(FindConvolutions(*probe.graph).size());
  PassReport report{"int8", layers, 0, "", {}};
  if (!recurrent_refused.empty()) report.details.emplace_back("recurrent layers left in fp32", recurrent_refused);
  if (!bags_refused.empty()) report.details.emplace_back("embedding bags left in fp32", bags_refused);
  if (convolutions > 0 && options.calibration.empty()) {
    report.details.emplace_back("convolutions left in fp32",
                                "int8 convolutions need calibration data (calibration=) for their activation ranges");
  }
  if (layers == 0 && (convolutions == 0 || options.calibration.empty())) {
    if (std::string untouched = DescribeUntouched(*probe.graph, {"aten::lstm", "aten::gru", "aten::embedding_bag"});
        !untouched.empty()) {
      report.details.emplace_back("left in fp32 (not supported by this pass)", untouched);
    }
    report.summary = NothingToDo("quantize");
    return OptimizedModel{model, report};
  }
  if (std::string unfused = DescribeUnfused(probe); !unfused.empty()) {
    report.details.emplace_back("fused attention replaced by its unfused code", unfused);
  }
  const bool torch_kernel = TorchHasDynamicInt8Kernel();
  report.details.emplace_back("torch dynamic int8 kernel",
                              torch_kernel ? "quantized::linear_dynamic" : "not in this LibTorch");
  int64_t threshold = Int8LinearWeight::kNeverDynamic;
  std::shared_ptr<Model> chosen;
  if (options.int8_mode == Int8Mode::kDynamic) {
    threshold = torch_kernel ? 1 : Int8LinearWeight::kNeverDynamic;
    if (!torch_kernel) report.details.emplace_back("note", "dynamic asked for, but only the weight-only kernel exists here");
  } else if (options.int8_mode == Int8Mode::kAuto && torch_kernel) {
    ASSIGN_OR_RETURN(auto weight_only, BuildInt8(*model, Int8LinearWeight::kNeverDynamic));
    ASSIGN_OR_RETURN(auto dynamic, BuildInt8(*model, 1));
    std::vector<int64_t> batches;
    std::vector<double> t_weight_only, t_dynamic;
    std::ostringstream timings;
    for (int64_t batch : kProbeBatches) {
      if (!model->signature().batchable() && batch > 1) break;
      batches.push_back(batch);
      auto best = BestLatencyMicros({weight_only.get(), dynamic.get()}, batch, options.timing_runs);
      t_weight_only.push_back(best[0]);
      t_dynamic.push_back(best[1]);
      timings << (batch == 1 ? "" : "; ") << "batch " << batch << ": " << std::lround(t_weight_only.back()) << " / "
              << std::lround(t_dynamic.back());
    }
    report.details.emplace_back("best us (weight-only / dynamic)", timings.str());
    threshold = Crossover(batches, t_weight_only, t_dynamic);
    if (threshold == Int8LinearWeight::kNeverDynamic) chosen = weight_only;
    if (threshold == 1) chosen = dynamic;
  }
  if (chosen == nullptr) {
    ASSIGN_OR_RETURN(chosen, BuildInt8(*model, threshold));
  }
  StaticInt8Summary convs;
  if (convolutions > 0 && !options.calibration.empty()) {
    ASSIGN_OR_RETURN(auto with_convs, Int8Convolutions(*model, threshold, chosen, options, report, convs));
    if (with_convs != nullptr) chosen = with_convs;
  }
  if (convs.convolutions > 0) {
    report.details.emplace_back(
        "convolutions", std::to_string(convs.convolutions) + " of " + std::to_string(convolutions) +
                            " convolution(s), " + std::to_string(convs.adds) + " residual add(s) and " +
                            std::to_string(convs.pools) +
                            " max pool(s) on uint8 activations (batch norms folded; weights int8 per output channel; "
                            "ranges from " + std::to_string(convs.calibration_rows) +
                            " calibration row(s); torch's " + convs.engine + " kernels)");
  }
  if (convs.convolutions > 0) report.details.emplace_back("convolutions to int8", convs.names);
  if (!convs.left.empty()) report.details.emplace_back("convolutions left in fp32", convs.left);
  if (convs.convolutions > 0 && convolutions > CountNamed(*probe.graph, "aten::conv2d")) {
    report.details.emplace_back("1-D and 3-D convolutions", "left in fp32: int8 convolutions are 2-D only");
  }
  layers += convs.convolutions;
  if (std::string untouched = DescribeUntouched(
          *probe.graph, convs.convolutions > 0
                            ? std::vector<std::string>{"aten::lstm", "aten::gru", "aten::embedding_bag", "aten::conv2d"}
                            : std::vector<std::string>{"aten::lstm", "aten::gru", "aten::embedding_bag"});
      !untouched.empty()) {
    report.details.emplace_back("left in fp32 (not supported by this pass)", untouched);
  }
  report.layers_changed = layers;
  report.details.emplace_back("kernel", KernelDescription(threshold));
  if (const auto* script = dynamic_cast<const TorchScriptModel*>(chosen.get()); script != nullptr) {
    auto graph = script->module().get_method("forward").graph();
    if (const int fused = CountNamed(*graph, "mlship::linear_relu_int8"); fused > 0) {
      report.details.emplace_back("ReLUs fused into the int8 Linear before them", std::to_string(fused));
    }
  }
  report.details.emplace_back("weights", "int8, one symmetric scale per output channel");
  if (linears > 0) report.details.emplace_back("Linear layers to int8 (out x in)", DescribeLinears(*model, linear_sites));
  if (embeddings > 0) {
    report.details.emplace_back("embeddings", std::to_string(embeddings) + " table(s) to int8, one symmetric scale per row");
    report.details.emplace_back("embedding tables to int8 (rows x dim)", DescribeWeights(*model, tables));
  }
  report.summary = std::to_string(linears) + " Linear layer(s) to int8; kernel: " + KernelDescription(threshold);
  if (convs.convolutions > 0) {
    report.summary += "; " + std::to_string(convs.convolutions) + " convolution(s) to static int8";
  }
  if (embeddings > 0) report.summary += "; " + std::to_string(embeddings) + " embedding table(s) to int8 (row-wise scales)";
  if (bags > 0) {
    report.details.emplace_back("embedding bags", std::to_string(bags) + " table(s) to int8, one symmetric scale per row");
    report.details.emplace_back("embedding bags to int8 (rows x dim)", DescribeWeights(*model, bag_tables));
    report.summary += "; " + std::to_string(bags) + " embedding bag(s) to int8 (row-wise scales)";
  }
  if (recurrent > 0) {
    report.details.emplace_back("recurrent layers",
                                std::to_string(recurrent) +
                                    " LSTM/GRU layer(s): W_ih and W_hh (and an LSTM's projection W_hr) to int8 "
                                    "(one scale per output row), run by mlship's recurrent kernel");
    report.summary += "; " + std::to_string(recurrent) + " LSTM/GRU layer(s) to int8";
  }
  return OptimizedModel{chosen, report};
}

}  // namespace mlship::optimize_internal
