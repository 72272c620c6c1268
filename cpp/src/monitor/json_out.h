// JSON text for the monitor's hand-built documents (the dashboard's data,
// feature importance): one number and string writer for both.
#pragma once

#include <string>
#include <string_view>

namespace mlship::monitor {

// `value` as the shortest JSON number that reads back the same; `non_finite`
// (which JSON cannot hold) for NaN and infinities.
std::string JsonNumber(double value, std::string_view non_finite = "0");

// `text` as a JSON string literal: quotes and backslashes escaped, control
// characters as \u00XX.
std::string JsonQuoted(std::string_view text);

}  // namespace mlship::monitor
