// Small helpers for writing JSON text and describing JSON values (internal).
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace mlship::serving::internal {

// Appends `text` as a quoted, escaped JSON string.
void AppendJsonString(std::string& out, std::string_view text);

// How an error message names a JSON value: numbers by their text
// ("1.5", "300"), other kinds by kind ("a string", "an object", "null").
std::string DescribeJsonValue(const boost::json::value& value);

// The same, always by kind ("a number", "a string", ...), for fields whose
// value is not worth quoting.
std::string_view JsonKindName(const boost::json::value& value);

}  // namespace mlship::serving::internal
