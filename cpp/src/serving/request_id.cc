// Request ids for both front ends.
#include "request_id.h"

#include <cstdint>
#include <random>

namespace mlship::serving::internal {

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  uint64_t bits = rng();
  std::string id(16, '0');
  for (char& c : id) {
    c = kHex[bits & 15];
    bits >>= 4;
  }
  return id;
}

std::string HeaderSafeId(std::string_view id) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (const char c : id) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

}  // namespace mlship::serving::internal
