// mlship._core.explain / explain_support: attributions from the engine (see
// mlship/engine/explain.h). Inputs and baselines come in as DLPack-capable
// arrays (prepared by mlship._explain), results go out as numpy arrays; the
// GIL is released while the engine works.
#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "dlpack.h"
#include "errors.h"
#include "numpy_exchange.h"
#include "mlship/engine/explain.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

std::vector<at::Tensor> Tensors(const py::sequence& items, const std::string& what) {
  std::vector<at::Tensor> out;
  for (std::size_t i = 0; i < py::len(items); ++i) {
    // Cloned: the engine may keep them past this call's Python objects.
    out.push_back(TensorFromPython(items[i], what + " " + std::to_string(i)).clone());
  }
  return out;
}

}  // namespace

void RegisterExplain(py::module_& m) {
  m.def(
      "explain_support",
      [](const Model& model) {
        ExplainSupport support = SupportedExplainMethods(model);
        std::vector<std::string> names;
        for (ExplainMethod method : support.methods) names.emplace_back(ExplainMethodName(method));
        return py::make_tuple(names, support.no_gradients_reason);
      },
      py::arg("model"), "(supported method names, why gradient methods are missing or '').");
  m.def(
      "explain",
      [](const Model& model, const py::sequence& inputs, const std::string& method, std::vector<int64_t> targets,
         const std::optional<py::sequence>& baselines, int steps, int samples, int window, int output_index,
         uint64_t seed, int64_t max_evaluations) {
        auto parsed = ParseExplainMethod(method);
        if (!parsed.ok()) ThrowStatus(parsed.status());
        ExplainOptions options;
        options.method = *parsed;
        options.targets = std::move(targets);
        options.steps = steps;
        options.samples = samples;
        options.window = window;
        options.output_index = output_index;
        options.seed = seed;
        options.max_evaluations = max_evaluations;
        std::vector<at::Tensor> tensors = Tensors(inputs, "input");
        if (baselines) options.baselines = Tensors(*baselines, "baseline");
        StatusOr<Explanation> result = Status::Internal("not run");
        {
          py::gil_scoped_release release;
          result = Explain(model, tensors, options);
        }
        if (!result.ok()) ThrowStatus(result.status());
        py::dict out;
        out["attributions"] = NumpyArrays(result->attributions);
        out["outputs"] = NumpyArrays(result->outputs);
        out["targets"] = NumpyArrays({result->targets})[0];
        out["delta"] = result->delta.defined() ? py::object(NumpyArrays({result->delta})[0]) : py::none();
        out["evaluations"] = result->evaluations;
        return out;
      },
      py::arg("model"), py::arg("inputs"), py::arg("method"), py::arg("targets"), py::arg("baselines"),
      py::arg("steps"), py::arg("samples"), py::arg("window"), py::arg("output_index"), py::arg("seed"),
      py::arg("max_evaluations"));
}

}  // namespace mlship::bindings
