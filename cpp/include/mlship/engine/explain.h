// Explain: attributions of a model's output to each element of its inputs.
//
// Gradient methods (saliency, input × gradient, integrated gradients) run the
// TorchScript module as loaded (not frozen) with autograd on, on the calling
// thread only; the frozen module that serves inference is untouched.
// Model-agnostic methods (occlusion, KernelSHAP) only run the model forward,
// so they work for every format: AOTInductor packages and int8-quantized
// modules, which have no gradients, included.
//
// Thread-safety: Explain() is safe for concurrent use, and concurrent with
// Model::Run() on the same model.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/engine/model.h"
#include "mlship/status.h"

namespace mlship {

enum class ExplainMethod {
  kSaliency,             // |d target / d input| (Captum's Saliency, abs=True)
  kInputXGradient,       // input * d target / d input (Captum's InputXGradient)
  kIntegratedGradients,  // (x - baseline) * mean gradient on the path (Gauss-Legendre, like Captum)
  kOcclusion,            // target drop when a window is set to the baseline (Captum's Occlusion)
  kKernelShap,           // Shapley values by weighted least squares over coalitions (shap's KernelExplainer)
};

// "saliency", "input_x_gradient", "integrated_gradients", "occlusion", "kernel_shap".
std::string_view ExplainMethodName(ExplainMethod method);
// The method called `name`, or InvalidArgument naming the known ones.
StatusOr<ExplainMethod> ParseExplainMethod(std::string_view name);
// Every method, in the order above.
const std::vector<ExplainMethod>& AllExplainMethods();
// True for the methods that need autograd.
bool NeedsGradients(ExplainMethod method);

// Which methods a model supports, and why not the others.
struct ExplainSupport {
  std::vector<ExplainMethod> methods;
  // Why the gradient methods are missing (empty when they are supported),
  // e.g. "an AOTInductor package is compiled code without autograd".
  std::string no_gradients_reason;

  bool Supports(ExplainMethod method) const;
  // "saliency, input_x_gradient, ..." for messages.
  std::string MethodList() const;
};
ExplainSupport SupportedExplainMethods(const Model& model);

// The error for `method` on a model that does not support it: names the
// method, why, and the methods the model supports (FailedPrecondition).
Status UnsupportedMethodError(ExplainMethod method, const ExplainSupport& support);

// Limits that keep one request bounded.
inline constexpr int kMaxExplainSteps = 1024;
inline constexpr int kMaxExplainSamples = 100000;
inline constexpr int kMaxKernelShapFeatures = 4096;

struct ExplainOptions {
  // --- Affects behaviour ---

  ExplainMethod method = ExplainMethod::kIntegratedGradients;

  // Which model output is explained, by its position in signature().outputs.
  // Default 0.
  int output_index = 0;

  // The scalar explained for each row is output[row, target] (the output
  // flattened to [rows, K]). Empty: the predicted class (argmax) when K > 1,
  // else 0. One value: the same target for every row. Else one per row.
  std::vector<int64_t> targets;

  // One per input, or empty for zeros. Gradient methods and occlusion: the
  // reference point, shaped like one row ([1, ...] or without the batch
  // dimension) or like the whole input. KernelSHAP: the background data,
  // [B, ...] rows whose mean output is the base value.
  std::vector<at::Tensor> baselines;

  // Integrated gradients: points on the path from baseline to input
  // (Gauss-Legendre nodes). 1..kMaxExplainSteps, default 32.
  int steps = 32;

  // KernelSHAP: coalitions evaluated per row. 0 (default) means shap's
  // default, 2 * features + 2048. When every coalition fits (2^M - 2 <=
  // samples) all are enumerated and the values are exact.
  int samples = 0;

  // Occlusion: edge of the square window slid over the last two dimensions
  // (the last one for 1-d rows), stride equal to the window. Default 1.
  int window = 1;

  // KernelSHAP's coalition sampling seed. Default 0.
  uint64_t seed = 0;

  // Most model evaluations (input rows run forward) one call may make; 0
  // (default) means no limit. Above it Explain() returns InvalidArgument
  // before running anything.
  int64_t max_evaluations = 0;

  // --- Affects performance ---

  // Most rows per forward pass; bigger runs are split. Default 1024.
  int max_batch_rows = 1024;

  // Intra-op threads for the forward passes; 0 keeps the model's own.
  int intra_op_threads = 0;
};

struct Explanation {
  // One per input, shaped like it (float32).
  std::vector<at::Tensor> attributions;
  // The model's outputs on the inputs, flat in signature order.
  std::vector<at::Tensor> outputs;
  // The target explained for each row, int64 [rows].
  at::Tensor targets;
  // float32 [rows]. Integrated gradients: the completeness delta,
  // sum(attributions) - (f(x) - f(baseline)) (Captum's convergence delta).
  // KernelSHAP: sum(attributions) - (f(x) - E f(background)), ~0 by
  // construction. Undefined (an empty tensor) for the other methods.
  at::Tensor delta;
  // Input rows the model was run on.
  int64_t evaluations = 0;
};

// The rows of model evaluations `options` will take for `inputs` (the
// budget figure), or InvalidArgument for options out of range.
StatusOr<int64_t> ExplainEvaluations(const Model& model, const std::vector<at::Tensor>& inputs,
                                     const ExplainOptions& options);

// Checks inputs and options, then explains. Errors: InvalidArgument (inputs
// that do not match the signature, target out of range, baseline of the
// wrong shape, steps/samples/window out of range, over max_evaluations),
// FailedPrecondition (a method the model does not support), InferenceFailed.
StatusOr<Explanation> Explain(const Model& model, const std::vector<at::Tensor>& inputs,
                              const ExplainOptions& options);

}  // namespace mlship
