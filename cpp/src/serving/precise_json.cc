// A Boost.JSON basic_parser handler that builds values with exact doubles
// and can stream a KServe request's tensor data past the tree.
#include "precise_json.h"

#include <charconv>
#include <string>
#include <utility>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>

#include "mlship/engine/dtype.h"

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

// Mirrors boost::json::detail::handler (what json::parse uses), except that
// on_double re-reads the number's text and, with a DataDiversion, the leaves
// of inputs[i].data go to it instead of onto the value stack.
class PreciseValueHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // The values under construction.
  json::value_stack stack;
  // Where tensor data goes; null to build everything.
  DataDiversion* diversion = nullptr;
  // Set when the document held more values outside tensor data than
  // diversion->max_other_values.
  bool too_many_values = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) {
    if (data_depth_ > 0) {
      ++skip_depth_;  // an object inside data is one bad leaf; skip its insides
      return true;
    }
    if (!BeginValue(ec)) return false;
    frames_.push_back({true, {}, 0});
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    if (data_depth_ > 0) {
      if (--skip_depth_ == 0) AddLeaf(json::value(json::object_kind));
      return true;
    }
    frames_.pop_back();
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (data_depth_ > 0) {
      if (skip_depth_ > 0) {
        ++skip_depth_;
      } else {
        ++data_depth_;  // nested data: its leaves continue the row-major order
      }
      return true;
    }
    if (AtInputField("data")) return StartDiverting();
    if (!BeginValue(ec)) return false;
    frames_.push_back({false, {}, 0});
    return true;
  }
  bool on_array_end(std::size_t n, json::error_code&) {
    if (data_depth_ > 0) {
      if (skip_depth_ > 0) {
        --skip_depth_;
      } else if (--data_depth_ == 0) {
        current_ = nullptr;
        stack.push_array(0);  // stands for the data in the document
      }
      return true;
    }
    frames_.pop_back();
    stack.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (data_depth_ > 0) return true;
    key_.append(s.data(), s.size());
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (data_depth_ > 0) return true;
    key_.append(s.data(), s.size());
    frames_.back().key.swap(key_);
    key_.clear();
    stack.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (data_depth_ > 0) return true;
    if (AtInputField("datatype")) datatype_.append(s.data(), s.size());
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    if (data_depth_ > 0) {
      if (skip_depth_ == 0) AddLeaf(json::value(json::string_kind));  // described by kind only
      return true;
    }
    if (AtInputField("datatype")) {
      datatype_.append(s.data(), s.size());
      NoteDatatype();
    }
    if (!BeginValue(ec)) return false;
    stack.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_prefix_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code& ec) {
    // "-0" is an integer to the grammar but a negative zero to a float input.
    const bool negative_zero = i == 0 && (number_prefix_.empty() ? !s.empty() && s.front() == '-'
                                                                 : number_prefix_.front() == '-');
    number_prefix_.clear();
    return Scalar(negative_zero ? json::value(-0.0) : json::value(i), ec);
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code& ec) {
    number_prefix_.clear();
    return Scalar(json::value(u), ec);
  }
  bool on_double(double approximate, json::string_view s, json::error_code& ec) {
    std::string_view text(s.data(), s.size());
    if (!number_prefix_.empty()) {
      number_prefix_.append(s.data(), s.size());
      text = number_prefix_;
    }
    double exact = 0;
    const auto [end, from_chars_ec] = std::from_chars(text.data(), text.data() + text.size(), exact);
    // from_chars reports out-of-range (e.g. 1e999) where Boost.JSON gives
    // infinity; keep Boost.JSON's value then so range checks see it.
    const double value = from_chars_ec == std::errc() && end == text.data() + text.size() ? exact : approximate;
    number_prefix_.clear();
    return Scalar(json::value(value), ec);
  }
  bool on_bool(bool b, json::error_code& ec) { return Scalar(json::value(b), ec); }
  bool on_null(json::error_code& ec) { return Scalar(json::value(nullptr), ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // One open object or array outside tensor data.
  struct Frame {
    bool is_object;
    // For an object: the key whose value comes next.
    std::string key;
    // For an array: the values begun in it so far.
    std::size_t values;
  };

  // A scalar: a leaf of tensor data, or a value of the document.
  bool Scalar(const json::value& value, json::error_code& ec) {
    if (data_depth_ > 0) {
      if (skip_depth_ == 0) AddLeaf(value);
      return true;
    }
    if (!BeginValue(ec)) return false;
    switch (value.kind()) {
      case json::kind::int64: stack.push_int64(value.get_int64()); break;
      case json::kind::uint64: stack.push_uint64(value.get_uint64()); break;
      case json::kind::double_: stack.push_double(value.get_double()); break;
      case json::kind::bool_: stack.push_bool(value.get_bool()); break;
      default: stack.push_null(); break;
    }
    return true;
  }

  // Counts a value of the document (outside tensor data) against the bound.
  bool BeginValue(json::error_code& ec) {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().values;
    if (diversion != nullptr && ++other_values_ > diversion->max_other_values) {
      too_many_values = true;
      ec = json::error::exception;  // any error stops the parse; the flag says which
      return false;
    }
    return true;
  }

  // Whether the value now starting is the `field` of an entry of the root
  // object's "inputs" array.
  bool AtInputField(std::string_view field) const {
    return diversion != nullptr && frames_.size() == 3 && frames_[0].is_object && frames_[0].key == "inputs" &&
           !frames_[1].is_object && frames_[2].is_object && frames_[2].key == field;
  }
  // The position in "inputs" of the entry AtInputField looked at.
  std::size_t InputPosition() const { return frames_[1].values - 1; }

  // Remembers the datatype of the current input, for data that follows it.
  void NoteDatatype() {
    const std::size_t position = InputPosition();
    if (datatypes_.size() <= position) datatypes_.resize(position + 1);
    datatypes_[position] = std::move(datatype_);
    datatype_.clear();
  }

  bool StartDiverting() {
    const std::size_t position = InputPosition();
    auto& by_input = diversion->by_input;
    if (by_input.size() <= position) by_input.resize(position + 1);
    current_ = &by_input[position].emplace();
    if (position < datatypes_.size()) {
      if (const std::optional<DType> dtype = DTypeFromName(datatypes_[position])) current_->converted.emplace(*dtype);
    }
    // The "data" value itself counts as one value of the document.
    ++other_values_;
    data_depth_ = 1;
    return true;
  }

  void AddLeaf(const json::value& leaf) {
    if (current_->converted) {
      current_->converted->Add(leaf);
    } else {
      current_->leaves.push_back(leaf);
    }
  }

  // The open containers outside tensor data, outermost first.
  std::vector<Frame> frames_;
  // The key being read, when the parser hands it over in parts.
  std::string key_;
  // The datatype string being read, likewise.
  std::string datatype_;
  // By position in "inputs": the "datatype" met so far.
  std::vector<std::string> datatypes_;
  // The leading parts of a number split across parser calls (the parser
  // hands over the last part with on_double); usually empty.
  std::string number_prefix_;
  // Values of the document outside tensor data.
  std::size_t other_values_ = 0;
  // Nesting inside the data array being diverted; 0 when not diverting.
  int data_depth_ = 0;
  // Nesting inside an object met in data (skipped; one bad leaf).
  int skip_depth_ = 0;
  // Where the leaves of the data being diverted go.
  DivertedData* current_ = nullptr;
};

}  // namespace

StatusOr<json::value> ParseJsonPrecisely(std::string_view text, std::size_t max_depth, json::storage_ptr storage,
                                         DataDiversion* diversion) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::basic_parser<PreciseValueHandler> parser(options);
  parser.handler().stack.reset(std::move(storage));
  parser.handler().diversion = diversion;
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) ec = json::error::extra_data;
  if (ec) {
    if (parser.handler().too_many_values) {
      return Status::InvalidArgument("request JSON holds more than " + std::to_string(diversion->max_other_values) +
                                     " values outside the inputs' 'data' arrays; send tensor data in 'data'");
    }
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
