// Bounded JSON parsing with correctly rounded numbers (internal).
#pragma once

#include <cstddef>
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "mlship/status.h"

namespace mlship::serving::internal {

// Parses `text` into a Boost.JSON value allocated from `storage`.
//
// Boost.JSON 1.81's own parser reads some decimal numbers one unit in the
// last place off (exactness was added in 1.83), which would break the
// round-trip of FP64 data: this drives Boost.JSON's basic_parser with a
// handler that re-reads every non-integer number with std::from_chars
// (correctly rounded) and otherwise builds the value exactly as
// boost::json::parse does. Nesting deeper than `max_depth` is refused, as is
// anything after the value. Errors are InvalidArgument naming the problem
// and the byte offset.
StatusOr<boost::json::value> ParseJsonPrecisely(std::string_view text, std::size_t max_depth,
                                               boost::json::storage_ptr storage);

}  // namespace mlship::serving::internal
