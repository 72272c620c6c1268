// mlship's weight-only int8 GEMM (see int8_gemm.h for why it exists).
#include "mlship/engine/int8_gemm.h"

#include <ATen/Parallel.h>

#include <vector>

namespace mlship {
namespace {

// Output channels per parallel task: enough work to amortize scheduling.
constexpr int64_t kChannelsPerTask = 16;

// Sixteen independent partial sums let the compiler vectorize the loop
// without reassociating float additions (no -ffast-math needed).
#define MLSHIP_INT8_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

MLSHIP_INT8_CLONES float DotInt8(const float* x, const int8_t* w, int64_t n) {
  float acc[16] = {};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += x[k + j] * static_cast<float>(w[k + j]);
  }
  float total = 0;
  for (int j = 0; j < 16; ++j) total += acc[j];
  for (; k < n; ++k) total += x[k] * static_cast<float>(w[k]);
  return total;
}

MLSHIP_INT8_CLONES float DotFloat(const float* x, const float* w, int64_t n) {
  float acc[16] = {};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += x[k + j] * w[k + j];
  }
  float total = 0;
  for (int j = 0; j < 16; ++j) total += acc[j];
  for (; k < n; ++k) total += x[k] * w[k];
  return total;
}

MLSHIP_INT8_CLONES void Widen(const int8_t* w, int64_t n, float* out) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(w[k]);
}

}  // namespace

void Int8WeightOnlyGemm(const float* x, int64_t rows, int64_t in, const int8_t* w, const float* scales,
                        const float* bias, int64_t out, float* y) {
  at::parallel_for(0, out, kChannelsPerTask, [&](int64_t begin, int64_t end) {
    // With one row, each weight is read once: dequantize on the fly. With
    // more, widen each weight row once and reuse it for every row of x.
    std::vector<float> widened(rows > 1 ? in : 0);
    for (int64_t n = begin; n < end; ++n) {
      const int8_t* wn = w + n * in;
      const float b = bias != nullptr ? bias[n] : 0.0f;
      if (rows == 1) {
        y[n] = DotInt8(x, wn, in) * scales[n] + b;
        continue;
      }
      Widen(wn, in, widened.data());
      for (int64_t m = 0; m < rows; ++m) y[m * out + n] = DotFloat(x + m * in, widened.data(), in) * scales[n] + b;
    }
  });
}

}  // namespace mlship
