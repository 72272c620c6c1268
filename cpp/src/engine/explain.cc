// Explain(): method names, what a model supports, option and input checks,
// targets and baselines; the methods themselves live in explain_*.cc.
#include "mlship/engine/explain.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <functional>

#include "explain_internal.h"
#include "mlship/engine/error_text.h"
#include "mlship/engine/torchscript_model.h"
#include "mlship/engine/validate.h"

namespace mlship {
namespace {

struct MethodName {
  ExplainMethod method;
  std::string_view name;
};
constexpr MethodName kMethodNames[] = {
    {ExplainMethod::kSaliency, "saliency"},
    {ExplainMethod::kInputXGradient, "input_x_gradient"},
    {ExplainMethod::kIntegratedGradients, "integrated_gradients"},
    {ExplainMethod::kOcclusion, "occlusion"},
    {ExplainMethod::kKernelShap, "kernel_shap"},
};

std::string AllMethodNames() {
  std::string names;
  for (const auto& m : kMethodNames) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}

// An op without a derivative: mlship's int8 kernels and torch's quantized ops.
// Walks sub-blocks too (if/loop bodies).
bool HasOpWithoutGradient(const torch::jit::Block* block, std::string* op) {
  for (const torch::jit::Node* node : block->nodes()) {
    std::string kind = node->kind().toQualString();
    if (kind.rfind("mlship::linear_int8", 0) == 0 || kind.rfind("quantized::", 0) == 0) {
      *op = kind;
      return true;
    }
    for (const torch::jit::Block* sub : node->blocks()) {
      if (HasOpWithoutGradient(sub, op)) return true;
    }
  }
  return false;
}

// Why `model` cannot take gradients, or empty when it can.
std::string NoGradientsReason(const Model& model) {
  const auto* script = dynamic_cast<const TorchScriptModel*>(&model);
  if (script == nullptr) {
    return "an AOTInductor (.pt2) package is compiled code that runs without autograd";
  }
  try {
    auto graph = script->module().get_method("forward").graph()->copy();
    torch::jit::Inline(*graph);
    std::string op;
    if (HasOpWithoutGradient(graph->block(), &op)) {
      return "the model calls " + op + " (int8-quantized), which has no gradient";
    }
  } catch (const std::exception& e) {
    return std::string("its forward graph cannot be inspected: ") + ErrorSummary(e);
  }
  return {};
}

Status CheckRange(std::string_view name, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return Status::InvalidArgument(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]; was " + std::to_string(value));
  }
  return Status::Ok();
}

Status CheckOptions(const Model& model, const ExplainOptions& options) {
  RETURN_IF_ERROR(CheckRange("steps", options.steps, 1, kMaxExplainSteps));
  RETURN_IF_ERROR(CheckRange("samples", options.samples, 0, kMaxExplainSamples));
  RETURN_IF_ERROR(CheckRange("window", options.window, 1, 1 << 20));
  RETURN_IF_ERROR(CheckRange("max_batch_rows", options.max_batch_rows, 1, 1 << 30));
  const int outputs = static_cast<int>(model.signature().outputs.size());
  if (options.output_index < 0 || options.output_index >= outputs) {
    return Status::InvalidArgument("output index " + std::to_string(options.output_index) +
                                   " is out of range: the model has " + std::to_string(outputs) + " output(s)");
  }
  if (!options.baselines.empty() && options.baselines.size() != model.signature().inputs.size()) {
    return Status::InvalidArgument("expected one baseline per input (" +
                                   std::to_string(model.signature().inputs.size()) + "); got " +
                                   std::to_string(options.baselines.size()));
  }
  return Status::Ok();
}

std::string ShapeOf(const at::Tensor& t) { return ShapeToString(t.sizes().vec()); }

// The baseline of input `i`, broadcast as the method wants it (see
// ExplainContext::baselines), or InvalidArgument naming what was expected.
StatusOr<at::Tensor> PrepareBaseline(const ExplainOptions& options, const std::string& name, const at::Tensor& input,
                                     std::size_t i) {
  auto row_shape = input.sizes().slice(1).vec();
  std::vector<int64_t> one_row = {1};
  one_row.insert(one_row.end(), row_shape.begin(), row_shape.end());
  if (options.baselines.empty() || !options.baselines[i].defined()) {
    return at::zeros(one_row, input.options()).expand(options.method == ExplainMethod::kKernelShap
                                                          ? at::IntArrayRef(one_row)
                                                          : input.sizes()).contiguous();
  }
  at::Tensor b = options.baselines[i];
  if (b.dim() == input.dim() - 1 && b.sizes().vec() == row_shape) b = b.unsqueeze(0);
  const bool rows_fit = b.dim() == input.dim() && b.sizes().slice(1).vec() == row_shape && b.size(0) >= 1;
  const bool kernel_shap = options.method == ExplainMethod::kKernelShap;
  if (!rows_fit || (!kernel_shap && b.size(0) != 1 && b.size(0) != input.size(0))) {
    std::string expected = ShapeToString(one_row) + " or " + ShapeOf(input);
    if (kernel_shap) {
      std::vector<int64_t> any_rows = {-1};
      any_rows.insert(any_rows.end(), row_shape.begin(), row_shape.end());
      expected = ShapeToString(any_rows) + " (background rows)";
    }
    return Status::InvalidArgument("baseline for input '" + name + "' has shape " + ShapeOf(b) + "; expected " +
                                   expected);
  }
  b = b.to(input.scalar_type()).contiguous();
  if (!kernel_shap) b = b.expand(input.sizes()).contiguous();
  return b;
}

// The targets: given, or predicted (argmax) for outputs with several columns.
StatusOr<at::Tensor> ChooseTargets(const ExplainOptions& options, const at::Tensor& output, int64_t rows,
                                   const std::string& output_name) {
  at::Tensor flat = explain_internal::FlatOutput(output);
  const int64_t columns = flat.size(1);
  if (options.targets.empty()) {
    if (columns == 1) return at::zeros({rows}, at::kLong);
    return flat.argmax(1).to(at::kLong).contiguous();
  }
  if (options.targets.size() != 1 && static_cast<int64_t>(options.targets.size()) != rows) {
    return Status::InvalidArgument("expected one target, or one per row (" + std::to_string(rows) + "); got " +
                                   std::to_string(options.targets.size()));
  }
  for (int64_t t : options.targets) {
    if (t < 0 || t >= columns) {
      return Status::InvalidArgument("target " + std::to_string(t) + " is out of range: output '" + output_name +
                                     "' has " + std::to_string(columns) + " value(s) per row (targets 0.." +
                                     std::to_string(columns - 1) + ")");
    }
  }
  at::Tensor targets = at::tensor(options.targets, at::kLong);
  if (targets.size(0) == 1) targets = targets.expand({rows}).contiguous();
  return targets;
}

}  // namespace

