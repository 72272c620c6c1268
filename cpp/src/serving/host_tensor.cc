// HostTensor sizes and constructors.
#include "mlship/serving/host_tensor.h"

#include <cstring>
#include <limits>
#include <utility>

namespace mlship::serving {

std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) return std::nullopt;
    count *= dim;
  }
  return count;
}

int64_t HostTensor::NumElements() const { return CheckedNumElements(shape).value_or(-1); }

std::size_t HostTensor::ExpectedByteSize() const {
  const int64_t count = NumElements();
  return count < 0 ? 0 : static_cast<std::size_t>(count) * DTypeSize(dtype);
}

bool HostTensor::IsConsistent() const {
  if (NumElements() < 0) return false;
  return byte_size == ExpectedByteSize() && (data != nullptr || byte_size == 0);
}

HostTensor HostTensor::Allocate(std::string name, DType dtype, std::vector<int64_t> shape) {
  HostTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.byte_size = tensor.ExpectedByteSize();
  auto buffer = std::make_shared<std::vector<uint8_t>>(tensor.byte_size);
  // Aliasing constructor: the tensor points at the bytes and owns the vector.
  tensor.data = std::shared_ptr<uint8_t>(buffer, buffer->data());
  return tensor;
}

HostTensor HostTensor::CopyOf(std::string name, DType dtype, std::vector<int64_t> shape, const void* bytes) {
  HostTensor tensor = Allocate(std::move(name), dtype, std::move(shape));
  if (tensor.byte_size > 0) std::memcpy(tensor.data.get(), bytes, tensor.byte_size);
  return tensor;
}

}  // namespace mlship::serving
