// Gradient methods: saliency, input × gradient, integrated gradients.
//
// They run the TorchScript module as loaded (eval mode, not frozen), with
// autograd on for this thread only; the frozen module that serves inference
// is never touched, so the plain inference path pays nothing for them.
// Gradients are taken with torch::autograd::grad with respect to the inputs
// only: parameters accumulate nothing, so concurrent explanations are safe.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <Eigen/Eigenvalues>

#include "explain_internal.h"
#include "mlship/engine/error_text.h"
#include "mlship/engine/torchscript_model.h"

namespace mlship::explain_internal {
namespace {

// Gauss-Legendre nodes and weights on [0, 1], the integration rule Captum's
// IntegratedGradients uses by default ("gausslegendre"). Computed with the
// Golub-Welsch method: the nodes are the eigenvalues of the Jacobi matrix of
// the Legendre polynomials, the weights 2 * (first eigenvector component)^2;
// Eigen's symmetric eigensolver does the work (no hand-written root finding).
void GaussLegendre(int n, std::vector<double>* alphas, std::vector<double>* weights) {
  Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) {
    double beta = k / std::sqrt(4.0 * k * k - 1.0);
    jacobi(k, k - 1) = beta;
    jacobi(k - 1, k) = beta;
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
  alphas->resize(n);
  weights->resize(n);
  for (int i = 0; i < n; ++i) {
    double v0 = solver.eigenvectors()(0, i);
    (*alphas)[i] = 0.5 * (1.0 + solver.eigenvalues()(i));  // [-1, 1] -> [0, 1]
    (*weights)[i] = 0.5 * 2.0 * v0 * v0;
  }
}

// The explained output of one forward() result, by signature position.
at::Tensor SelectOutput(const c10::IValue& out, const Signature& sig, int index) {
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple()) return out.toTupleRef().elements().at(index).toTensor();
  if (out.isList()) return out.toListRef().at(index).toTensor();
  if (out.isGenericDict()) {
    auto dict = out.toGenericDict();
    auto it = dict.find(sig.outputs.at(index).name);
    TORCH_CHECK(it != dict.end(), "model output dict has no key '", sig.outputs.at(index).name, "'");
    return it->value().toTensor();
  }
  TORCH_CHECK(false, "model returned a ", out.tagKind(), " where its signature expects tensors");
}

// Runs `module` on `inputs` (leaves that require grad) and returns the
// gradient of sum(output[row, target[row]]) with respect to each input, and
// the scores themselves (float64 [rows]).
std::vector<at::Tensor> GradientsOf(torch::jit::Module& module, const ExplainContext& context,
                                    const std::vector<at::Tensor>& inputs, const at::Tensor& targets,
                                    at::Tensor* scores) {
  std::vector<at::Tensor> leaves;
  std::vector<c10::IValue> stack;
  for (const auto& t : inputs) {
    leaves.push_back(t.detach().requires_grad_(true));
    stack.emplace_back(leaves.back());
  }
  at::Tensor output = SelectOutput(module.forward(std::move(stack)), context.model->signature(),
                                   context.options->output_index);
  at::Tensor picked = FlatOutput(output).gather(1, targets.reshape({-1, 1})).reshape({-1});
  TORCH_CHECK(picked.requires_grad(),
              "the model's output does not depend differentiably on its inputs (no autograd graph)");
  auto grads = torch::autograd::grad({picked.sum()}, leaves, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                     /*allow_unused=*/true);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) grads[i] = at::zeros_like(inputs[i]);
  }
  if (scores != nullptr) *scores = picked.detach().to(at::kDouble);
  return grads;
}

// Gradients for a long batch, `max_batch_rows` at a time.
std::vector<at::Tensor> SlicedGradients(torch::jit::Module& module, const ExplainContext& context,
                                        const std::vector<at::Tensor>& inputs, const at::Tensor& targets) {
  const int64_t rows = inputs[0].size(0);
  const int64_t slice = context.options->max_batch_rows;
  std::vector<std::vector<at::Tensor>> parts(inputs.size());
  for (int64_t start = 0; start < rows; start += slice) {
    const int64_t n = std::min(slice, rows - start);
    std::vector<at::Tensor> piece;
    for (const auto& t : inputs) piece.push_back(t.narrow(0, start, n));
    auto grads = GradientsOf(module, context, piece, targets.narrow(0, start, n), nullptr);
    for (std::size_t i = 0; i < grads.size(); ++i) parts[i].push_back(grads[i]);
  }
  std::vector<at::Tensor> joined;
  for (auto& p : parts) joined.push_back(p.size() == 1 ? p[0] : at::cat(p, 0));
  return joined;
}

