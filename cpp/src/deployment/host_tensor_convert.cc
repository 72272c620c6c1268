// Zero-copy conversion through shared ownership.
#include "mlship/deployment/host_tensor_convert.h"

#include <ATen/ATen.h>

#include "mlship/engine/dtype_torch.h"

namespace mlship {

at::Tensor ToTensor(const serving::HostTensor& host) {
  auto keep = host.data;  // the deleter owns a reference to the bytes
  return at::from_blob(
      host.data.get(), host.shape, [keep](void*) mutable { keep.reset(); },
      at::TensorOptions().dtype(ToScalarType(host.dtype)));
}

serving::HostTensor ToHostTensor(std::string name, const at::Tensor& tensor, DType dtype) {
  at::Tensor contiguous = tensor.contiguous();
  serving::HostTensor host;
  host.name = std::move(name);
  host.dtype = dtype;
  host.shape.assign(contiguous.sizes().begin(), contiguous.sizes().end());
  host.byte_size = static_cast<std::size_t>(contiguous.nbytes());
  // Aliasing constructor: the shared_ptr owns the tensor, points at its bytes.
  auto owner = std::make_shared<at::Tensor>(contiguous);
  host.data = std::shared_ptr<uint8_t>(owner, static_cast<uint8_t*>(contiguous.data_ptr()));
  return host;
}

}  // namespace mlship
