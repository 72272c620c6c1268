// Lengths, bucketed keys, padding and cutting back for sequence batching.
#include "mlship/deployment/sequence_pad.h"

#include <ATen/ATen.h>

#include "mlship/deployment/tensor_task.h"

namespace mlship {

StatusOr<int64_t> SequenceLength(const Signature& sig, const std::vector<at::Tensor>& inputs) {
  const int dim = sig.sequence.dim;
  const int64_t length = inputs.at(0).size(dim);
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i].size(dim) != length) {
      return Status::InvalidArgument("every input must have the same length along the sequence dimension " +
                                     std::to_string(dim) + "; '" + sig.inputs[0].name + "' has " +
                                     std::to_string(length) + " and '" + sig.inputs[i].name + "' has " +
                                     std::to_string(inputs[i].size(dim)));
    }
  }
  return length;
}

std::string SequenceBatchKey(const Signature& sig, const std::vector<at::Tensor>& inputs, int64_t length) {
  const int dim = sig.sequence.dim;
  // BatchKeyFor's key of the inputs with the sequence dimension narrowed to
  // 1, so the key no longer depends on the length; the bucket goes in front.
  std::vector<at::Tensor> shapes;
  shapes.reserve(inputs.size());
  for (const auto& t : inputs) shapes.push_back(t.narrow(dim, 0, std::min<int64_t>(1, t.size(dim))));
  const int64_t bucket = (length - 1) / sig.sequence.bucket;
  return "seq" + std::to_string(bucket) + "|" + BatchKeyFor(shapes);
}

StatusOr<std::string> SequenceKeyOrAlone(const Signature& sig, const std::vector<at::Tensor>& inputs) {
  ASSIGN_OR_RETURN(const int64_t length, SequenceLength(sig, inputs));
  if (length > sig.sequence.max_length) return std::string();
  return SequenceBatchKey(sig, inputs, length);
}

std::vector<at::Tensor> PadToLength(const Signature& sig, const std::vector<at::Tensor>& inputs, int64_t length) {
  const int dim = sig.sequence.dim;
  std::vector<at::Tensor> out;
  out.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    const int64_t missing = length - t.size(dim);
    if (missing <= 0) {
      out.push_back(t);
      continue;
    }
    const auto pad = sig.sequence.pad.find(sig.inputs[i].name);
    const double value = pad == sig.sequence.pad.end() ? 0.0 : pad->second;
    // constant_pad_nd takes (before, after) pairs from the last dimension
    // backwards: only `dim` gets `missing` positions after its end.
    std::vector<int64_t> spec(2 * (t.dim() - dim), 0);
    spec.back() = missing;
    out.push_back(at::constant_pad_nd(t, spec, value));
  }
  return out;
}

bool CutsBack(const Signature& sig, std::size_t index, const at::Tensor& output, int64_t padded_length) {
  const int dim = sig.sequence.dim;
  if (index >= sig.outputs.size()) return false;
  const auto& shape = sig.outputs[index].shape;
  return static_cast<int>(shape.size()) > dim && shape[dim] == -1 && output.dim() > dim &&
         output.size(dim) == padded_length;
}

}  // namespace mlship
