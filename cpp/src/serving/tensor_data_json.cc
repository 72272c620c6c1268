// Reading and writing KServe JSON tensor data, with type and range checks.
#include "tensor_data_json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "json_text.h"
#include "mlship/serving/float16.h"

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

// Why one JSON value could not become an element.
enum class Conversion { kOk, kWrongType, kNotInteger, kOutOfRange };

template <typename T>
Conversion ToInteger(const json::value& value, T& out) {
  using Limits = std::numeric_limits<T>;
  if (value.is_int64()) {
    const int64_t x = value.get_int64();
    if constexpr (std::is_signed_v<T>) {
      if (x < Limits::min() || x > Limits::max()) return Conversion::kOutOfRange;
    } else {
      if (x < 0 || static_cast<uint64_t>(x) > Limits::max()) return Conversion::kOutOfRange;
    }
    out = static_cast<T>(x);
    return Conversion::kOk;
  }
  if (value.is_uint64()) {  // Boost.JSON uses uint64 only above INT64_MAX
    const uint64_t x = value.get_uint64();
    if (x > static_cast<uint64_t>(Limits::max())) return Conversion::kOutOfRange;
    out = static_cast<T>(x);
    return Conversion::kOk;
  }
  if (value.is_double()) {  // accept 3.0 (Python writes floats that way), refuse 3.5
    const double x = value.get_double();
    if (!std::isfinite(x)) return Conversion::kOutOfRange;
    if (std::trunc(x) != x) return Conversion::kNotInteger;
    // [min, max + 1): both bounds are powers of two (or 0), exact in double.
    const double low = static_cast<double>(Limits::min());
    const double high = std::ldexp(1.0, Limits::digits);
    if (x < low || x >= high) return Conversion::kOutOfRange;
    out = static_cast<T>(x);
    return Conversion::kOk;
  }
  return Conversion::kWrongType;
}

Conversion ToDouble(const json::value& value, double& out) {
  if (value.is_double()) {
    out = value.get_double();
  } else if (value.is_int64()) {
    out = static_cast<double>(value.get_int64());
  } else if (value.is_uint64()) {
    out = static_cast<double>(value.get_uint64());
  } else {
    return Conversion::kWrongType;
  }
  return std::isfinite(out) ? Conversion::kOk : Conversion::kOutOfRange;
}

// How each element type is read from JSON and described in messages.
template <typename T>
struct IntegerElement {
  static Conversion Convert(const json::value& value, uint8_t* slot) {
    T element{};
    const Conversion result = ToInteger(value, element);
    if (result == Conversion::kOk) std::memcpy(slot, &element, sizeof(T));
    return result;
  }
  static std::string Range() {
    return std::to_string(+std::numeric_limits<T>::min()) + " to " + std::to_string(+std::numeric_limits<T>::max());
  }
  static constexpr std::string_view kExpected = "integers";
};

struct BoolElement {
  static Conversion Convert(const json::value& value, uint8_t* slot) {
    if (!value.is_bool()) return Conversion::kWrongType;
    *slot = value.get_bool() ? 1 : 0;
    return Conversion::kOk;
  }
  static std::string Range() { return "true or false"; }
  static constexpr std::string_view kExpected = "true or false";
};

struct Float32Element {
  static Conversion Convert(const json::value& value, uint8_t* slot) {
    double x = 0;
    if (const Conversion result = ToDouble(value, x); result != Conversion::kOk) return result;
    // A finite double converts to the nearest float (implementation-defined
    // only between FLT_MAX and infinity, where IEEE rounding applies).
    const float element = static_cast<float>(x);
    if (std::isinf(element)) return Conversion::kOutOfRange;
    std::memcpy(slot, &element, sizeof element);
    return Conversion::kOk;
  }
  static std::string Range() { return "magnitude up to 3.4028235e+38"; }
  static constexpr std::string_view kExpected = "numbers";
};

struct Float64Element {
  static Conversion Convert(const json::value& value, uint8_t* slot) {
    double x = 0;
    if (const Conversion result = ToDouble(value, x); result != Conversion::kOk) return result;
    std::memcpy(slot, &x, sizeof x);
    return Conversion::kOk;
  }
  static std::string Range() { return "finite numbers"; }
  static constexpr std::string_view kExpected = "numbers";
};

struct Float16Element {
  static Conversion Convert(const json::value& value, uint8_t* slot) {
    double x = 0;
    if (const Conversion result = ToDouble(value, x); result != Conversion::kOk) return result;
    // KServe JSON carries FP16 as plain numbers: round each to the nearest
    // half (ties to even); only values that round beyond 65504 overflow.
    const uint16_t half = HalfFromDouble(x);
    if ((half & 0x7FFF) == 0x7C00) return Conversion::kOutOfRange;
    std::memcpy(slot, &half, sizeof half);
    return Conversion::kOk;
  }
  static std::string Range() { return "magnitude up to 65504"; }
  static constexpr std::string_view kExpected = "numbers";
};

// Element::Convert with the Conversion as an int, so JsonDataWriter can hold
// it through a plain function pointer.
template <typename Element>
int ConvertAs(const json::value& value, uint8_t* slot) {
  return static_cast<int>(Element::Convert(value, slot));
}

// Why `value` did not convert, in words.
template <typename Element>
std::string ConversionError(const json::value& value, int64_t index, DType dtype, Conversion result) {
  std::string message = "element " + std::to_string(index) + " is " + DescribeJsonValue(value);
  if (result == Conversion::kOutOfRange) {
    message += ", out of range for " + std::string(DTypeName(dtype)) + " (" + Element::Range() + ")";
  } else {
    message += "; " + std::string(DTypeName(dtype)) + " data must be " + std::string(Element::kExpected);
  }
  return message;
}

