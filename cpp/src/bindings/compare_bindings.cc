// mlship._core.compare_outputs and default_tolerance: the golden-output
// comparison (engine/output_compare.h) for mlship.testing and the pytest plugin.
//
// Python must not reimplement the comparison: the repository's check in the
// C++ server and the plugin's golden files then agree on what "close" means.
// Inputs cross as DLPack (numpy arrays, torch tensors); the GIL is released
// while comparing. A bad tolerance raises InvalidInputError; data that cannot
// be compared (other shape or dtype) is a result with ok=False, not an error.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "dlpack.h"
#include "errors.h"
#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/output_compare.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

py::dict ToPython(const OutputComparison& r, const Tolerance& tol) {
  py::dict out;
  out["ok"] = r.ok;
  out["total"] = r.total;
  out["mismatched"] = r.mismatched;
  out["max_abs_diff"] = r.max_abs_diff;
  out["max_rel_diff"] = r.max_rel_diff;
  out["worst_index"] = py::tuple(py::cast(r.worst_index));
  out["worst_actual"] = r.worst_actual;
  out["worst_expected"] = r.worst_expected;
  out["message"] = r.message;
  out["rtol"] = tol.rtol;
  out["atol"] = tol.atol;
  return out;
}

DType ParseDType(const std::string& name) {
  std::optional<DType> dtype = DTypeFromName(name);
  if (!dtype) ThrowStatus(Status::InvalidArgument("unknown dtype '" + name + "'; expected one of " + AllDTypeNames()));
  return *dtype;
}

}  // namespace

void RegisterCompare(py::module_& m) {
  m.def(
      "compare_outputs",
      [](const py::handle& actual, const py::handle& expected, std::optional<double> rtol,
         std::optional<double> atol) {
        at::Tensor a = TensorFromPython(actual, "actual");
        at::Tensor e = TensorFromPython(expected, "expected");
        // Unset parts come from the expected dtype's default (complex and the like keep
        // Tolerance's own, and CompareOutputs reports the dtype).
        StatusOr<DType> dtype = FromScalarType(e.scalar_type());
        Tolerance tol = dtype.ok() ? DefaultTolerance(*dtype) : Tolerance{};
        if (rtol) tol.rtol = *rtol;
        if (atol) tol.atol = *atol;
        if (Status valid = ValidateTolerance(tol); !valid.ok()) ThrowStatus(valid);
        OutputComparison result;
        {
          py::gil_scoped_release release;
          result = CompareOutputs(a, e, tol);
        }
        return ToPython(result, tol);
      },
      py::arg("actual"), py::arg("expected"), py::arg("rtol") = py::none(), py::arg("atol") = py::none(),
      "Compares two arrays element by element: |actual - expected| <= atol + rtol * |expected|, NaN == NaN. "
      "rtol/atol default to the expected dtype's (default_tolerance). Returns a dict: ok, total, mismatched, "
      "max_abs_diff, max_rel_diff, worst_index, worst_actual, worst_expected, message, rtol, atol.");
  m.def(
      "default_tolerance",
      [](const std::string& dtype_name) {
        Tolerance tol = DefaultTolerance(ParseDType(dtype_name));
        return py::make_tuple(tol.rtol, tol.atol);
      },
      py::arg("dtype"), "(rtol, atol) a golden check uses for outputs of this KServe dtype name (\"FP32\", ...).");
}

}  // namespace mlship::bindings
