// Occlusion: how much the explained output drops when a window of one input
// is replaced by the baseline. Forward passes only, so it works for every
// model format. Windows tile the last two dimensions of a row (the last one
// for 1-d rows) with stride equal to their size, so each element lies in one
// window and gets that window's drop (Captum's Occlusion with
// sliding_window_shapes = strides = (1, ..., w, w) gives the same figures).
#include <ATen/ATen.h>

#include "explain_internal.h"
#include "mlship/engine/error_text.h"

namespace mlship::explain_internal {
namespace {

// For each element of one row of `input`, the window it belongs to, as
// int64 shaped like the row; `*windows` receives how many there are.
at::Tensor WindowIds(const at::Tensor& input, int window, int64_t* windows) {
  auto rest = input.sizes().slice(1).vec();
  if (rest.empty()) {
    *windows = 1;
    return at::zeros({}, at::kLong);
  }
  const int64_t w = window;
  if (rest.size() == 1) {
    const int64_t length = rest[0];
    *windows = (length + w - 1) / w;
    return at::div(at::arange(length, at::kLong), w, "floor");
  }
  const int64_t h = rest[rest.size() - 2], wd = rest[rest.size() - 1];
  const int64_t across = (wd + w - 1) / w, down = (h + w - 1) / w;
  int64_t leading = 1;
  for (std::size_t d = 0; d + 2 < rest.size(); ++d) leading *= rest[d];
  *windows = leading * down * across;
  at::Tensor row_ids = at::div(at::arange(h, at::kLong), w, "floor").reshape({h, 1}) * across +
                       at::div(at::arange(wd, at::kLong), w, "floor").reshape({1, wd});
  at::Tensor lead_ids = (at::arange(leading, at::kLong) * (down * across)).reshape({leading, 1, 1});
  return (lead_ids + row_ids.unsqueeze(0)).reshape(rest);
}

}  // namespace

StatusOr<int64_t> OcclusionEvaluations(const Model& model, const ExplainOptions& options, int64_t rows) {
  // Windows depend on the row shape, known from the signature except for
  // dynamic dimensions; Explain() recomputes the exact figure from the inputs.
  int64_t per_row = 0;
  for (const auto& spec : model.signature().inputs) {
    std::vector<int64_t> shape = spec.shape;
    for (auto& d : shape) d = d < 0 ? 1 : d;
    shape[0] = 1;
    int64_t windows = 0;
    WindowIds(at::zeros(shape), options.window, &windows);
    per_row += windows;
  }
  return rows + rows * per_row;
}

Status ExplainByOcclusion(const ExplainContext& context, Explanation* out) {
  const ExplainOptions& options = *context.options;
  const int64_t rows = context.rows;
  try {
    at::Tensor flat = FlatOutput(out->outputs[options.output_index]).to(at::kDouble);
    at::Tensor base_scores = flat.gather(1, context.targets.reshape({-1, 1})).reshape({-1});
    for (std::size_t i = 0; i < context.inputs.size(); ++i) {
      const at::Tensor& x = context.inputs[i];
      int64_t windows = 0;
      at::Tensor ids = WindowIds(x, options.window, &windows);
      // masks[j] is true on window j: [windows, row...].
      at::Tensor masks = ids.unsqueeze(0) == at::arange(windows, at::kLong).reshape(
                                                 [&] {
                                                   std::vector<int64_t> v(ids.dim() + 1, 1);
                                                   v[0] = windows;
                                                   return v;
                                                 }());
      at::Tensor mask_matrix = masks.reshape({windows, -1}).to(at::kDouble);  // [windows, elements]
      std::vector<at::Tensor> row_attributions;
      const int64_t group = std::max<int64_t>(1, options.max_batch_rows / std::max<int64_t>(1, windows));
      for (int64_t start = 0; start < rows; start += group) {
        const int64_t n = std::min(group, rows - start);
        // [n, windows, row...]: row r with window j set to its baseline.
        at::Tensor xs = x.narrow(0, start, n).unsqueeze(1);
        at::Tensor bs = context.baselines[i].narrow(0, start, n).unsqueeze(1);
        at::Tensor occluded = at::where(masks.unsqueeze(0), bs, xs);
        std::vector<int64_t> batch_shape = {n * windows};
        auto rest = x.sizes().slice(1);
        batch_shape.insert(batch_shape.end(), rest.begin(), rest.end());
        std::vector<at::Tensor> batch;
        for (std::size_t k = 0; k < context.inputs.size(); ++k) {
          if (k == i) {
            batch.push_back(occluded.reshape(batch_shape).contiguous());
          } else {
            batch.push_back(context.inputs[k].narrow(0, start, n).repeat_interleave(windows, 0).contiguous());
          }
        }
        at::Tensor targets = context.targets.narrow(0, start, n).repeat_interleave(windows);
        ASSIGN_OR_RETURN(at::Tensor scores, TargetScores(context, batch, targets));
        out->evaluations += n * windows;
        at::Tensor drops = base_scores.narrow(0, start, n).reshape({n, 1}) - scores.reshape({n, windows});
        row_attributions.push_back(drops.matmul(mask_matrix));  // [n, elements]
      }
      at::Tensor a = at::cat(row_attributions, 0).reshape(x.sizes());
      out->attributions.push_back(a.to(at::kFloat).contiguous());
    }
  } catch (const std::exception& e) {
    return Status::InferenceFailed(std::string("occlusion failed: ") + ErrorSummary(e));
  }
  return Status::Ok();
}

}  // namespace mlship::explain_internal
