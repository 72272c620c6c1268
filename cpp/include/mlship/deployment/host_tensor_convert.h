// HostTensor (serving, torch-free) <-> at::Tensor (engine), without copies.
#pragma once

#include <ATen/core/Tensor.h>

#include "mlship/serving/host_tensor.h"

namespace mlship {

// A tensor viewing the HostTensor's bytes; it keeps the bytes alive.
at::Tensor ToTensor(const serving::HostTensor& host);

// A HostTensor viewing a contiguous copy of `tensor` (no copy when it is
// already contiguous); it keeps the tensor alive.
serving::HostTensor ToHostTensor(std::string name, const at::Tensor& tensor, DType dtype);

}  // namespace mlship
