// CompareOutputs: element-wise closeness of two tensors, with the worst element named.
#include "mlship/engine/output_compare.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/error_text.h"
#include "mlship/engine/signature.h"

namespace mlship {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// printf's %g: short for messages ("0.0051", "1e-06", "inf", "nan").
std::string FormatNumber(double value, int significant_digits) {
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%.*g", significant_digits, value);
  return buffer;
}

std::vector<int64_t> Unravel(int64_t flat, at::IntArrayRef sizes) {
  std::vector<int64_t> index(sizes.size());
  for (std::size_t d = sizes.size(); d-- > 0;) {
    index[d] = flat % sizes[d];
    flat /= sizes[d];
  }
  return index;
}

OutputComparison Failed(std::string message) {
  OutputComparison out;
  out.ok = false;
  out.message = std::move(message);
  return out;
}

// "" when the two tensors can be compared element by element; else why not.
std::string Incomparable(const at::Tensor& actual, const at::Tensor& expected) {
  if (!actual.defined() || !expected.defined()) {
    return std::string("cannot compare: ") + (actual.defined() ? "expected" : "actual") + " is an undefined tensor";
  }
  StatusOr<DType> actual_type = FromScalarType(actual.scalar_type());
  if (!actual_type.ok()) return "actual: " + actual_type.status().message();
  StatusOr<DType> expected_type = FromScalarType(expected.scalar_type());
  if (!expected_type.ok()) return "expected: " + expected_type.status().message();
  std::string why;
  if (*actual_type != *expected_type) {
    why = "dtypes differ: actual " + std::string(DTypeName(*actual_type)) + ", expected " +
          std::string(DTypeName(*expected_type));
  }
  if (actual.sizes() != expected.sizes()) {
    if (!why.empty()) why += "; ";
    why += "shapes differ: actual " + ShapeToString(actual.sizes().vec()) + ", expected " +
           ShapeToString(expected.sizes().vec());
  }
  return why;
}

OutputComparison CompareSameShape(const at::Tensor& actual, const at::Tensor& expected, const Tolerance& tol) {
  OutputComparison out;
  at::Tensor a = actual.detach().to(at::kCPU).contiguous();
  at::Tensor e = expected.detach().to(at::kCPU).contiguous();
  out.total = a.numel();
  if (out.total == 0) return out;

  const bool floating = a.is_floating_point();
  // Equality in the tensors' own type: exact for int64 beyond 2^53, where doubles round.
  at::Tensor equal = a.eq(e);
  if (floating) equal = equal.logical_or(a.isnan().logical_and(e.isnan()));

  at::Tensor ad = a.to(at::kDouble);
  at::Tensor ed = e.to(at::kDouble);
  at::Tensor finite = ad.isfinite().logical_and(ed.isfinite());
  at::Tensor raw = (ad - ed).abs();
  // Distinct integers differ by at least 1, even where the doubles rounded them together.
  if (!floating) raw = raw.clamp_min(1.0);
  at::Tensor diff = at::where(equal, at::zeros_like(raw), at::where(finite, raw, at::full_like(raw, kInf)));

  at::Tensor allowed = ed.abs().mul(tol.rtol).add(tol.atol);
  const bool exact = !floating && tol.rtol == 0.0 && tol.atol == 0.0;
  at::Tensor within = exact ? equal : equal.logical_or(finite.logical_and(diff.le(allowed)));

  at::Tensor rel = at::where(diff.eq(0), at::zeros_like(diff), diff / ed.abs());
  rel = at::where(diff.isinf(), at::full_like(rel, kInf), rel);  // inf / inf would be NaN

  out.max_abs_diff = diff.max().item<double>();
  out.max_rel_diff = rel.max().item<double>();
  out.mismatched = within.logical_not().sum().item<int64_t>();
  out.ok = out.mismatched == 0;
  if (out.ok && out.max_abs_diff == 0.0) return out;

  // The largest |diff| among mismatched elements, or among all when none is.
  at::Tensor scores = out.ok ? diff : at::where(within, at::full_like(diff, -1.0), diff);
  const int64_t flat = scores.argmax().item<int64_t>();  // the first maximum, as documented
  out.worst_index = Unravel(flat, a.sizes());
  out.worst_actual = ad.reshape(-1)[flat].item<double>();
  out.worst_expected = ed.reshape(-1)[flat].item<double>();
  if (out.ok) return out;

  std::string why;
  if (std::isnan(out.worst_actual) || std::isnan(out.worst_expected)) {
    why = "NaN equals only NaN";
  } else if (std::isinf(out.worst_actual) || std::isinf(out.worst_expected)) {
    why = "an infinity equals only the same infinity";
  } else {
    why = "|diff| " + FormatNumber(diff.reshape(-1)[flat].item<double>(), 3) + " > " +
          FormatNumber(allowed.reshape(-1)[flat].item<double>(), 3);
  }
  out.message = std::to_string(out.mismatched) + " of " + std::to_string(out.total) + " elements " +
                (out.mismatched == 1 ? "differs" : "differ") + "; worst at " + ShapeToString(out.worst_index) +
                ": " + FormatNumber(out.worst_actual, 7) + " vs " + FormatNumber(out.worst_expected, 7) + " (" +
                why + ")";
  return out;
}

}  // namespace

Tolerance DefaultTolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return {1e-5, 1e-6};
    case DType::kFloat64: return {1e-7, 1e-7};
    case DType::kFloat16: return {1e-3, 1e-3};
    case DType::kBFloat16: return {1e-2, 1e-2};
    case DType::kBool:
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64: return {0.0, 0.0};
  }
  return {};
}

Status ValidateTolerance(const Tolerance& tol) {
  for (auto [name, value] : {std::pair{"rtol", tol.rtol}, std::pair{"atol", tol.atol}}) {
    if (!std::isfinite(value) || value < 0.0) {
      return Status::InvalidArgument(std::string(name) + " must be a finite number >= 0; was " +
                                     FormatNumber(value, 6));
    }
  }
  return Status::Ok();
}

OutputComparison CompareOutputs(const at::Tensor& actual, const at::Tensor& expected, const Tolerance& tol) {
  if (Status valid = ValidateTolerance(tol); !valid.ok()) return Failed("invalid tolerance: " + valid.message());
  if (std::string why = Incomparable(actual, expected); !why.empty()) return Failed(std::move(why));
  try {
    return CompareSameShape(actual, expected, tol);
  } catch (const std::exception& e) {
    // Sparse or otherwise unreadable tensors: report, never throw (the server keeps serving).
    return Failed("cannot compare: " + ErrorSummary(e));
  }
}

}  // namespace mlship