// The scores output[row, target] of `inputs` on the gradient module, without
// building a graph.
at::Tensor ScoresOf(torch::jit::Module& module, const ExplainContext& context, const std::vector<at::Tensor>& inputs,
                    const at::Tensor& targets) {
  c10::NoGradGuard no_grad;
  std::vector<c10::IValue> stack(inputs.begin(), inputs.end());
  at::Tensor output = SelectOutput(module.forward(std::move(stack)), context.model->signature(),
                                   context.options->output_index);
  return FlatOutput(output).gather(1, targets.reshape({-1, 1})).reshape({-1}).to(at::kDouble);
}

}  // namespace

int64_t GradientEvaluations(const ExplainOptions& options, int64_t rows) {
  // The outputs (one pass), plus the gradient passes; integrated gradients
  // also runs the baselines for the completeness delta.
  if (options.method == ExplainMethod::kIntegratedGradients) return rows + rows * options.steps + 2 * rows;
  return 2 * rows;
}

Status ExplainWithGradients(const ExplainContext& context, Explanation* out) {
  const auto* script = dynamic_cast<const TorchScriptModel*>(context.model);
  if (script == nullptr) return Status::FailedPrecondition("gradient methods need a TorchScript model");
  const auto& sig = context.model->signature();
  for (std::size_t i = 0; i < context.inputs.size(); ++i) {
    if (!context.inputs[i].is_floating_point()) {
      return Status::InvalidArgument("input '" + sig.inputs[i].name + "' is " +
                                     std::string(DTypeName(sig.inputs[i].dtype)) +
                                     "; gradient methods need floating-point inputs: use occlusion or kernel_shap");
    }
  }
  const ExplainOptions& options = *context.options;
  const int threads = options.intra_op_threads > 0 ? options.intra_op_threads : context.model->intra_op_threads();
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
  // A handle to the unfrozen module (torch::jit::Module is reference-counted;
  // the copy shares it). Inference mode off and autograd on for this thread,
  // for this call only.
  torch::jit::Module module = script->module();
  c10::InferenceMode inference_off(/*enabled=*/false);
  c10::AutoGradMode grad_on(/*enabled=*/true);
  try {
    const int64_t rows = context.rows;
    if (options.method != ExplainMethod::kIntegratedGradients) {
      auto grads = SlicedGradients(module, context, context.inputs, context.targets);
      for (std::size_t i = 0; i < grads.size(); ++i) {
        at::Tensor a = options.method == ExplainMethod::kSaliency ? grads[i].abs() : grads[i] * context.inputs[i];
        out->attributions.push_back(a.to(at::kFloat).contiguous());
      }
      out->evaluations += rows;
      return Status::Ok();
    }
    // Integrated gradients: every interpolation point of every row in one
    // batch (step-major, as Captum lays it out), sliced only when it exceeds
    // max_batch_rows.
    std::vector<double> alphas, weights;
    GaussLegendre(options.steps, &alphas, &weights);
    const int64_t steps = options.steps;
    std::vector<at::Tensor> scaled;
    at::Tensor alpha_col = at::tensor(alphas, at::kDouble).repeat_interleave(rows);
    for (std::size_t i = 0; i < context.inputs.size(); ++i) {
      const at::Tensor& x = context.inputs[i];
      const at::Tensor& b = context.baselines[i];
      std::vector<int64_t> view(x.dim(), 1);
      view[0] = rows * steps;
      at::Tensor a = alpha_col.to(x.scalar_type()).reshape(view);
      std::vector<int64_t> rep(x.dim(), 1);
      rep[0] = steps;
      scaled.push_back((b.repeat(rep) + a * (x - b).repeat(rep)).contiguous());
    }
    at::Tensor step_targets = context.targets.repeat({steps});
    auto grads = SlicedGradients(module, context, scaled, step_targets);
    at::Tensor attribution_sum = at::zeros({rows}, at::kDouble);
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const at::Tensor& x = context.inputs[i];
      std::vector<int64_t> split = {steps, rows};
      auto rest = x.sizes().slice(1);
      split.insert(split.end(), rest.begin(), rest.end());
      std::vector<int64_t> wview(split.size(), 1);
      wview[0] = steps;
      at::Tensor w = at::tensor(weights, at::kDouble).reshape(wview);
      at::Tensor total = (grads[i].to(at::kDouble).reshape(split) * w).sum(0);
      at::Tensor a = total * (x - context.baselines[i]).to(at::kDouble);
      attribution_sum += a.reshape({rows, -1}).sum(1);
      out->attributions.push_back(a.to(at::kFloat).contiguous());
    }
    at::Tensor end = ScoresOf(module, context, context.inputs, context.targets);
    at::Tensor start = ScoresOf(module, context, context.baselines, context.targets);
    out->delta = (attribution_sum - (end - start)).to(at::kFloat).contiguous();
    out->evaluations += rows * steps + 2 * rows;
  } catch (const std::exception& e) {
    return Status::InferenceFailed(std::string(ExplainMethodName(options.method)) +
                                   ": computing gradients failed: " + ErrorSummary(e));
  }
  return Status::Ok();
}

}  // namespace mlship::explain_internal
