// Pieces the explain methods share (private to the engine).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "mlship/engine/explain.h"
#include "mlship/engine/model.h"

namespace mlship::explain_internal {

// What every method receives: checked inputs, the targets chosen per row, and
// baselines already broadcast as the method wants them.
struct ExplainContext {
  const Model* model = nullptr;
  const ExplainOptions* options = nullptr;
  // Inputs, contiguous, detached from any autograd graph.
  std::vector<at::Tensor> inputs;
  // Rows in the batch (dimension 0 of every input).
  int64_t rows = 0;
  // int64 [rows]: the output column explained for each row.
  at::Tensor targets;
  // Gradient methods and occlusion: one per input, shaped like the input.
  // KernelSHAP: one per input, [B, ...] background rows.
  std::vector<at::Tensor> baselines;
};

// The model's outputs on `inputs`, run in slices of options.max_batch_rows.
StatusOr<std::vector<at::Tensor>> RunSliced(const ExplainContext& context, const std::vector<at::Tensor>& inputs);

// output[row, target[row]] for each row of `inputs` (the output explained,
// flattened to [rows, K]), as float64 [rows]. `targets` has one per row.
StatusOr<at::Tensor> TargetScores(const ExplainContext& context, const std::vector<at::Tensor>& inputs,
                                  const at::Tensor& targets);

// The explained output flattened to [rows, K].
at::Tensor FlatOutput(const at::Tensor& output);

// Each method fills attributions, delta and evaluations of `out`.
Status ExplainWithGradients(const ExplainContext& context, Explanation* out);
Status ExplainByOcclusion(const ExplainContext& context, Explanation* out);
Status ExplainByKernelShap(const ExplainContext& context, Explanation* out);

// Rows each method will run (the budget figure).
int64_t GradientEvaluations(const ExplainOptions& options, int64_t rows);
StatusOr<int64_t> OcclusionEvaluations(const Model& model, const ExplainOptions& options, int64_t rows);
int64_t KernelShapSamples(const ExplainOptions& options, int64_t features);

// Elements per row of input `index` (the product of its non-batch dims).
int64_t RowElements(const at::Tensor& input);

}  // namespace mlship::explain_internal
