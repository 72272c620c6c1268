// HostTensor: a named, typed, shaped tensor in host memory, without torch.
//
// The serving layer decodes requests into HostTensors and encodes responses
// from them; the deployment layer converts them to and from at::Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlship/engine/dtype.h"

namespace mlship::serving {

// A contiguous, row-major tensor in host memory.
//
// The bytes are held through a shared_ptr so that copies are cheap and the
// owner can be anything: a std::vector (see Allocate), or an at::Tensor kept
// alive with shared_ptr's aliasing constructor, so outputs travel to the
// encoder without a copy. Elements are stored in the host's byte order
// (little-endian on every platform mlship supports); BOOL is one byte per
// element holding 0 or 1, FP16 and BF16 are two bytes of IEEE half /
// bfloat16 bits.
//
// A HostTensor is a value: it is safe to read from many threads, and the
// bytes must not be written once the tensor has been handed to another layer.
struct HostTensor {
  // The input or output name, as in the model's Signature.
  std::string name;
  // The element type.
  DType dtype = DType::kFloat32;
  // Dimensions, all >= 0 (a HostTensor is concrete; -1 lives only in specs).
  std::vector<int64_t> shape;
  // The first byte of the elements; null only when byte_size is 0.
  std::shared_ptr<uint8_t> data;
  // Bytes at `data`; equals NumElements() * DTypeSize(dtype) for a valid tensor.
  std::size_t byte_size = 0;

  // Product of the dimensions (1 for a scalar of shape []).
  int64_t NumElements() const;
  // NumElements() * DTypeSize(dtype): the bytes a tensor of this shape needs;
  // 0 when that product does not fit in std::size_t (see CheckedByteSize).
  std::size_t ExpectedByteSize() const;
  // True when byte_size matches the shape and dtype and the data is present.
  bool IsConsistent() const;

  // The elements viewed as T; T must match dtype's size.
  template <typename T>
  const T* data_as() const {
    return reinterpret_cast<const T*>(data.get());
  }
  template <typename T>
  T* mutable_data_as() {
    return reinterpret_cast<T*>(data.get());
  }

  // A zero-filled tensor owning a fresh buffer of the right size. The shape
  // must hold non-negative dimensions whose product fits in int64_t.
  static HostTensor Allocate(std::string name, DType dtype, std::vector<int64_t> shape);
  // A tensor owning `bytes`, which must be ExpectedByteSize() long.
  static HostTensor Adopt(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  // A tensor owning a copy of `bytes` (which must be ExpectedByteSize() long).
  static HostTensor CopyOf(std::string name, DType dtype, std::vector<int64_t> shape, const void* bytes);
};

// The product of `shape`, or nullopt when a dimension is negative or the
// product overflows int64_t. Used to validate untrusted shapes.
std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& shape);

// The bytes a tensor of `shape` and `dtype` needs, or nullopt when the
// element count or the byte count overflows (e.g. [2^31, 2^31] of FP32 is
// 2^64 bytes, which would wrap to 0). Check this before allocating for an
// untrusted shape.
std::optional<std::size_t> CheckedByteSize(const std::vector<int64_t>& shape, DType dtype);

}  // namespace mlship::serving
