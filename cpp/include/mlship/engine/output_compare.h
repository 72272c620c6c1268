// Comparing a model's outputs with expected (golden) outputs, within a tolerance.
//
// The one comparison routine behind every "does this model still give the
// same answers" check: the repository's golden-output check before a version
// takes traffic (C++ server, no Python) and the pytest plugin's golden files
// and mlship.testing.assert_outputs_close (through mlship._core.compare_outputs).
// Both must agree on what "close" means, so neither reimplements it.
//
// An element is within tolerance when
//     |actual - expected| <= atol + rtol * |expected|
// (the rule of numpy.isclose and torch.isclose, asymmetric: the expected value
// scales the tolerance). NaN equals NaN; an infinity equals only the same
// infinity. Integer and bool tensors with a zero tolerance are compared
// exactly in their own type, so int64 values beyond 2^53 are not rounded.
//
// Thread-safety: pure functions, safe to call concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mlship/engine/dtype.h"
#include "mlship/status.h"

namespace mlship {

// How far an element may be from its expected value: atol + rtol * |expected|.
struct Tolerance {
  // Relative part, scaled by |expected|. Must be finite and >= 0.
  double rtol = 1e-5;
  // Absolute part, which covers expected values near zero. Must be finite and >= 0.
  double atol = 1e-6;
};

// The tolerance a golden check uses for outputs of `dtype` when the user gives none.
//
// Chosen so that the same model on another machine (other CPU features, so
// other kernels and summation orders) or the next patch release of torch still
// passes, while a changed weight or a wrong op does not:
//   FP32           rtol 1e-5, atol 1e-6  (a few ulps of float32's 1.2e-7 epsilon per
//                                          accumulated op, over typical reductions)
//   FP64           rtol 1e-7, atol 1e-7  (torch.testing's float64 default; float64
//                                          kernels differ far less than this)
//   FP16           rtol 1e-3, atol 1e-3  (float16 epsilon is 9.8e-4)
//   BF16           rtol 1e-2, atol 1e-2  (bfloat16 epsilon is 7.8e-3)
//   integers, BOOL exact (0, 0)          (class indices, counts, masks: any change is real)
Tolerance DefaultTolerance(DType dtype);

// OK when both parts are finite and >= 0; else InvalidArgument naming the value.
Status ValidateTolerance(const Tolerance& tol);

// The result of CompareOutputs. Plain values, so it can be logged, returned
// over HTTP or turned into a Python dict without touching tensors again.
struct OutputComparison {
  // Shapes and dtypes agree and every element is within tolerance.
  bool ok = true;
  // Elements compared (0 when shapes or dtypes differ: nothing was compared).
  int64_t total = 0;
  // Elements outside |a - e| <= atol + rtol * |e| (NaN == NaN counts as equal).
  int64_t mismatched = 0;
  // Largest |actual - expected| over all elements; +inf where one side is NaN
  // or infinite and the other is not the same value.
  double max_abs_diff = 0.0;
  // Largest |actual - expected| / |expected|; +inf where expected is 0 and
  // actual is not, 0 for equal elements.
  double max_rel_diff = 0.0;
  // Row-major index of the worst element: the largest |diff| among mismatched
  // elements, or over all elements when none is mismatched. Empty when every
  // element is equal (or there are none). Ties go to the first.
  std::vector<int64_t> worst_index;
  // The values at worst_index (0 when it is empty).
  double worst_actual = 0.0, worst_expected = 0.0;
  // "" when ok; else names the shape/dtype mismatch or the invalid tolerance, or
  // "3 of 640 elements differ; worst at [2, 7]: 0.513 vs 0.498 (|diff| 0.015 > 0.0051)"
  // (values to 7 significant digits; "(NaN equals only NaN)" when the worst is a NaN).
  std::string message;
};

// Compares `actual` with `expected` element by element, within `tol`.
//
// Tensors may live on any device and have any strides; they are read on the
// CPU. Different dtypes or shapes, a dtype mlship does not serve (complex,
// quantized) or an invalid tolerance give ok = false and a message; this
// function never throws for data it was given.
OutputComparison CompareOutputs(const at::Tensor& actual, const at::Tensor& expected, const Tolerance& tol);

}  // namespace mlship
