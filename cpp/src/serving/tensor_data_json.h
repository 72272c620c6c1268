// Tensor elements as KServe JSON "data" arrays, both ways (internal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "mlship/engine/dtype.h"
#include "mlship/serving/host_tensor.h"
#include "mlship/status.h"

namespace mlship::serving::internal {

// Converts the leaves of one input's JSON "data" (flat or nested, in
// row-major order) to `dtype` elements one at a time, as the streaming
// parser meets them: the data never exists as a tree of JSON values, and
// memory grows by the element size per leaf (4 bytes for FP32), not by a
// JSON value's 16 bytes plus the parser's stack. Each value's JSON type and
// range are checked; the first one that does not convert is remembered with
// its flat index and the rest are only counted. BF16 is refused (KServe JSON
// has no BF16).
class JsonDataWriter {
 public:
  explicit JsonDataWriter(DType dtype);

  // Appends one leaf (a number, bool, null, or an empty string or object
  // standing for one: only its kind is read).
  void Add(const boost::json::value& leaf);
  // Leaves added so far.
  int64_t count() const { return count_; }
  // The element type the leaves are converted to.
  DType dtype() const { return dtype_; }
  // Ok, or the error for the first leaf that did not convert, naming `input`
  // and the element's flat index.
  Status status(std::string_view input) const;
  // Moves the converted elements out (count() * DTypeSize(dtype) bytes when
  // status() is ok).
  std::vector<uint8_t> TakeBytes() { return std::move(bytes_); }

 private:
  // The element type, its size, and the converter for it (null for BF16).
  DType dtype_;
  std::size_t element_size_;
  int (*convert_)(const boost::json::value&, uint8_t*);
  // What the first bad leaf was and why, without the input's name (which
  // the parser may not have met yet); empty while every leaf converted.
  std::string first_error_;
  // The converted elements.
  std::vector<uint8_t> bytes_;
  // Leaves added.
  int64_t count_ = 0;
};

// Checks that every byte of a binary BOOL tensor is 0 or 1.
Status CheckBinaryBools(const uint8_t* bytes, std::size_t count, std::string_view input);

// Appends the elements of `tensor` as a flat JSON array of numbers (or
// true/false), written with std::to_chars. Non-finite floats become null;
// FP16 and BF16 are written as the float they hold.
void AppendJsonData(std::string& out, const HostTensor& tensor);

}  // namespace mlship::serving::internal
