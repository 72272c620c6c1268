// Building signatures from tensors, and tensors from signatures.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship {

// A spec with the tensor's dtype and shape; dimension 0 becomes -1 (dynamic)
// when `dynamic_batch` and the tensor has at least one dimension.
StatusOr<TensorSpec> SpecFromTensor(const std::string& name, const at::Tensor& tensor, bool dynamic_batch);

// Inputs that match `specs`, with each dynamic dimension set to `batch`:
// uniform random values for floating types, false for bool, and ones for
// integer types (a valid index for embeddings, a valid sequence length, and
// "attend" in an integer attention mask).
std::vector<at::Tensor> SyntheticInputs(const std::vector<TensorSpec>& specs, int64_t batch);

// `inputs` repeated `times` along dimension 0 (a bigger batch of the same rows).
std::vector<at::Tensor> RepeatBatch(const std::vector<at::Tensor>& inputs, int64_t times);

// Largest |a - b| over matching outputs relative to max(1, max |a|); +inf when
// counts, shapes or dtypes differ.
double MaxRelativeDifference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b);

}  // namespace mlship
