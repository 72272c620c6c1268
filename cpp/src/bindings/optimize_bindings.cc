// mlship._core optimization passes: quantize(), prune(), low_rank(), fold().
//
// Each takes a Model and returns (new Model, report dict). The GIL is
// released while a pass runs (passes freeze graphs, run SVDs and time
// kernels). Errors surface as mlship exceptions via ThrowStatus.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dlpack.h"
#include "errors.h"
#include "mlship/engine/int8_linear.h"
#include "mlship/optimize/cpu_features.h"
#include "mlship/optimize/fold.h"
#include "mlship/optimize/low_rank.h"
#include "mlship/optimize/prune.h"
#include "mlship/optimize/quantize.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

py::tuple ToPython(StatusOr<OptimizedModel> result) {
  if (!result.ok()) ThrowStatus(result.status());
  const PassReport& report = result->report;
  py::dict details;
  for (const auto& [key, value] : report.details) details[py::str(key)] = value;
  py::dict out;
  out["technique"] = report.technique;
  out["layers_seen"] = report.layers_seen;
  out["layers_changed"] = report.layers_changed;
  out["summary"] = report.summary;
  out["details"] = details;
  return py::make_tuple(result->model, out);
}

// Runs a pass with the GIL released and converts its result.
template <typename Pass>
py::tuple RunWithoutGil(Pass pass) {
  StatusOr<OptimizedModel> result = Status::Internal("not run");
  {
    py::gil_scoped_release release;
    result = pass();
  }
  return ToPython(std::move(result));
}

template <typename T>
T Unwrap(StatusOr<T> value) {
  if (!value.ok()) ThrowStatus(value.status());
  return std::move(value).value();
}

}  // namespace

void RegisterOptimize(py::module_& m) {
  m.def(
      "quantize",
      [](const std::shared_ptr<Model>& model, const std::string& dtype, const std::string& int8_mode,
         int timing_runs, const py::list& calibration, bool force_int8_convolutions) {
        QuantizeOptions options;
        options.dtype = Unwrap(ParseQuantDType(dtype));
        options.int8_mode = Unwrap(ParseInt8Mode(int8_mode));
        options.timing_runs = timing_runs;
        // Batches of arrays (checked against the signature in Python), copied
        // so the pass can run without the GIL.
        for (const py::handle batch : calibration) {
          std::vector<at::Tensor> inputs;
          for (const py::handle array : batch.cast<py::sequence>()) {
            inputs.push_back(TensorFromPython(array, "calibration input").clone());
          }
          options.calibration.push_back(std::move(inputs));
        }
        options.force_int8_convolutions = force_int8_convolutions;
        return RunWithoutGil([&] { return Quantize(model, options); });
      },
      py::arg("model"), py::arg("dtype"), py::arg("int8_mode"), py::arg("timing_runs"),
      py::arg("calibration") = py::list(), py::arg("force_int8_convolutions") = false);
  m.def(
      "prune",
      [](const std::shared_ptr<Model>& model, double amount) {
        PruneOptions options;
        options.amount = amount;
        return RunWithoutGil([&] { return Prune(model, options); });
      },
      py::arg("model"), py::arg("amount"));
  m.def(
      "low_rank",
      [](const std::shared_ptr<Model>& model, std::optional<int> rank, double energy) {
        LowRankOptions options;
        options.rank = rank;
        options.energy = energy;
        return RunWithoutGil([&] { return LowRank(model, options); });
      },
      py::arg("model"), py::arg("rank"), py::arg("energy"));
  m.def(
      "fold",
      [](const std::shared_ptr<Model>& model, const std::string& prepack, int timing_runs) {
        FoldOptions options;
        if (prepack == "auto") {
          options.prepack = PrepackMode::kAuto;
        } else if (prepack == "never") {
          options.prepack = PrepackMode::kNever;
        } else if (prepack == "always") {
          options.prepack = PrepackMode::kAlways;
        } else {
          ThrowStatus(Status::InvalidArgument("unknown prepack mode '" + prepack +
                                              "'; supported: 'auto', 'never', 'always'"));
        }
        options.timing_runs = timing_runs;
        return RunWithoutGil([&] { return Fold(model, options); });
      },
      py::arg("model"), py::arg("prepack"), py::arg("timing_runs"));
  m.def("reduced_precision_cpu_flags", &ReducedPrecisionCpuFlags);
  m.def("half_precision_support", &HalfPrecisionSupport);
  m.def("torch_has_dynamic_int8_kernel", &TorchHasDynamicInt8Kernel);
}

}  // namespace mlship::bindings
