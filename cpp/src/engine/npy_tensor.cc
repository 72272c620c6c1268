// .npy arrays as tensors.
#include "mlship/engine/npy_tensor.h"

#include <ATen/ATen.h>

#include "mlship/engine/dtype_torch.h"

#include <algorithm>
#include <vector>

namespace mlship {

at::Tensor NpyToTensor(const NpyArray& array) {
  const auto dtype = ToScalarType(array.dtype);
  std::vector<int64_t> shape = array.shape;
  // A Fortran-ordered array is the C-ordered array of the reversed shape,
  // transposed back.
  if (array.fortran_order) std::reverse(shape.begin(), shape.end());
  // from_blob does not copy; clone() gives the tensor its own memory.
  at::Tensor t = at::from_blob(const_cast<unsigned char*>(array.data.data()), shape, at::TensorOptions().dtype(dtype))
                     .clone();
  if (!array.fortran_order || t.dim() < 2) return t;
  std::vector<int64_t> order(static_cast<std::size_t>(t.dim()));
  for (int64_t d = 0; d < t.dim(); ++d) order[static_cast<std::size_t>(d)] = t.dim() - 1 - d;
  return t.permute(order).contiguous();
}

}  // namespace mlship
