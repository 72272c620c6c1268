// Input validation against a Signature.
#include "mlship/engine/validate.h"

#include <string>

#include "mlship/engine/dtype_torch.h"

namespace mlship {
namespace {

std::string SizesToString(at::IntArrayRef sizes) {
  return ShapeToString(std::vector<int64_t>(sizes.begin(), sizes.end()));
}

}  // namespace

Status ValidateInputs(const Signature& signature, const std::vector<at::Tensor>& inputs) {
  const auto& specs = signature.inputs;
  if (inputs.size() != specs.size()) {
    std::string names;
    for (const auto& spec : specs) names += (names.empty() ? "" : ", ") + spec.name;
    return Status::InvalidArgument("expected " + std::to_string(specs.size()) + " input(s) (" + names + "); got " +
                                   std::to_string(inputs.size()));
  }
  int64_t batch = -1;
  std::string batch_owner;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& spec = specs[i];
    const at::Tensor& t = inputs[i];
    if (!t.defined()) return Status::InvalidArgument("input '" + spec.name + "' is missing (undefined tensor)");
    if (!t.device().is_cpu()) {
      return Status::InvalidArgument("input '" + spec.name + "' must be on the CPU; got a tensor on " +
                                     t.device().str());
    }
    auto dtype = FromScalarType(t.scalar_type());
    if (!dtype.ok() || *dtype != spec.dtype) {
      return Status::InvalidArgument("input '" + spec.name + "' expected dtype " + std::string(DTypeName(spec.dtype)) +
                                     "; got " + (dtype.ok() ? std::string(DTypeName(*dtype))
                                                            : std::string(c10::toString(t.scalar_type()))));
    }
    if (static_cast<std::size_t>(t.dim()) != spec.shape.size()) {
      return Status::InvalidArgument("input '" + spec.name + "' expected rank " + std::to_string(spec.shape.size()) +
                                     " with shape " + ShapeToString(spec.shape) + "; got rank " +
                                     std::to_string(t.dim()) + " with shape " + SizesToString(t.sizes()));
    }
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (spec.shape[d] != -1 && spec.shape[d] != t.size(d)) {
        return Status::InvalidArgument("input '" + spec.name + "' expected shape " + ShapeToString(spec.shape) +
                                       "; got " + SizesToString(t.sizes()) + " (dimension " + std::to_string(d) +
                                       " differs)");
      }
    }
    if (t.dim() > 0 && t.size(0) == 0) {
      return Status::InvalidArgument("input '" + spec.name + "' is empty: got shape " + SizesToString(t.sizes()) +
                                     "; expected at least one row");
    }
    if (t.dim() > 0 && !spec.shape.empty() && spec.shape[0] == -1) {
      if (batch == -1) {
        batch = t.size(0);
        batch_owner = spec.name;
      } else if (t.size(0) != batch) {
        return Status::InvalidArgument("inputs '" + batch_owner + "' and '" + spec.name +
                                       "' must have the same batch size (dimension 0); got " + std::to_string(batch) +
                                       " and " + std::to_string(t.size(0)));
      }
    }
  }
  return Status::Ok();
}

}  // namespace mlship
