// JSON numbers and strings for the monitor's documents.
#include "json_out.h"

#include <charconv>
#include <cmath>

namespace mlship::monitor {

std::string JsonNumber(double value, std::string_view non_finite) {
  if (!std::isfinite(value)) return std::string(non_finite);
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string JsonQuoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char* kHex = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace mlship::monitor
