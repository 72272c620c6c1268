// Turning a .npy array (npy_file.h) into a tensor, for --reference.
#pragma once

#include <ATen/core/Tensor.h>

#include "mlship/tools/npy_file.h"

namespace mlship {

// A contiguous float32/float64 tensor with the array's shape and values
// (Fortran-ordered arrays are transposed into C order). Owns its memory.
at::Tensor NpyToTensor(const NpyArray& array);

}  // namespace mlship