std::string_view ExplainMethodName(ExplainMethod method) {
  for (const auto& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

StatusOr<ExplainMethod> ParseExplainMethod(std::string_view name) {
  for (const auto& m : kMethodNames) {
    if (m.name == name) return m.method;
  }
  return Status::InvalidArgument("unknown explanation method '" + std::string(name) + "'; expected one of " +
                                 AllMethodNames());
}

const std::vector<ExplainMethod>& AllExplainMethods() {
  static const std::vector<ExplainMethod> all = [] {
    std::vector<ExplainMethod> v;
    for (const auto& m : kMethodNames) v.push_back(m.method);
    return v;
  }();
  return all;
}

bool NeedsGradients(ExplainMethod method) {
  return method == ExplainMethod::kSaliency || method == ExplainMethod::kInputXGradient ||
         method == ExplainMethod::kIntegratedGradients;
}

bool ExplainSupport::Supports(ExplainMethod method) const {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::string ExplainSupport::MethodList() const {
  std::string list;
  for (ExplainMethod m : methods) list += (list.empty() ? "" : ", ") + std::string(ExplainMethodName(m));
  return list;
}

ExplainSupport SupportedExplainMethods(const Model& model) {
  ExplainSupport support;
  support.no_gradients_reason = NoGradientsReason(model);
  for (ExplainMethod m : AllExplainMethods()) {
    if (!NeedsGradients(m) || support.no_gradients_reason.empty()) support.methods.push_back(m);
  }
  return support;
}

Status UnsupportedMethodError(ExplainMethod method, const ExplainSupport& support) {
  return Status::FailedPrecondition("method '" + std::string(ExplainMethodName(method)) +
                                    "' needs gradients, and this model has none: " + support.no_gradients_reason +
                                    "; it supports " + support.MethodList());
}

StatusOr<int64_t> ExplainEvaluations(const Model& model, const std::vector<at::Tensor>& inputs,
                                     const ExplainOptions& options) {
  using namespace explain_internal;
  RETURN_IF_ERROR(CheckOptions(model, options));
  if (inputs.empty() || inputs[0].dim() == 0) return Status::InvalidArgument("expected batched inputs");
  const int64_t rows = inputs[0].size(0);
  switch (options.method) {
    case ExplainMethod::kSaliency:
    case ExplainMethod::kInputXGradient:
    case ExplainMethod::kIntegratedGradients:
      return GradientEvaluations(options, rows);
    case ExplainMethod::kOcclusion:
      return OcclusionEvaluations(model, options, rows);
    case ExplainMethod::kKernelShap: {
      int64_t features = 0;
      for (const auto& t : inputs) features += RowElements(t);
      int64_t background = 1;
      if (!options.baselines.empty() && options.baselines[0].defined() && options.baselines[0].dim() == inputs[0].dim()) {
        background = std::max<int64_t>(1, options.baselines[0].size(0));
      }
      return rows + background + rows * KernelShapSamples(options, features) * background;
    }
  }
  return Status::Internal("unknown method");
}

StatusOr<Explanation> Explain(const Model& model, const std::vector<at::Tensor>& inputs,
                              const ExplainOptions& options) {
  using namespace explain_internal;
  RETURN_IF_ERROR(ValidateInputs(model.signature(), inputs));
  RETURN_IF_ERROR(CheckOptions(model, options));
  const ExplainSupport support = SupportedExplainMethods(model);
  if (!support.Supports(options.method)) return UnsupportedMethodError(options.method, support);
  ASSIGN_OR_RETURN(int64_t evaluations, ExplainEvaluations(model, inputs, options));
  if (options.max_evaluations > 0 && evaluations > options.max_evaluations) {
    return Status::InvalidArgument("this explanation needs " + std::to_string(evaluations) +
                                   " model evaluations (rows run forward); the budget per request is " +
                                   std::to_string(options.max_evaluations) +
                                   ": send fewer rows, or lower steps or samples");
  }
  if (options.method == ExplainMethod::kKernelShap) {
    int64_t features = 0;
    for (const auto& t : inputs) features += RowElements(t);
    if (features > kMaxKernelShapFeatures) {
      return Status::InvalidArgument("kernel_shap explains at most " + std::to_string(kMaxKernelShapFeatures) +
                                     " features per row; the inputs have " + std::to_string(features) +
                                     ": use occlusion with a window for images");
    }
  }

  ExplainContext context;
  context.model = &model;
  context.options = &options;
  try {
    for (const auto& t : inputs) context.inputs.push_back(t.detach().clone().contiguous());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("cannot copy the inputs: ") + ErrorSummary(e));
  }
  context.rows = context.inputs[0].size(0);
  const auto& sig = model.signature();
  for (std::size_t i = 0; i < context.inputs.size(); ++i) {
    ASSIGN_OR_RETURN(auto b, PrepareBaseline(options, sig.inputs[i].name, context.inputs[i], i));
    context.baselines.push_back(std::move(b));
  }

  Explanation out;
  ASSIGN_OR_RETURN(out.outputs, RunSliced(context, context.inputs));
  ASSIGN_OR_RETURN(context.targets, ChooseTargets(options, out.outputs[options.output_index], context.rows,
                                                  sig.outputs[options.output_index].name));
  out.targets = context.targets;
  out.evaluations = context.rows;
  switch (options.method) {
    case ExplainMethod::kSaliency:
    case ExplainMethod::kInputXGradient:
    case ExplainMethod::kIntegratedGradients:
      RETURN_IF_ERROR(ExplainWithGradients(context, &out));
      break;
    case ExplainMethod::kOcclusion:
      RETURN_IF_ERROR(ExplainByOcclusion(context, &out));
      break;
    case ExplainMethod::kKernelShap:
      RETURN_IF_ERROR(ExplainByKernelShap(context, &out));
      break;
  }
  return out;
}

namespace explain_internal {

int64_t RowElements(const at::Tensor& input) {
  int64_t n = 1;
  for (int64_t d = 1; d < input.dim(); ++d) n *= input.size(d);
  return n;
}

at::Tensor FlatOutput(const at::Tensor& output) {
  if (output.dim() <= 1) return output.reshape({output.dim() == 0 ? 1 : output.size(0), 1});
  return output.reshape({output.size(0), -1});
}

StatusOr<std::vector<at::Tensor>> RunSliced(const ExplainContext& context, const std::vector<at::Tensor>& inputs) {
  const int64_t rows = inputs[0].size(0);
  const int64_t slice = context.options->max_batch_rows;
  if (rows <= slice) return context.model->RunUnchecked(inputs, context.options->intra_op_threads);
  std::vector<std::vector<at::Tensor>> parts;
  for (int64_t start = 0; start < rows; start += slice) {
    std::vector<at::Tensor> piece;
    for (const auto& t : inputs) piece.push_back(t.narrow(0, start, std::min(slice, rows - start)));
    ASSIGN_OR_RETURN(auto outs, context.model->RunUnchecked(piece, context.options->intra_op_threads));
    parts.push_back(std::move(outs));
  }
  std::vector<at::Tensor> joined;
  for (std::size_t o = 0; o < parts[0].size(); ++o) {
    std::vector<at::Tensor> pieces;
    for (const auto& p : parts) pieces.push_back(p[o]);
    joined.push_back(at::cat(pieces, 0));
  }
  return joined;
}

StatusOr<at::Tensor> TargetScores(const ExplainContext& context, const std::vector<at::Tensor>& inputs,
                                  const at::Tensor& targets) {
  ASSIGN_OR_RETURN(auto outputs, RunSliced(context, inputs));
  at::Tensor flat = FlatOutput(outputs[context.options->output_index]).to(at::kDouble);
  return flat.gather(1, targets.reshape({-1, 1})).reshape({-1}).contiguous();
}

}  // namespace explain_internal
}  // namespace mlship
