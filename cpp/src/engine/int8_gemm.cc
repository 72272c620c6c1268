// mlship's weight-only int8 GEMM (see int8_gemm.h for why it exists).
//
// Each task takes a range of output channels. For each channel it widens 16
// int8 weights at a time to floats once and multiplies them with up to four
// rows of x, so the conversion is shared by four rows and the weight row is
// read from memory once per four rows. AVX-512 and AVX2 paths use intrinsics
// (auto-vectorization produced 128-bit code with a slow widening chain);
// other CPUs use the portable loop.
#include "mlship/engine/int8_gemm.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mlship {
namespace {

// Output channels per parallel task: enough work to amortize scheduling.
constexpr int64_t kChannelsPerTask = 16;
// Rows of x that share one widened weight vector.
constexpr int kRowsPerBlock = 4;

// sums[r] = dot(x + r * in, w) for r < rows (rows <= kRowsPerBlock).
using DotRowsFn = void (*)(const float* x, int rows, int64_t in, const int8_t* w, float* sums);

void DotRowsPortable(const float* x, int rows, int64_t in, const int8_t* w, float* sums) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    float total = 0;
    for (int64_t k = 0; k < in; ++k) total += xr[k] * static_cast<float>(w[k]);
    sums[r] = total;
  }
}

#if defined(__x86_64__)
// One row: four accumulators over consecutive blocks, so the adds are not
// one long dependency chain (the FMA latency would bound the loop).
__attribute__((target("avx512f"))) float DotOneRowAvx512(const float* x, int64_t in, const int8_t* w) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t k = 0;
  for (; k + 64 <= in; k += 64) {
    for (int j = 0; j < 4; ++j) {
      const int64_t at = k + 16 * j;
      __m512 wide =
          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + at))));
      acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(x + at), wide, acc[j]);
    }
  }
  for (; k + 16 <= in; k += 16) {
    __m512 wide = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k))));
    acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), wide, acc[0]);
  }
  float total = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  for (; k < in; ++k) total += x[k] * static_cast<float>(w[k]);
  return total;
}

__attribute__((target("avx512f"))) void DotRowsAvx512(const float* x, int rows, int64_t in, const int8_t* w,
                                                      float* sums) {
  if (rows == 1) {
    sums[0] = DotOneRowAvx512(x, in, w);
    return;
  }
  __m512 acc[kRowsPerBlock] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t k = 0;
  for (; k + 16 <= in; k += 16) {
    __m512 wide = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k))));
    for (int r = 0; r < rows; ++r) acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * in + k), wide, acc[r]);
  }
  for (int r = 0; r < rows; ++r) {
    float total = _mm512_reduce_add_ps(acc[r]);
    for (int64_t t = k; t < in; ++t) total += x[r * in + t] * static_cast<float>(w[t]);
    sums[r] = total;
  }
}

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
  return _mm_cvtss_f32(half);
}

__attribute__((target("avx2,fma"))) void DotRowsAvx2(const float* x, int rows, int64_t in, const int8_t* w,
                                                     float* sums) {
  __m256 acc[kRowsPerBlock] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t k = 0;
  if (rows == 1) {  // four accumulators over consecutive blocks, as in DotOneRowAvx512
    for (; k + 32 <= in; k += 32) {
      for (int j = 0; j < 4; ++j) {
        const int64_t at = k + 8 * j;
        __m256 wide =
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + at))));
        acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + at), wide, acc[j]);
      }
    }
    acc[0] = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  }
  for (; k + 8 <= in; k += 8) {
    __m256 wide = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + k))));
    for (int r = 0; r < rows; ++r) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * in + k), wide, acc[r]);
  }
  for (int r = 0; r < rows; ++r) {
    float total = HorizontalSum(acc[r]);
    for (int64_t t = k; t < in; ++t) total += x[r * in + t] * static_cast<float>(w[t]);
    sums[r] = total;
  }
}
#endif

bool Supported(Int8Isa isa) {
#if defined(__x86_64__)
  if (isa == Int8Isa::kAvx512) return __builtin_cpu_supports("avx512f");
  if (isa == Int8Isa::kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return isa == Int8Isa::kPortable;
}

DotRowsFn DotRowsFor(Int8Isa isa) {
#if defined(__x86_64__)
  if (isa == Int8Isa::kAvx512) return DotRowsAvx512;
  if (isa == Int8Isa::kAvx2) return DotRowsAvx2;
#endif
  return DotRowsPortable;
}

Int8Isa BestIsa() {
  for (Int8Isa isa : {Int8Isa::kAvx512, Int8Isa::kAvx2}) {
    if (Supported(isa)) return isa;
  }
  return Int8Isa::kPortable;
}

}  // namespace

bool Int8IsaSupported(Int8Isa isa) { return Supported(isa); }

void Int8WeightOnlyGemmWith(Int8Isa isa, const float* x, int64_t rows, int64_t in, const int8_t* w,
                            const float* scales, const float* bias, int64_t out, float* y) {
  const DotRowsFn dot_rows = DotRowsFor(isa);
  at::parallel_for(0, out, kChannelsPerTask, [&](int64_t begin, int64_t end) {
    float sums[kRowsPerBlock];
    for (int64_t n = begin; n < end; ++n) {
      const float b = bias != nullptr ? bias[n] : 0.0f;
      for (int64_t m = 0; m < rows; m += kRowsPerBlock) {
        const int block = static_cast<int>(std::min<int64_t>(kRowsPerBlock, rows - m));
        dot_rows(x + m * in, block, in, w + n * in, sums);
        for (int r = 0; r < block; ++r) y[(m + r) * out + n] = sums[r] * scales[n] + b;
      }
    }
  });
}

void Int8WeightOnlyGemm(const float* x, int64_t rows, int64_t in, const int8_t* w, const float* scales,
                        const float* bias, int64_t out, float* y) {
  static const Int8Isa best = BestIsa();
  Int8WeightOnlyGemmWith(best, x, rows, in, w, scales, bias, out, y);
}

}  // namespace mlship
