// mlship._core.Deployment: deploy(), predict(), submit(), stop().
//
// GIL: released while waiting for a prediction and while stopping (stopping
// drains requests whose completion callbacks take the GIL). Completion
// callbacks of submit() run on worker threads and take the GIL to resolve the
// Python future. Python objects held by C++ callbacks are released under the
// GIL (PyObjectRef), never from a bare worker thread.
#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <future>

#include "dlpack.h"
#include "errors.h"
#include "mlship/deployment/deployment.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

// Owns one Python reference and drops it with the GIL held, from any thread.
class PyObjectRef {
 public:
  explicit PyObjectRef(py::object obj) : obj_(obj.release().ptr()) {}
  ~PyObjectRef() {
    if (obj_ == nullptr || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(obj_);
  }
  PyObjectRef(const PyObjectRef&) = delete;
  PyObjectRef& operator=(const PyObjectRef&) = delete;
  py::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

std::vector<at::Tensor> OwnedTensors(const py::sequence& inputs) {
  // Copied into C++-owned memory so no worker thread ever holds (and later
  // frees) memory owned by a Python object.
  std::vector<at::Tensor> out;
  out.reserve(py::len(inputs));
  for (std::size_t i = 0; i < py::len(inputs); ++i) {
    out.push_back(TensorFromPython(inputs[i], "input " + std::to_string(i)).clone());
  }
  return out;
}

TensorTask::TimePoint DeadlineFrom(double timeout_s) {
  if (timeout_s <= 0) return TensorTask::TimePoint::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_s));
}

py::object ExceptionFor(const Status& status) {
  py::object cls = py::module_::import("mlship._errors").attr("error_class")(std::string(StatusCodeName(status.code())));
  return cls(status.message());
}

py::tuple Converted(const std::vector<at::Tensor>& outputs, const py::handle& convert) {
  py::tuple result(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) result[i] = convert(ExportTensor(outputs[i]));
  return result;
}

std::unique_ptr<Deployment> Create(std::shared_ptr<Model> model, const py::dict& kw) {
  DeploymentOptions o;
  // Spelled out: `cond ? kw[key] : py::none()` would convert the item to py::none and throw.
  auto get = [&](const char* key) -> py::object {
    if (!kw.contains(key)) return py::none();
    return py::reinterpret_borrow<py::object>(kw[key]);
  };
  if (!get("name").is_none()) o.name = get("name").cast<std::string>();
  if (!get("version").is_none()) o.version = get("version").cast<std::string>();
  if (!get("host").is_none()) o.http.host = get("host").cast<std::string>();
  if (!get("port").is_none()) {
    int port = get("port").cast<int>();
    if (port < 0 || port > 65535) ThrowStatus(Status::InvalidArgument("port must be in 0..65535; was " + std::to_string(port)));
    o.http.port = static_cast<uint16_t>(port);
  }
  if (!get("token").is_none()) o.http.token = get("token").cast<std::string>();
  if (!get("insecure").is_none()) o.http.allow_insecure_public_bind = get("insecure").cast<bool>();
  if (!get("io_threads").is_none()) o.http.io_threads = get("io_threads").cast<int>();
  if (!get("max_body_bytes").is_none()) o.http.max_body_bytes = get("max_body_bytes").cast<std::size_t>();
  if (!get("max_header_bytes").is_none()) o.http.max_header_bytes = get("max_header_bytes").cast<std::size_t>();
  if (!get("max_connections").is_none()) o.http.max_connections = get("max_connections").cast<std::size_t>();
  if (!get("max_json_depth").is_none()) o.http.codec.max_json_depth = get("max_json_depth").cast<std::size_t>();
  if (!get("max_elements_per_tensor").is_none()) {
    o.http.codec.max_elements_per_tensor = get("max_elements_per_tensor").cast<int64_t>();
  }
  if (!get("idle_timeout_ms").is_none()) o.http.idle_timeout = std::chrono::milliseconds(get("idle_timeout_ms").cast<int64_t>());
  if (!get("drain_timeout_ms").is_none()) {
    o.http.drain_timeout = std::chrono::milliseconds(get("drain_timeout_ms").cast<int64_t>());
  }
  if (!get("http").is_none()) o.serve_http = get("http").cast<bool>();
  if (!get("max_batch_size").is_none()) o.batcher.max_batch_size = get("max_batch_size").cast<int64_t>();
  if (!get("max_delay_us").is_none()) o.batcher.max_queue_delay = std::chrono::microseconds(get("max_delay_us").cast<int64_t>());
  if (!get("max_queue_size").is_none()) o.batcher.max_queue_size = get("max_queue_size").cast<int64_t>();
  if (!get("timeout_us").is_none()) {
    o.batcher.default_timeout = std::chrono::microseconds(get("timeout_us").cast<int64_t>());
    o.http.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.batcher.default_timeout);
  }
  if (!get("preferred_batch_sizes").is_none()) {
    o.batcher.preferred_batch_sizes = get("preferred_batch_sizes").cast<std::vector<int64_t>>();
  }
  if (!get("instances").is_none()) o.pool.instances = get("instances").cast<int>();
  if (!get("intra_op_threads").is_none()) o.pool.intra_op_threads = get("intra_op_threads").cast<int>();
  StatusOr<std::unique_ptr<Deployment>> dep = Status::Internal("not created");
  {
    py::gil_scoped_release release;
    dep = Deployment::Create(std::move(model), std::move(o));
  }
  if (!dep.ok()) ThrowStatus(dep.status());
  return std::move(dep).value();
}

}  // namespace

