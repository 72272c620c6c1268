// Frozen copies of TorchScript graphs, Linear discovery and rebuilding.
#include "graph_rewrite.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/graph_rewrite_helper.h>

#include <algorithm>

#include "mlship/engine/error_text.h"
#include "mlship/engine/mlship_ops.h"
#include "mlship/engine/torchscript_model.h"
#include "unfuse.h"

namespace mlship::optimize_internal {

StatusOr<FrozenCopy> FreezeCopy(const Model& model, std::string_view technique, FusedPaths fused_paths) {
  const auto* script = dynamic_cast<const TorchScriptModel*>(&model);
  if (script == nullptr) {
    return Status::FailedPrecondition(
        std::string(technique) + " needs a TorchScript model; this is a " + std::string(ModelFormatName(model.format())) +
        " package, compiled ahead of time, whose weights cannot be rewritten. Optimize the torch.nn.Module "
        "(mlship.load(module, ...)) before exporting it to .pt2");
  }
  EnsureMlshipOpsRegistered();
  try {
    // freeze_module works on a clone: the source model is never touched.
    FrozenCopy copy;
    copy.module = torch::jit::freeze_module(script->module());
    copy.graph = copy.module.get_method("forward").graph();
    // A traced model's convolutions are aten::_convolution; as aten::conv1d/2d/3d
    // (what scripting gives) every pass finds them.
    torch::jit::graph_rewrite_helper::replaceConvolutionWithAtenConv(copy.graph);
    if (fused_paths == FusedPaths::kUnfuse) copy.unfused = UnfuseFastPaths(copy).unfused;
    return copy;
  } catch (const std::exception& e) {
    return Status::InvalidArgument("cannot " + std::string(technique) + " this model: freezing its graph failed: " +
                                   ErrorSummary(e));
  }
}

void ForEachNode(torch::jit::Block* block, const std::function<void(torch::jit::Node*)>& visit) {
  for (torch::jit::Node* node : block->nodes()) {
    visit(node);
    for (torch::jit::Block* inner : node->blocks()) ForEachNode(inner, visit);
  }
}

std::vector<torch::jit::Node*> AllNodes(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> nodes;
  ForEachNode(graph.block(), [&](torch::jit::Node* node) { nodes.push_back(node); });
  return nodes;
}

std::string DescribeLinears(const Model& model, const std::vector<LinearSite>& sites) {
  std::vector<at::Tensor> weights;
  weights.reserve(sites.size());
  for (const LinearSite& site : sites) weights.push_back(site.weight);
  return DescribeWeights(model, weights);
}

std::string ShapeText(const at::Tensor& weight) {
  std::string text;
  for (int64_t i = 0; i < weight.dim(); ++i) text += (i ? "x" : "") + std::to_string(weight.size(i));
  return text;
}

std::string DescribeWeights(const Model& model, const std::vector<at::Tensor>& weights) {
  std::vector<std::pair<std::string, at::Tensor>> parameters;
  if (const auto* script = dynamic_cast<const TorchScriptModel*>(&model); script != nullptr) {
    for (const auto& p : script->module().named_parameters(/*recurse=*/true)) parameters.emplace_back(p.name, p.value);
  }
  // Freezing pools equal constants (e.g. the layers nn.TransformerEncoder
  // deep-copies, before training), so several parameters can match one
  // weight: the first not named yet, in parameter order, is taken.
  std::vector<bool> used(parameters.size(), false);
  auto name_of = [&](const at::Tensor& weight) -> std::string {
    std::optional<std::size_t> first;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const at::Tensor& t = parameters[i].second;
      if (t.sizes() != weight.sizes() || t.scalar_type() != weight.scalar_type()) continue;
      if (t.data_ptr() != weight.data_ptr() && !at::equal(t, weight)) continue;
      if (!used[i]) {
        used[i] = true;
        return parameters[i].first;
      }
      if (!first) first = i;
    }
    return first ? parameters[*first].first : "";
  };
  std::string text;
  for (const at::Tensor& weight : weights) {
    std::string name = name_of(weight);
    constexpr std::string_view kWeight = ".weight";
    if (name.size() > kWeight.size() && name.compare(name.size() - kWeight.size(), kWeight.size(), kWeight) == 0) {
      name.resize(name.size() - kWeight.size());
    }
    text += (text.empty() ? "" : ", ") + (name.empty() ? "" : name + " ") + ShapeText(weight);
  }
  return text;
}

