// mlship's weight-only int8 matrix multiply: float activations times int8
// weights with one scale per output channel.
//
// Hand-written because torch's own weight-only kernel
// (aten::_weight_int8pack_mm) ran 8x slower than the fp32 Linear on the
// AVX-512 machines we measured, and because quantized models must keep
// running on a LibTorch built without FBGEMM. GCC's target_clones compiles
// the inner loop for AVX-512, AVX2 and baseline x86-64 and picks one at load.
#pragma once

#include <cstdint>

namespace mlship {

// y[m, n] = scales[n] * sum_k x[m, k] * w[n, k] + (bias ? bias[n] : 0)
// x: [rows, in] float, w: [out, in] int8, y: [rows, out] float; all
// row-major and contiguous. Parallel over output channels (at::parallel_for).
void Int8WeightOnlyGemm(const float* x, int64_t rows, int64_t in, const int8_t* w, const float* scales,
                        const float* bias, int64_t out, float* y);

// The instruction sets the kernel has a path for. Int8WeightOnlyGemm picks the
// best one this CPU supports; tests run each explicitly.
enum class Int8Isa { kPortable, kAvx2, kAvx512 };
bool Int8IsaSupported(Int8Isa isa);
// Int8WeightOnlyGemm on a given path; `isa` must be supported.
void Int8WeightOnlyGemmWith(Int8Isa isa, const float* x, int64_t rows, int64_t in, const int8_t* w,
                            const float* scales, const float* bias, int64_t out, float* y);

}  // namespace mlship