void RegisterDeployment(py::module_& m) {
  py::class_<Deployment>(m, "Deployment")
      .def_property_readonly("port", &Deployment::port)
      .def_property_readonly("draining", &Deployment::draining)
      .def_property_readonly("name", [](const Deployment& d) { return d.options().name; })
      .def_property_readonly("version", [](const Deployment& d) { return d.options().version; })
      .def_property_readonly("host", [](const Deployment& d) { return d.options().http.host; })
      .def_property_readonly("serve_http", [](const Deployment& d) { return d.options().serve_http; })
      .def_property_readonly("settings", [](const Deployment& d) {
        const auto& o = d.options();
        py::dict s;
        s["max_batch_size"] = o.batcher.max_batch_size;
        s["max_delay_ms"] = o.batcher.max_queue_delay.count() / 1000.0;
        s["max_queue_size"] = o.batcher.max_queue_size;
        s["timeout_ms"] = o.batcher.default_timeout.count() / 1000.0;
        s["instances"] = o.pool.instances;
        s["intra_op_threads"] = o.pool.intra_op_threads;
        s["auth"] = !o.http.token.empty();
        return s;
      })
      .def(
          "predict",
          [](Deployment& self, const py::sequence& inputs, const py::object& convert, double timeout_s) {
            auto tensors = OwnedTensors(inputs);
            auto promise = std::make_shared<std::promise<StatusOr<std::vector<at::Tensor>>>>();
            auto future = promise->get_future();
            StatusOr<std::vector<at::Tensor>> result = Status::Internal("no answer");
            {
              py::gil_scoped_release release;
              self.Submit(std::move(tensors), DeadlineFrom(timeout_s),
                          [promise](StatusOr<std::vector<at::Tensor>> r) { promise->set_value(std::move(r)); });
              result = future.get();
            }
            if (!result.ok()) ThrowStatus(result.status());
            return Converted(*result, convert);
          },
          py::arg("inputs"), py::arg("convert"), py::arg("timeout_s") = 0.0)
      .def(
          "submit",
          [](Deployment& self, const py::sequence& inputs, const py::object& convert, const py::object& on_done,
             double timeout_s) {
            auto tensors = OwnedTensors(inputs);
            auto ref = std::make_shared<PyObjectRef>(py::make_tuple(convert, on_done));
            py::gil_scoped_release release;
            self.Submit(std::move(tensors), DeadlineFrom(timeout_s),
                        [ref](StatusOr<std::vector<at::Tensor>> r) {
                          if (!Py_IsInitialized()) return;
                          py::gil_scoped_acquire gil;
                          py::tuple pair = py::reinterpret_borrow<py::tuple>(ref->get());
                          try {
                            if (r.ok()) {
                              pair[1](py::none(), Converted(*r, pair[0]));
                            } else {
                              pair[1](ExceptionFor(r.status()), py::none());
                            }
                          } catch (py::error_already_set& e) {
                            e.discard_as_unraisable("mlship: delivering a result");
                          }
                        });
          },
          py::arg("inputs"), py::arg("convert"), py::arg("on_done"), py::arg("timeout_s") = 0.0,
          "Queues a request; on_done(exception_or_None, outputs_or_None) runs on a worker thread with the GIL.")
      .def(
          "stop",
          [](Deployment& self, bool drain) {
            py::gil_scoped_release release;
            self.Stop(drain);
          },
          py::arg("drain") = true);

  m.def("deploy", &Create, py::arg("model"), py::arg("options"));
}

}  // namespace mlship::bindings
