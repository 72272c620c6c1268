// A Boost.JSON basic_parser handler that builds values with exact doubles.
#include "precise_json.h"

#include <charconv>
#include <string>
#include <utility>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

// Mirrors boost::json::detail::handler (what json::parse uses), except that
// on_double re-reads the number's text.
class PreciseValueHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // The values under construction.
  json::value_stack stack;
  // The leading parts of a number split across parser calls (the parser
  // hands over the last part with on_double); usually empty.
  std::string number_prefix;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_prefix.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code&) {
    // "-0" is an integer to the grammar but a negative zero to a float input.
    const bool negative_zero = i == 0 && (number_prefix.empty() ? !s.empty() && s.front() == '-'
                                                                : number_prefix.front() == '-');
    number_prefix.clear();
    if (negative_zero) {
      stack.push_double(-0.0);
    } else {
      stack.push_int64(i);
    }
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number_prefix.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double approximate, json::string_view s, json::error_code&) {
    std::string_view text(s.data(), s.size());
    if (!number_prefix.empty()) {
      number_prefix.append(s.data(), s.size());
      text = number_prefix;
    }
    double exact = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), exact);
    // from_chars reports out-of-range (e.g. 1e999) where Boost.JSON gives
    // infinity; keep Boost.JSON's value then so range checks see it.
    stack.push_double(ec == std::errc() && end == text.data() + text.size() ? exact : approximate);
    number_prefix.clear();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

StatusOr<json::value> ParseJsonPrecisely(std::string_view text, std::size_t max_depth, json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::basic_parser<PreciseValueHandler> parser(options);
  parser.handler().stack.reset(std::move(storage));
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) ec = json::error::extra_data;
  if (ec) {
    if (ec == json::error::too_deep) {
      return Status::InvalidArgument("request JSON nests deeper than " + std::to_string(max_depth) +
                                     " levels of arrays and objects; flatten the data or raise max_json_depth");
    }
    return Status::InvalidArgument("request body is not valid JSON: " + ec.message() + " near byte " +
                                   std::to_string(consumed));
  }
  return parser.handler().stack.release();
}

}  // namespace mlship::serving::internal
