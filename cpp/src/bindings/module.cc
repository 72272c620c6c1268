// mlship._core: the private native module behind the public Python API.
//
// Conventions:
// - Ownership: Python holds std::shared_ptr<Model>; C++ never keeps Python
//   objects alive past a call.
// - GIL: taken while converting arguments and results; released around every
//   model load and run, so other Python threads run meanwhile.
// - Tensors: in and out as DLPack (see dlpack.h), zero-copy.
// - Errors: a non-OK Status becomes the mlship exception for its code (see
//   errors.h); C++ exceptions never cross the boundary unconverted.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "dlpack.h"
#include "errors.h"
#include "numpy_exchange.h"
#include "mlship/allocator_tuning.h"
#ifdef MLSHIP_WITH_DEPLOYMENT
#include "mlship/deployment/auto_threads.h"
#endif
#include "mlship/engine/model.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

std::vector<at::Tensor> TensorsFromPython(const py::sequence& inputs, const char* what) {
  std::vector<at::Tensor> out;
  out.reserve(py::len(inputs));
  for (std::size_t i = 0; i < py::len(inputs); ++i) {
    out.push_back(TensorFromPython(inputs[i], std::string(what) + " " + std::to_string(i)));
  }
  return out;
}

LoadOptions MakeLoadOptions(const std::optional<std::string>& signature_json, const py::sequence& example_inputs,
                            int intra_op_threads, bool optimize, int warmup_runs) {
  LoadOptions options;
  if (signature_json) {
    auto sig = Signature::FromJson(*signature_json);
    if (!sig.ok()) ThrowStatus(sig.status());
    options.signature = *sig;
  }
  // Cloned so the model never holds memory owned by Python objects.
  for (auto& t : TensorsFromPython(example_inputs, "example input")) options.example_inputs.push_back(t.clone());
  options.intra_op_threads = intra_op_threads;
  options.optimize = optimize;
  options.warmup_runs = warmup_runs;
  return options;
}

// Model::Run with the GIL released; a failure raised as its mlship exception.
std::vector<at::Tensor> RunReleasingGil(const Model& model, const std::vector<at::Tensor>& inputs) {
  StatusOr<std::vector<at::Tensor>> outputs = Status::Internal("not run");
  {
    py::gil_scoped_release release;
    outputs = model.Run(inputs);
  }
  if (!outputs.ok()) ThrowStatus(outputs.status());
  return std::move(outputs).value();
}

std::shared_ptr<Model> Unwrap(StatusOr<std::shared_ptr<Model>> result) {
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

}  // namespace

void RegisterServer(py::module_& m);
void RegisterRepository(py::module_& m);
void RegisterExplainServer(py::module_& m);
void RegisterOptimize(py::module_& m);
void RegisterCompare(py::module_& m);
void RegisterExplain(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "mlship's native engine (private: use the mlship package)";
  m.attr("__version__") = MLSHIP_VERSION;
  // Before any model runs: keep freed memory for the next call (allocator_tuning.h).
  TuneAllocator();
  m.def("allocator_tuning", [] { return TuneAllocator(); },
        "What mlship set in this process's malloc at import (MLSHIP_MALLOC_TUNING=0 turns it off).");
  RegisterDLPack(m);
  RegisterCompare(m);
#ifdef MLSHIP_WITH_DEPLOYMENT
  // One threshold for "compute-bound": auto threads widen from it, and
  // deploy(tune="auto") measures only models whose forward pass reaches it.
  m.attr("compute_bound_forward_seconds") = AutoThreads::Options{}.min_forward_seconds;
  RegisterServer(m);
  RegisterRepository(m);
  RegisterExplainServer(m);
#endif
#ifdef MLSHIP_WITH_OPTIMIZE
  RegisterOptimize(m);
#endif

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_property_readonly("signature_json", [](const Model& self) { return self.signature().ToJson(); })
      .def_property_readonly("format", [](const Model& self) { return std::string(ModelFormatName(self.format())); })
      .def_property_readonly("source", &Model::source)
      .def_property_readonly("optimized", &Model::optimized)
      .def_property_readonly("optimize_note", &Model::optimize_note)
      .def_property_readonly("intra_op_threads", &Model::intra_op_threads)
      .def(
          "run",
          [](const Model& self, const py::sequence& inputs, const py::object& convert) {
            return ExportTensors(RunReleasingGil(self, TensorsFromPython(inputs, "input")), convert);
          },
          py::arg("inputs"), py::arg("convert"),
          "Runs the model on DLPack-capable inputs; each flat output is passed through `convert` "
          "(numpy.from_dlpack or torch.from_dlpack).")
      .def(
          "run_arrays",
          [](const Model& self, const py::tuple& inputs) -> py::object {
            // Views of the arrays: `inputs` keeps them alive until Run returns.
            std::optional<std::vector<at::Tensor>> tensors =
                TensorsFromPlainArrays(inputs, self.signature().inputs.size(), ArrayMemory::kView);
            if (!tensors) return py::none();
            return NumpyArrays(RunReleasingGil(self, *tensors));
          },
          py::arg("inputs"),
          "run() for plain numpy arrays: the flat outputs as numpy arrays, or None when some input is not a "
          "plain C-contiguous numpy array (or the count is off) and the general path must run.")
      .def(
          "save",
          [](const Model& self, const std::string& path) {
            Status status;
            {
              py::gil_scoped_release release;
              status = self.Save(path);
            }
            if (!status.ok()) ThrowStatus(status);
          },
          py::arg("path"));

  m.def(
      "load_file",
      [](const std::string& path, std::optional<std::string> signature_json, const py::sequence& example_inputs,
         int intra_op_threads, bool optimize, int warmup_runs) {
        LoadOptions options = MakeLoadOptions(signature_json, example_inputs, intra_op_threads, optimize, warmup_runs);
        StatusOr<std::shared_ptr<Model>> model = Status::Internal("not loaded");
        {
          py::gil_scoped_release release;
          model = LoadModel(path, options);
        }
        return Unwrap(std::move(model));
      },
      py::arg("path"), py::arg("signature_json"), py::arg("example_inputs"), py::arg("intra_op_threads"),
      py::arg("optimize"), py::arg("warmup_runs"));

  m.def(
      "load_torchscript_bytes",
      [](const py::bytes& data, std::optional<std::string> signature_json, const py::sequence& example_inputs,
         int intra_op_threads, bool optimize, int warmup_runs) {
        LoadOptions options = MakeLoadOptions(signature_json, example_inputs, intra_op_threads, optimize, warmup_runs);
        std::string bytes = data;
        StatusOr<std::shared_ptr<Model>> model = Status::Internal("not loaded");
        {
          py::gil_scoped_release release;
          model = LoadTorchScriptFromBytes(bytes, options);
        }
        return Unwrap(std::move(model));
      },
      py::arg("data"), py::arg("signature_json"), py::arg("example_inputs"), py::arg("intra_op_threads"),
      py::arg("optimize"), py::arg("warmup_runs"));

  RegisterExplain(m);  // after Model: its functions take one
  m.def("set_num_threads", [](int n) { at::set_num_threads(n); }, "Sets torch's intra-op threads for this thread.");
  m.def("get_num_threads", [] { return at::get_num_threads(); });
}

}  // namespace mlship::bindings
