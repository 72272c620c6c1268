// JSON string escaping and value descriptions for messages.
#include "json_text.h"

#include <charconv>

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace mlship::serving::internal {
namespace json = boost::json;

void AppendJsonString(std::string& out, std::string_view text) {
  // Boost.JSON's serializer escapes quotes, backslashes and control
  // characters exactly as the JSON grammar requires.
  out += json::serialize(json::string_view(text.data(), text.size()));
}

std::string_view JsonKindName(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

std::string DescribeJsonValue(const json::value& value) {
  char buffer[32];
  std::to_chars_result result{buffer, std::errc()};
  switch (value.kind()) {
    case json::kind::int64: result = std::to_chars(buffer, buffer + sizeof buffer, value.get_int64()); break;
    case json::kind::uint64: result = std::to_chars(buffer, buffer + sizeof buffer, value.get_uint64()); break;
    case json::kind::double_: result = std::to_chars(buffer, buffer + sizeof buffer, value.get_double()); break;
    case json::kind::bool_: return value.get_bool() ? "true" : "false";
    default: return std::string(JsonKindName(value));
  }
  return std::string(buffer, result.ptr);
}

}  // namespace mlship::serving::internal
