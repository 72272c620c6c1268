// What the Server, Deployment and Repository bindings share: Python objects
// held by C++ callbacks, options JSON, alerts, and monitor reports as dicts.
#pragma once

#include <ATen/core/Tensor.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <vector>

#include "mlship/deployment/options_schema.h"
#include "mlship/deployment/server.h"
#include "mlship/monitor/model_monitor.h"

namespace mlship::bindings {

// Owns one Python reference and drops it with the GIL held, from any thread.
class PyObjectRef {
 public:
  explicit PyObjectRef(pybind11::object obj) : obj_(obj.release().ptr()) {}
  ~PyObjectRef();
  PyObjectRef(const PyObjectRef&) = delete;
  PyObjectRef& operator=(const PyObjectRef&) = delete;
  pybind11::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

// `options_json` (a JSON object of options_schema keys) over the defaults,
// allowing the given scopes; raises InvalidInputError naming the key.
ServingOptions ParseServingOptions(const std::string& options_json, const std::vector<OptionScope>& scopes,
                                   const ServingOptions& base = ServingOptions{},
                                   const std::string& where = "the keyword arguments");
// `on_alert` (a Python callable, or None) as an alert sink that takes the
// GIL on the monitor's thread.
std::function<void(const monitor::AlertEvent&)> AlertSink(const pybind11::object& on_alert);
// Copies of `inputs` in C++-owned memory, so no worker thread ever holds
// (and later frees) memory owned by a Python object.
std::vector<at::Tensor> OwnedTensors(const pybind11::sequence& inputs);
// A deadline `timeout_s` from now; 0 or less is none.
TensorTask::TimePoint DeadlineFrom(double timeout_s);
// The mlship exception for `status`, not raised.
pybind11::object ExceptionFor(const Status& status);
// Runs `predict` with the GIL released; raises the mlship exception of a
// failure.
std::vector<at::Tensor> ReleasingGil(const std::function<StatusOr<std::vector<at::Tensor>>()>& predict);
// A submit() callback: on_done(exception_or_None, outputs_or_None) with the
// GIL, outputs passed through `convert`.
TensorCallback PythonCallback(const pybind11::object& convert, const pybind11::object& on_done);

pybind11::list FamiliesToPython(const std::vector<monitor::FamilySnapshot>& families);
pybind11::dict StatsToPython(const monitor::MonitorStats& stats);
pybind11::dict HealthToPython(const monitor::HealthState& health);
pybind11::dict DriftReportToPython(const monitor::DriftReport& report, const std::vector<std::string>& names,
                                   const std::optional<monitor::PredictionDriftReport>& prediction);
// The monitor of a version, or FailedPrecondition (raised) without one.
monitor::ModelMonitor& MonitorOf(const VersionHandle& version);


}  // namespace mlship::bindings
