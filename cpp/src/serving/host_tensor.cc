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

std::optional<std::size_t> CheckedByteSize(const std::vector<int64_t>& shape, DType dtype) {
  const std::optional<int64_t> count = CheckedNumElements(shape);
  if (!count) return std::nullopt;
  const std::size_t element_size = DTypeSize(dtype);
  const auto elements = static_cast<uint64_t>(*count);
  if (element_size != 0 && elements > std::numeric_limits<std::size_t>::max() / element_size) return std::nullopt;
  return static_cast<std::size_t>(elements) * element_size;
}

int64_t HostTensor::NumElements() const { return CheckedNumElements(shape).value_or(-1); }

std::size_t HostTensor::ExpectedByteSize() const { return CheckedByteSize(shape, dtype).value_or(0); }

bool HostTensor::IsConsistent() const {
  const std::optional<std::size_t> expected = CheckedByteSize(shape, dtype);
  if (!expected) return false;
  return byte_size == *expected && (data != nullptr || byte_size == 0);
}

HostTensor HostTensor::Allocate(std::string name, DType dtype, std::vector<int64_t> shape) {
  const std::size_t byte_size = CheckedByteSize(shape, dtype).value_or(0);
  return Adopt(std::move(name), dtype, std::move(shape), std::vector<uint8_t>(byte_size));
}

HostTensor HostTensor::Adopt(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  HostTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.byte_size = bytes.size();
  auto buffer = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
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