std::string ModulePath(const torch::jit::Node* node) {
  const std::optional<torch::jit::InlinedCallStackPtr> stack = node->callstack();
  if (!stack) return "";
  std::string path;
  // Outermost call first; a method called on the same module ("SELF") or on
  // a module the inliner could not name adds nothing.
  for (const torch::jit::InlinedCallStackEntry& entry : (*stack)->vec()) {
    const std::optional<torch::jit::ModuleInstanceInfo>& module = std::get<2>(entry);
    if (!module) continue;
    const std::string name = module->instance_name();
    if (name.empty() || name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

std::string DescribeUnfused(const FrozenCopy& copy) {
  std::string text;
  for (const auto& [op, count] : copy.unfused) {
    text += (text.empty() ? "" : ", ") + std::to_string(count) + " " + op;
  }
  return text;
}

std::optional<LinearSite> ConstantWeightAndBias(torch::jit::Node* node) {
  auto weight = torch::jit::toIValue(node->input(1));
  auto bias = torch::jit::toIValue(node->input(2));
  if (!weight || !weight->isTensor() || !bias || !(bias->isNone() || bias->isTensor())) return std::nullopt;
  if (weight->toTensor().scalar_type() != at::kFloat) return std::nullopt;
  LinearSite site{node, weight->toTensor(), std::nullopt};
  if (bias->isTensor()) {
    if (bias->toTensor().scalar_type() != at::kFloat) return std::nullopt;
    site.bias = bias->toTensor();
  }
  return site;
}

std::vector<LinearSite> FindLinears(torch::jit::Graph& graph) {
  static const auto kLinear = c10::Symbol::fromQualString("aten::linear");
  std::vector<LinearSite> sites;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (node->kind() != kLinear || node->inputs().size() != 3) continue;
    auto site = ConstantWeightAndBias(node);
    if (site && site->weight.dim() == 2) sites.push_back(*site);
  }
  return sites;
}

// Insert points are scoped to each call: a guard left open across
// node->destroy() would restore an insert point that no longer exists.
torch::jit::Value* InsertConstant(torch::jit::Node* node, const c10::IValue& value) {
  torch::jit::WithInsertPoint guard(node);
  return node->owningGraph()->insertConstant(value);
}

torch::jit::Value* InsertCall(torch::jit::Node* node, std::string_view op, const std::vector<torch::jit::Value*>& args) {
  torch::jit::WithInsertPoint guard(node);
  std::vector<torch::jit::NamedValue> named(args.begin(), args.end());
  return node->owningGraph()->insert(c10::Symbol::fromQualString(std::string(op)), named);
}

torch::jit::Value* TensorList(torch::jit::Node* before, const std::vector<torch::jit::Value*>& items) {
  torch::jit::Graph& graph = *before->owningGraph();
  torch::jit::Node* list = graph.createList(c10::TensorType::get(), items);
  list->insertBefore(before);
  return list->output();
}

torch::jit::Value* ReplaceWithCall(torch::jit::Node* node, std::string_view op,
                                   const std::vector<torch::jit::Value*>& args) {
  torch::jit::Value* out = InsertCall(node, op, args);
  out->setType(node->output()->type());
  node->output()->replaceAllUsesWith(out);
  node->destroy();
  return out;
}

void FoldIntoConvolutions(std::shared_ptr<torch::jit::Graph>& graph) {
  torch::jit::OptimizeFrozenGraph(graph, /*optimize_numerics=*/true);
}

StatusOr<std::shared_ptr<Model>> BuildModel(FrozenCopy copy, const Model& original, std::string_view technique) {
  try {
    torch::jit::EliminateDeadCode(copy.graph);
    torch::jit::ConstantPooling(copy.graph);
    copy.graph->lint();
  } catch (const std::exception& e) {
    return Status::Internal(std::string(technique) + " produced an invalid graph: " + ErrorSummary(e));
  }
  LoadOptions options;
  options.signature = original.signature();
  options.intra_op_threads = original.intra_op_threads();
  options.warmup_runs = 1;
  std::string source = std::string(technique) + " of " + original.source();
  auto model = TorchScriptModel::Create(std::move(copy.module), source, std::nullopt, options);
  if (!model.ok()) {
    return Status::Internal(std::string(technique) + " produced a model that does not run: " +
                            model.status().message());
  }
  return std::shared_ptr<Model>(std::move(model).value());
}

namespace {

// Where a layer's weights come in: LSTM/GRU take (input, hx, params, ...),
// embedding bags (weight, indices, ...), the others (input, weight, ...).
std::size_t WeightInput(const torch::jit::Node* node) {
  static const auto kLstm = c10::Symbol::fromQualString("aten::lstm");
  static const auto kGru = c10::Symbol::fromQualString("aten::gru");
  static const auto kBag = c10::Symbol::fromQualString("aten::embedding_bag");
  if (node->kind() == kBag) return 0;
  if (node->kind() != kLstm && node->kind() != kGru) return 1;
  // params: after (input, hx), or after (data, batch_sizes, hx) for a packed sequence.
  const c10::FunctionSchema* schema = node->maybeSchema();
  return schema != nullptr && schema->overload_name() == "data" ? 3 : 2;
}

}  // namespace

bool IsConstant(torch::jit::Value* value) {
  if (torch::jit::toIValue(value)) return true;
  if (value->node()->kind() != c10::prim::ListConstruct) return false;
  for (torch::jit::Value* item : value->node()->inputs()) {
    if (!torch::jit::toIValue(item)) return false;
  }
  return true;
}

std::optional<std::vector<int64_t>> ConstantInts(torch::jit::Value* value) {
  if (auto constant = torch::jit::toIValue(value)) {
    if (constant->isIntList()) return constant->toIntVector();
    return std::nullopt;
  }
  if (value->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> ints;
  for (torch::jit::Value* item : value->node()->inputs()) {
    auto constant = torch::jit::toIValue(item);
    if (!constant || !constant->isInt()) return std::nullopt;
    ints.push_back(constant->toInt());
  }
  return ints;
}

std::string DescribeUntouched(torch::jit::Graph& graph, const std::vector<std::string>& handled) {
  static const char* kKinds[] = {"aten::conv1d",      "aten::conv2d", "aten::conv3d",   "aten::_convolution",
                                 "aten::conv_transpose2d", "aten::lstm", "aten::gru", "aten::rnn_tanh",
                                 "aten::rnn_relu",    "aten::embedding_bag", "aten::_transformer_encoder_layer_fwd",
                                 "aten::_native_multi_head_attention"};
  static const auto kLinear = c10::Symbol::fromQualString("aten::linear");
  std::vector<std::pair<std::string, int>> counts;
  auto add = [&](const std::string& what) {
    for (auto& [name, count] : counts) {
      if (name == what) return void(++count);
    }
    counts.emplace_back(what, 1);
  };
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (node->kind() == kLinear && node->inputs().size() == 3 && !torch::jit::toIValue(node->input(1))) {
      add("aten::linear with a weight computed at run time");
      continue;
    }
    for (const char* kind : kKinds) {
      if (node->kind() != c10::Symbol::fromQualString(kind)) continue;
      const bool rewritable = std::find(handled.begin(), handled.end(), kind) != handled.end();
      if (!rewritable) {
        add(kind);
      } else if (const std::size_t weight = WeightInput(node); node->inputs().size() > weight &&
                                                              !IsConstant(node->input(weight))) {
        add(std::string(kind) + " with a weight computed at run time");
      }
    }
  }
  std::string text;
  for (const auto& [name, count] : counts) text += (text.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  return text;
}

std::string NothingToDo(std::string_view verb) {
  return "nothing to " + std::string(verb) + ": the model has no Linear layers with constant weights";
}

}  // namespace mlship::optimize_internal
