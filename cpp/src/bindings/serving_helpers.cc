// Helpers shared by the Server, Deployment and Repository bindings.
#include "serving_helpers.h"

#include <pybind11/stl.h>

#include <boost/json/parse.hpp>

#include <chrono>

#include "dlpack.h"
#include "errors.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

// The statistics a DriftEvent and a FeatureDrift share, for feature `name`.
template <typename FeatureStatistics>
py::dict DriftFigures(const std::string& name, const FeatureStatistics& f) {
  py::dict item;
  item["feature"] = name;
  item["live_count"] = f.live_count;
  item["psi"] = f.psi;
  item["ks_statistic"] = f.ks_statistic;
  item["ks_pvalue"] = f.ks_pvalue;
  return item;
}

// A prediction drift verdict as a dict, or None.
py::object PredictionToPython(const std::optional<monitor::PredictionDriftReport>& report) {
  if (!report) return py::none();
  py::dict d;
  d["window_rows"] = report->window_rows;
  d["psi"] = report->psi;
  d["judged"] = report->judged;
  d["drifted"] = report->drifted;
  d["reference_shares"] = report->reference_shares;
  d["live_shares"] = report->live_shares;
  return d;
}

py::dict AlertToPython(const monitor::AlertEvent& event) {
  py::dict d;
  d["kind"] = event.kind;
  d["model"] = event.model;
  d["version"] = event.version;
  d["message"] = event.message;
  d["features"] = event.features;
  py::list details;
  for (std::size_t i = 0; i < event.drift.size(); ++i) {
    const auto& e = event.drift[i];
    py::dict item = DriftFigures(i < event.features.size() ? event.features[i] : std::to_string(e.feature), e);
    item["psi_exceeded"] = e.psi_exceeded;
    item["ks_exceeded"] = e.ks_exceeded;
    details.append(item);
  }
  d["drift"] = details;
  d["prediction"] = PredictionToPython(event.prediction);
  return d;
}

}  // namespace

PyObjectRef::~PyObjectRef() {
  if (obj_ == nullptr || !Py_IsInitialized()) return;
  py::gil_scoped_acquire gil;
  Py_DECREF(obj_);
}

ServingOptions ParseServingOptions(const std::string& options_json, const std::vector<OptionScope>& scopes,
                                   const ServingOptions& base, const std::string& where) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(options_json, ec);
  if (ec || !v.is_object()) ThrowStatus(Status::Internal("options did not reach the core as a JSON object"));
  ServingOptions options = base;
  Status applied = ApplyOptions(v.get_object(), scopes, where, options);
  if (!applied.ok()) ThrowStatus(applied);
  return options;
}

std::function<void(const monitor::AlertEvent&)> AlertSink(const py::object& on_alert) {
  if (on_alert.is_none()) return nullptr;
  auto callback = std::make_shared<PyObjectRef>(on_alert);
  return [callback](const monitor::AlertEvent& event) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    try {
      callback->get()(AlertToPython(event));
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("mlship: the on_alert callback");
    }
  };
}

std::vector<at::Tensor> OwnedTensors(const py::sequence& inputs) {
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

std::vector<at::Tensor> ReleasingGil(const std::function<StatusOr<std::vector<at::Tensor>>()>& predict) {
  StatusOr<std::vector<at::Tensor>> result = Status::Internal("no answer");
  {
    py::gil_scoped_release release;
    result = predict();
  }
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

TensorCallback PythonCallback(const py::object& convert, const py::object& on_done) {
  auto ref = std::make_shared<PyObjectRef>(py::make_tuple(convert, on_done));
  return [ref](StatusOr<std::vector<at::Tensor>> r) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    py::tuple pair = py::reinterpret_borrow<py::tuple>(ref->get());
    try {
      if (r.ok()) {
        pair[1](py::none(), ExportTensors(*r, pair[0]));
      } else {
        pair[1](ExceptionFor(r.status()), py::none());
      }
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("mlship: delivering a result");
    }
  };
}

py::list FamiliesToPython(const std::vector<monitor::FamilySnapshot>& families) {
  py::list out;
  for (const auto& f : families) {
    py::list samples;
    for (const auto& s : f.samples) {
      py::dict sample;
      sample["labels"] = s.label_values;
      if (f.type == monitor::MetricType::kHistogram) {
        sample["buckets"] = s.histogram.bucket_bounds;
        sample["cumulative_counts"] = s.histogram.cumulative_counts;
        sample["sum"] = s.histogram.sum;
        sample["count"] = s.histogram.count;
      } else {
        sample["value"] = s.value;
      }
      samples.append(sample);
    }
    py::dict family;
    family["name"] = f.name;
    family["help"] = f.help;
    family["type"] = f.type == monitor::MetricType::kCounter ? "counter"
                     : f.type == monitor::MetricType::kGauge ? "gauge"
                                                             : "histogram";
    family["label_names"] = f.label_names;
    family["samples"] = samples;
    out.append(family);
  }
  return out;
}

py::dict StatsToPython(const monitor::MonitorStats& s) {
  py::dict d;
  d["window_s"] = s.window_seconds;
  d["requests"] = s.latency.count;
  d["failed_requests"] = s.failed_requests;
  d["throughput_rps"] = s.latency.throughput_per_second;
  d["mean_ms"] = s.latency.mean_seconds * 1000.0;
  d["p50_ms"] = s.latency.p50_seconds * 1000.0;
  d["p90_ms"] = s.latency.p90_seconds * 1000.0;
  d["p99_ms"] = s.latency.p99_seconds * 1000.0;
  d["mean_batch_size"] = s.mean_batch_size;
  return d;
}

py::dict HealthToPython(const monitor::HealthState& h) {
  py::dict d;
  d["serving"] = h.fallback_active ? "fallback" : "primary";
  d["reason"] = h.reason;
  d["seconds_since_change"] = h.seconds_since_change;
  d["fallback_switches"] = h.fallback_switches;
  return d;
}

py::dict DriftReportToPython(const monitor::DriftReport& report, const std::vector<std::string>& names,
                             const std::optional<monitor::PredictionDriftReport>& prediction) {
  py::dict d;
  d["window_rows"] = report.window_rows;
  py::list features;
  py::list drifted;
  for (const auto& f : report.features) {
    const auto i = static_cast<std::size_t>(f.feature);
    const std::string name = i < names.size() ? names[i] : std::to_string(f.feature);
    py::dict item = DriftFigures(name, f);
    item["judged"] = f.judged;
    item["drifted"] = f.drifted;
    features.append(item);
    if (f.drifted) drifted.append(name);
  }
  d["features"] = features;
  d["drifted"] = drifted;
  d["prediction"] = PredictionToPython(prediction);
  return d;
}

monitor::ModelMonitor& MonitorOf(const VersionHandle& version) {
  if (version->monitor() == nullptr) {
    ThrowStatus(Status::FailedPrecondition("monitoring is off for this model (deploy(..., monitoring=True) turns it "
                                           "on)"));
  }
  return *version->monitor();
}

}  // namespace mlship::bindings
