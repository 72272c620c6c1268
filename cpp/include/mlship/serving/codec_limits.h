// CodecLimits: the bounds the KServe v2 codec puts on untrusted requests.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mlship::serving {

// Bounds on what one inference request may ask the codec to build. They keep
// a malicious or mistaken client from exhausting memory or the stack; the
// HTTP body limit (HttpServerOptions::max_body_bytes) bounds the rest. Most
// users should leave these alone.
struct CodecLimits {
  // Deepest nesting of JSON arrays and objects accepted. A request needs
  // 3 levels plus the rank for nested "data" (object > inputs > input >
  // data), so the default allows nested data up to rank 61. Deeper input is
  // refused with 400 before it is built. Default 64; range 4..1024.
  std::size_t max_json_depth = 64;

  // Most elements in one tensor, input or output. Bounds the memory a single
  // binary input can claim through its shape. Beyond it a request gets 413.
  // Default 64 Mi (67,108,864) elements, 256 MiB of FP32.
  int64_t max_elements_per_tensor = int64_t{64} << 20;

  // Longest request "id" accepted, in bytes; it is echoed in the response.
  // Default 1024.
  std::size_t max_id_bytes = 1024;
};

}  // namespace mlship::serving
