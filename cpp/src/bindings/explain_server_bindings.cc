// mlship._core.explain_served: an explanation through a server's router (the
// same Backend::Explain path, queue and budget as POST .../explain), for
// Deployment.explain / ModelEndpoint.explain. Waits with the GIL released.
#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "numpy_exchange.h"
#include "serving_helpers.h"
#include "mlship/deployment/host_tensor_convert.h"
#include "mlship/deployment/server.h"
#include "mlship/engine/dtype_torch.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

std::vector<serving::HostTensor> HostTensors(const py::sequence& items, const std::vector<TensorSpec>& specs) {
  std::vector<serving::HostTensor> out;
  std::vector<at::Tensor> owned = OwnedTensors(items);
  for (std::size_t i = 0; i < owned.size(); ++i) {
    auto dtype = FromScalarType(owned[i].scalar_type());
    if (!dtype.ok()) ThrowStatus(dtype.status());
    out.push_back(ToHostTensor(i < specs.size() ? specs[i].name : "input_" + std::to_string(i), owned[i], *dtype));
  }
  return out;
}

}  // namespace

void RegisterExplainServer(py::module_& m) {
  m.def(
      "explain_served",
      [](Server& server, const std::string& name, const std::string& version, const py::sequence& inputs,
         const std::string& method, std::vector<int64_t> targets, const std::optional<py::sequence>& baselines,
         int steps, int samples, int window, uint64_t seed, double timeout_s) {
        StatusOr<serving::ModelInfo> info = server.router().Find(name, version);
        if (!info.ok()) ThrowStatus(info.status());
        serving::ExplainRequest request;
        request.request.model_name = name;
        request.request.model_version = version;
        request.request.inputs = HostTensors(inputs, info->signature.inputs);
        request.request.deadline = DeadlineFrom(timeout_s);
        request.parameters.method = method;
        request.parameters.targets = std::move(targets);
        request.parameters.steps = steps;
        request.parameters.samples = samples;
        request.parameters.window = window;
        request.parameters.seed = seed;
        if (baselines) request.parameters.baselines = HostTensors(*baselines, info->signature.inputs);
        StatusOr<serving::ExplainResponse> result = Status::Internal("not answered");
        {
          py::gil_scoped_release release;
          auto promise = std::make_shared<std::promise<StatusOr<serving::ExplainResponse>>>();
          auto future = promise->get_future();
          server.router().Explain(std::move(request), [promise](StatusOr<serving::ExplainResponse> r) {
            promise->set_value(std::move(r));
          });
          result = future.get();
        }
        if (!result.ok()) ThrowStatus(result.status());
        std::vector<at::Tensor> tensors;
        py::list names;
        for (const auto& host : result->tensors) {
          tensors.push_back(ToTensor(host));
          names.append(host.name);
        }
        py::dict out;
        out["names"] = names;
        out["tensors"] = NumpyArrays(tensors);
        out["evaluations"] = result->evaluations;
        out["model_version"] = result->model_version;
        return out;
      },
      py::arg("server"), py::arg("name"), py::arg("version"), py::arg("inputs"), py::arg("method"),
      py::arg("targets"), py::arg("baselines"), py::arg("steps"), py::arg("samples"), py::arg("window"),
      py::arg("seed"), py::arg("timeout_s"));
  m.def(
      "feature_importance_json",
      [](Server& server, const std::string& name, const std::string& version) {
        StatusOr<VersionHandle> handle = server.Version(name, version);
        if (!handle.ok()) ThrowStatus(handle.status());
        return (*handle)->ImportanceJson();
      },
      py::arg("server"), py::arg("name"), py::arg("version"),
      "The sampled feature importance of a version (explain_sample_rate) as JSON; \"null\" when off.");
}

}  // namespace mlship::bindings
