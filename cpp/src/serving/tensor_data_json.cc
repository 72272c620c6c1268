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

// Visits the leaves of flat or nested `data` in row-major order, counting
// them in `index`. Recursion depth is bounded by the parser's max_depth.
template <typename Visit>
Status ForEachLeaf(const json::array& data, int64_t& index, Visit& visit) {
  for (const json::value& value : data) {
    if (const json::array* nested = value.if_array()) {
      RETURN_IF_ERROR(ForEachLeaf(*nested, index, visit));
    } else {
      RETURN_IF_ERROR(visit(value, index));
      ++index;
    }
  }
  return Status::Ok();
}

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

template <typename Element>
Status ReadElements(const json::array& data, DType dtype, std::string_view input, uint8_t* out) {
  const std::size_t element_size = DTypeSize(dtype);
  auto visit = [&](const json::value& value, int64_t index) -> Status {
    const Conversion result = Element::Convert(value, out + static_cast<std::size_t>(index) * element_size);
    if (result == Conversion::kOk) return Status::Ok();
    std::string message = "input '" + std::string(input) + "': element " + std::to_string(index) + " is " +
                          DescribeJsonValue(value);
    if (result == Conversion::kOutOfRange) {
      message += ", out of range for " + std::string(DTypeName(dtype)) + " (" + Element::Range() + ")";
    } else {
      message += "; " + std::string(DTypeName(dtype)) + " data must be " + std::string(Element::kExpected);
    }
    return Status::InvalidArgument(std::move(message));
  };
  int64_t index = 0;
  return ForEachLeaf(data, index, visit);
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

int64_t CountDataElements(const json::array& data) {
  int64_t count = 0;
  for (const json::value& value : data) {
    const json::array* nested = value.if_array();
    count += nested != nullptr ? CountDataElements(*nested) : 1;
  }
  return count;
}

Status ReadJsonData(const json::array& data, DType dtype, std::string_view input, uint8_t* out) {
  switch (dtype) {
    case DType::kBool: return ReadElements<BoolElement>(data, dtype, input, out);
    case DType::kInt8: return ReadElements<IntegerElement<int8_t>>(data, dtype, input, out);
    case DType::kInt16: return ReadElements<IntegerElement<int16_t>>(data, dtype, input, out);
    case DType::kInt32: return ReadElements<IntegerElement<int32_t>>(data, dtype, input, out);
    case DType::kInt64: return ReadElements<IntegerElement<int64_t>>(data, dtype, input, out);
    case DType::kUInt8: return ReadElements<IntegerElement<uint8_t>>(data, dtype, input, out);
    case DType::kUInt16: return ReadElements<IntegerElement<uint16_t>>(data, dtype, input, out);
    case DType::kUInt32: return ReadElements<IntegerElement<uint32_t>>(data, dtype, input, out);
    case DType::kUInt64: return ReadElements<IntegerElement<uint64_t>>(data, dtype, input, out);
    case DType::kFloat16: return ReadElements<Float16Element>(data, dtype, input, out);
    case DType::kFloat32: return ReadElements<Float32Element>(data, dtype, input, out);
    case DType::kFloat64: return ReadElements<Float64Element>(data, dtype, input, out);
    case DType::kBFloat16: break;
  }
  return Status::InvalidArgument("input '" + std::string(input) +
                                 "': BF16 has no JSON form in KServe v2; send it as binary data "
                                 "(parameters.binary_data_size) or convert it to FP32");
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
