// Bounded JSON parsing with correctly rounded numbers (internal).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "mlship/status.h"
#include "tensor_data_json.h"

namespace mlship::serving::internal {

// The leaves of one KServe input's "data" array, taken out of the document
// while it is parsed.
struct DivertedData {
  // Set when the input's "datatype" came before its "data" (as every known
  // client writes it): the leaves were converted to elements as they came.
  std::optional<JsonDataWriter> converted;
  // Otherwise the leaves as scalar JSON values (16 bytes each; strings and
  // objects kept by kind only), converted once the datatype is known.
  std::vector<boost::json::value> leaves;

  // The leaves met.
  int64_t count() const { return converted ? converted->count() : static_cast<int64_t>(leaves.size()); }
};

// Where ParseJsonPrecisely puts the "data" arrays of a KServe v2 infer
// request (the arrays at inputs[i].data) instead of building them as JSON
// values, and what bounds the rest of the document.
struct DataDiversion {
  // Most values (scalars and containers) the document may hold outside
  // those arrays; beyond it the parse fails. Keeps a request whose bulk is
  // not tensor data from building a large tree.
  std::size_t max_other_values = std::size_t{1} << 16;
  // Filled by the parse: by position in "inputs", the input's data when it
  // was an array (the document then holds an empty array in its place).
  std::vector<std::optional<DivertedData>> by_input;
};

// Parses `text` into a Boost.JSON value allocated from `storage`.
//
// Boost.JSON 1.81's own parser reads some decimal numbers one unit in the
// last place off (exactness was added in 1.83), which would break the
// round-trip of FP64 data: this drives Boost.JSON's basic_parser with a
// handler that re-reads every non-integer number with std::from_chars
// (correctly rounded) and otherwise builds the value exactly as
// boost::json::parse does. Nesting deeper than `max_depth` is refused, as is
// anything after the value. Errors are InvalidArgument naming the problem
// and the byte offset. With `diversion`, tensor data goes there instead of
// into the value (see DataDiversion), so a request costs about its element
// bytes rather than a tree many times its size.
StatusOr<boost::json::value> ParseJsonPrecisely(std::string_view text, std::size_t max_depth,
                                               boost::json::storage_ptr storage, DataDiversion* diversion = nullptr);

}  // namespace mlship::serving::internal
