// Tensor elements as KServe JSON "data" arrays, both ways (internal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>

#include "mlship/engine/dtype.h"
#include "mlship/serving/host_tensor.h"
#include "mlship/status.h"

namespace mlship::serving::internal {

// The number of non-array values in `data`, counted through nested arrays
// in row-major order (KServe accepts flat and nested data alike).
int64_t CountDataElements(const boost::json::array& data);

// Converts the elements of `data` (flat or nested) to `dtype` and writes
// them to `out`, which holds room for CountDataElements(data) elements.
// Checks each value's JSON type and range; errors name `input` and the flat
// element index. BF16 is refused (KServe JSON has no BF16).
Status ReadJsonData(const boost::json::array& data, DType dtype, std::string_view input, uint8_t* out);

// Checks that every byte of a binary BOOL tensor is 0 or 1.
Status CheckBinaryBools(const uint8_t* bytes, std::size_t count, std::string_view input);

// Appends the elements of `tensor` as a flat JSON array of numbers (or
// true/false), written with std::to_chars. Non-finite floats become null;
// FP16 and BF16 are written as the float they hold.
void AppendJsonData(std::string& out, const HostTensor& tensor);

}  // namespace mlship::serving::internal