// Calls visit.template operator()<Element>() for `dtype`'s element type;
// returns false for BF16, which has none.
template <typename Visit>
bool WithElement(DType dtype, Visit&& visit) {
  switch (dtype) {
    case DType::kBool: visit(BoolElement{}); return true;
    case DType::kInt8: visit(IntegerElement<int8_t>{}); return true;
    case DType::kInt16: visit(IntegerElement<int16_t>{}); return true;
    case DType::kInt32: visit(IntegerElement<int32_t>{}); return true;
    case DType::kInt64: visit(IntegerElement<int64_t>{}); return true;
    case DType::kUInt8: visit(IntegerElement<uint8_t>{}); return true;
    case DType::kUInt16: visit(IntegerElement<uint16_t>{}); return true;
    case DType::kUInt32: visit(IntegerElement<uint32_t>{}); return true;
    case DType::kUInt64: visit(IntegerElement<uint64_t>{}); return true;
    case DType::kFloat16: visit(Float16Element{}); return true;
    case DType::kFloat32: visit(Float32Element{}); return true;
    case DType::kFloat64: visit(Float64Element{}); return true;
    case DType::kBFloat16: break;
  }
  return false;
}

// Appends one number written by std::to_chars: the shortest text that reads
// back to the same value.
template <typename T>
void AppendNumber(std::string& out, T value) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      out += "null";  // JSON cannot spell NaN or infinity
      return;
    }
  }
  char buffer[40];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// Appends `count` elements of type Stored, each converted by `widen` first.
template <typename Stored, typename Widen>
void AppendElements(std::string& out, const uint8_t* bytes, int64_t count, Widen widen) {
  out += '[';
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    Stored element;
    std::memcpy(&element, bytes + static_cast<std::size_t>(i) * sizeof(Stored), sizeof(Stored));
    AppendNumber(out, widen(element));
  }
  out += ']';
}

template <typename T>
void AppendPlain(std::string& out, const uint8_t* bytes, int64_t count) {
  AppendElements<T>(out, bytes, count, [](T x) { return x; });
}

}  // namespace

JsonDataWriter::JsonDataWriter(DType dtype) : dtype_(dtype), element_size_(DTypeSize(dtype)), convert_(nullptr) {
  WithElement(dtype, [this](auto element) { convert_ = &ConvertAs<decltype(element)>; });
}

void JsonDataWriter::Add(const json::value& leaf) {
  const int64_t index = count_++;
  if (convert_ == nullptr || !first_error_.empty()) return;
  const std::size_t offset = bytes_.size();
  bytes_.resize(offset + element_size_);
  const auto result = static_cast<Conversion>(convert_(leaf, bytes_.data() + offset));
  if (result == Conversion::kOk) return;
  WithElement(dtype_, [&](auto element) {
    first_error_ = ConversionError<decltype(element)>(leaf, index, dtype_, result);
  });
  bytes_ = {};  // nothing more is kept once the request is known to fail
}

Status JsonDataWriter::status(std::string_view input) const {
  if (convert_ == nullptr) {
    return Status::InvalidArgument("input '" + std::string(input) +
                                   "': BF16 has no JSON form in KServe v2; send it as binary data "
                                   "(parameters.binary_data_size) or convert it to FP32");
  }
  if (first_error_.empty()) return Status::Ok();
  return Status::InvalidArgument("input '" + std::string(input) + "': " + first_error_);
}

Status CheckBinaryBools(const uint8_t* bytes, std::size_t count, std::string_view input) {
  for (std::size_t i = 0; i < count; ++i) {
    if (bytes[i] > 1) {
      return Status::InvalidArgument("input '" + std::string(input) + "': binary BOOL element " + std::to_string(i) +
                                     " is byte " + std::to_string(bytes[i]) + "; BOOL bytes must be 0 or 1");
    }
  }
  return Status::Ok();
}

void AppendJsonData(std::string& out, const HostTensor& tensor) {
  const uint8_t* bytes = tensor.data.get();
  const int64_t count = tensor.NumElements();
  switch (tensor.dtype) {
    case DType::kBool:
      out += '[';
      for (int64_t i = 0; i < count; ++i) {
        if (i > 0) out += ',';
        out += bytes[i] != 0 ? "true" : "false";
      }
      out += ']';
      return;
    // Unary + promotes 8-bit types so to_chars writes numbers, not characters.
    case DType::kInt8: return AppendElements<int8_t>(out, bytes, count, [](int8_t x) { return +x; });
    case DType::kUInt8: return AppendElements<uint8_t>(out, bytes, count, [](uint8_t x) { return +x; });
    case DType::kInt16: return AppendPlain<int16_t>(out, bytes, count);
    case DType::kInt32: return AppendPlain<int32_t>(out, bytes, count);
    case DType::kInt64: return AppendPlain<int64_t>(out, bytes, count);
    case DType::kUInt16: return AppendPlain<uint16_t>(out, bytes, count);
    case DType::kUInt32: return AppendPlain<uint32_t>(out, bytes, count);
    case DType::kUInt64: return AppendPlain<uint64_t>(out, bytes, count);
    case DType::kFloat16: return AppendElements<uint16_t>(out, bytes, count, HalfToFloat);
    case DType::kBFloat16: return AppendElements<uint16_t>(out, bytes, count, BFloat16ToFloat);
    case DType::kFloat32: return AppendPlain<float>(out, bytes, count);
    case DType::kFloat64: return AppendPlain<double>(out, bytes, count);
  }
}

}  // namespace mlship::serving::internal
