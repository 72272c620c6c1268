// Turning a .npy array (npy_file.h) into a tensor (a reference, golden data).
#pragma once

#include <ATen/core/Tensor.h>

#include "mlship/engine/npy_file.h"

namespace mlship {

// A contiguous tensor of the array's dtype with the array's shape and values
// (Fortran-ordered arrays are transposed into C order). Owns its memory.
at::Tensor NpyToTensor(const NpyArray& array);

}  // namespace mlship
