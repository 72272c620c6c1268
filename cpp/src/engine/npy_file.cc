// A bounded reader of numeric .npy files (see npy_file.h for why it is
// written here).
#include "mlship/engine/npy_file.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

namespace mlship {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// numpy pads headers to a multiple of 64 bytes and keeps them short; 64 KiB
// is far beyond any real one (the v1 format cannot even say more).
constexpr std::size_t kMaxHeaderBytes = 64 << 10;
constexpr std::size_t kMaxRank = 32;

Status Bad(const NpyReadOptions& options, const std::string& name, const std::string& what) {
  return Status::InvalidArgument(options.role + " " + name + ": " + what);
}

// The dtype of a numpy type string without its byte-order mark ("f4",
// "i8", "b1", ...).
std::optional<DType> DTypeOfNumpyCode(std::string_view code) {
  static const std::pair<std::string_view, DType> kCodes[] = {
      {"b1", DType::kBool},     {"i1", DType::kInt8},     {"i2", DType::kInt16},   {"i4", DType::kInt32},
      {"i8", DType::kInt64},    {"u1", DType::kUInt8},    {"u2", DType::kUInt16},  {"u4", DType::kUInt32},
      {"u8", DType::kUInt64},   {"f2", DType::kFloat16},  {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
  };
  for (const auto& [name, dtype] : kCodes) {
    if (code == name) return dtype;
  }
  return std::nullopt;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// The text after "'key':" in the header dict, up to the end of the header;
// empty when the key is missing.
std::string_view ValueOf(std::string_view header, std::string_view key) {
  const std::string quoted = "'" + std::string(key) + "'";
  std::size_t at = header.find(quoted);
  if (at == std::string_view::npos) return {};
  at = header.find(':', at + quoted.size());
  if (at == std::string_view::npos) return {};
  return Trim(header.substr(at + 1));
}

uint64_t LittleEndian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses "(3, 4)", "(5,)" or "()" at the start of `text`.
bool ParseShape(std::string_view text, std::vector<int64_t>& shape) {
  if (text.empty() || text.front() != '(') return false;
  const std::size_t close = text.find(')');
  if (close == std::string_view::npos) return false;
  std::string_view inside = text.substr(1, close - 1);
  while (!Trim(inside).empty()) {
    const std::size_t comma = inside.find(',');
    const std::string_view item = Trim(inside.substr(0, comma));
    if (item.empty() || item.size() > 18 || shape.size() >= kMaxRank) return false;
    int64_t dim = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      dim = dim * 10 + (c - '0');
    }
    shape.push_back(dim);
    if (comma == std::string_view::npos) break;
    inside.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

StatusOr<NpyArray> ParseNpy(std::string_view bytes, const std::string& name, const NpyReadOptions& options) {
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic) {
    return Bad(options, name, "not a .npy file (expected it to start with \\x93NUMPY; save it with numpy.save)");
  }
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = raw[6];
  if (major < 1 || major > 3) {
    return Bad(options, name, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(raw[7]) +
                         "; expected 1.0, 2.0 or 3.0");
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t preamble = 8 + length_bytes;
  if (bytes.size() < preamble) return Bad(options, name, "the file ends inside its preamble");
  const uint64_t header_bytes = LittleEndian(raw + 8, static_cast<int>(length_bytes));
  if (header_bytes > kMaxHeaderBytes || header_bytes > bytes.size() - preamble) {
    return Bad(options, name, "its header claims " + std::to_string(header_bytes) + " bytes; the file holds " +
                         std::to_string(bytes.size() - preamble) + " after the preamble (at most " +
                         std::to_string(kMaxHeaderBytes) + " accepted)");
  }
  const std::string_view header = bytes.substr(preamble, header_bytes);
  const std::string_view data = bytes.substr(preamble + header_bytes);

  NpyArray out;
  const std::string_view descr = ValueOf(header, "descr");
  // '<f4', '>i8', '|b1': a byte-order mark, then the type code.
  std::optional<DType> dtype;
  if (descr.size() >= 5 && descr[0] == '\'' && (descr[1] == '<' || descr[1] == '>' || descr[1] == '|') &&
      descr[4] == '\'') {
    dtype = DTypeOfNumpyCode(descr.substr(2, 2));
  }
  if (dtype && options.float_only && *dtype != DType::kFloat32 && *dtype != DType::kFloat64) dtype.reset();
  if (!dtype) {
    const std::string shown(descr.substr(0, std::min<std::size_t>(descr.size(), 24)));
    return Bad(options, name, "holds dtype " + (shown.empty() ? std::string("(none)") : shown) + "; expected " +
                                  (options.float_only
                                       ? "float32 ('<f4') or float64 ('<f8'): convert it with X.astype(np.float32)"
                                       : "a plain numeric dtype (bool, int8..int64, uint8..uint64, float16/32/64)"));
  }
  out.dtype = *dtype;
  const bool file_big_endian = descr[1] == '>';
  const bool swap = file_big_endian != (std::endian::native == std::endian::big);
  const std::string_view fortran = ValueOf(header, "fortran_order");
  if (fortran.rfind("True", 0) == 0) {
    out.fortran_order = true;
  } else if (fortran.rfind("False", 0) != 0) {
    return Bad(options, name, "its header has no fortran_order True/False");
  }
  if (!ParseShape(ValueOf(header, "shape"), out.shape)) {
    return Bad(options, name, "its header has no readable shape (expected a tuple of at most " + std::to_string(kMaxRank) +
                         " non-negative integers)");
  }
  const auto item = static_cast<int64_t>(DTypeSize(out.dtype));
  int64_t expected = item;
  for (int64_t dim : out.shape) {
    if (dim != 0 && expected > options.max_data_bytes / dim) {
      return Bad(options, name, "its shape needs more than the " + std::to_string(options.max_data_bytes) +
                           " bytes accepted for a reference");
    }
    expected *= dim;
  }
  if (static_cast<int64_t>(data.size()) != expected) {
    return Bad(options, name, "its shape and dtype need " + std::to_string(expected) + " bytes of values; the file holds " +
                         std::to_string(data.size()));
  }
  out.data.assign(data.begin(), data.end());
  if (swap && item > 1) {
    for (std::size_t at = 0; at < out.data.size(); at += static_cast<std::size_t>(item)) {
      std::reverse(out.data.begin() + static_cast<std::ptrdiff_t>(at),
                   out.data.begin() + static_cast<std::ptrdiff_t>(at + static_cast<std::size_t>(item)));
    }
  }
  return out;
}

StatusOr<NpyArray> ReadNpyFile(const std::string& path, const NpyReadOptions& options) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return Bad(options, path, "cannot open it (missing or unreadable)");
  const std::streamoff size = file.tellg();
  if (size < 0) return Bad(options, path, "cannot read its size");
  const int64_t limit = options.max_data_bytes + static_cast<int64_t>(kMaxHeaderBytes) + 16;
  if (size > limit) {
    return Bad(options, path, "it is " + std::to_string(size) + " bytes; at most " + std::to_string(limit) +
                         " are accepted for a reference");
  }
  std::string bytes(static_cast<std::size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(bytes.data(), size)) return Bad(options, path, "reading it failed");
  return ParseNpy(bytes, path, options);
}

}  // namespace mlship
