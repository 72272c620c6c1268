// Signature <-> tensor helpers used by every model format.
#include "mlship/engine/signature_torch.h"

#include <ATen/ATen.h>

#include <limits>

#include "mlship/engine/dtype_torch.h"

namespace mlship {

StatusOr<TensorSpec> SpecFromTensor(const std::string& name, const at::Tensor& tensor, bool dynamic_batch) {
  ASSIGN_OR_RETURN(DType dtype, FromScalarType(tensor.scalar_type()));
  TensorSpec spec{name, dtype, std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end())};
  if (dynamic_batch && !spec.shape.empty()) spec.shape[0] = -1;
  return spec;
}

std::vector<at::Tensor> SyntheticInputs(const std::vector<TensorSpec>& specs, int64_t batch) {
  std::vector<at::Tensor> out;
  for (const auto& spec : specs) {
    std::vector<int64_t> shape = spec.shape;
    for (auto& d : shape) {
      if (d == -1) d = batch;
    }
    auto options = at::TensorOptions().dtype(ToScalarType(spec.dtype));
    if (at::isFloatingType(ToScalarType(spec.dtype))) {
      out.push_back(at::rand(shape, options));
    } else if (ToScalarType(spec.dtype) == at::kBool) {
      out.push_back(at::zeros(shape, options));
    } else {
      // 1, not 0: a valid token id and a valid length (pack_padded_sequence
      // refuses length 0), and "attend" in an integer attention mask.
      out.push_back(at::ones(shape, options));
    }
  }
  return out;
}

std::vector<at::Tensor> RepeatBatch(const std::vector<at::Tensor>& inputs, int64_t times) {
  std::vector<at::Tensor> out;
  for (const auto& t : inputs) {
    if (t.dim() == 0) {
      out.push_back(t);
      continue;
    }
    std::vector<int64_t> reps(t.dim(), 1);
    reps[0] = times;
    out.push_back(t.repeat(reps));
  }
  return out;
}

double MaxRelativeDifference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return kInf;
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].sizes() != b[i].sizes() || a[i].scalar_type() != b[i].scalar_type()) return kInf;
    if (a[i].numel() == 0) continue;
    auto x = a[i].to(at::kDouble), y = b[i].to(at::kDouble);
    // NaN in the same places is equal; compare the finite parts.
    auto both_nan = x.isnan().logical_and(y.isnan());
    if (!at::equal(x.isnan(), y.isnan())) return kInf;
    auto diff = (x - y).abs().masked_fill(both_nan, 0.0).nan_to_num(0.0, kInf, kInf);
    double scale = std::max(1.0, x.abs().masked_fill(both_nan, 0.0).nan_to_num(0.0, 0.0, 0.0).max().item<double>());
    worst = std::max(worst, diff.max().item<double>() / scale);
  }
  return worst;
}

}  // namespace mlship
