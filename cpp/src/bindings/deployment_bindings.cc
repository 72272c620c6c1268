// mlship._core.Deployment: deploy(), predict(), submit(), stop().
//
// GIL: released while waiting for a prediction, while stopping (stopping
// drains requests whose completion callbacks take the GIL) and while a
// deployment is destroyed (its monitor thread may be waiting for the GIL to
// deliver an alert). Completion
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
#include "numpy_exchange.h"

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

// Deployment::Predict for a Python caller: the GIL released while it waits
// (shared-lock callers, see runtime/wakeup_baton.h); a failure raised as its
// mlship exception.
std::vector<at::Tensor> PredictReleasingGil(Deployment& dep, std::vector<at::Tensor> inputs, double timeout_s) {
  StatusOr<std::vector<at::Tensor>> result = Status::Internal("no answer");
  {
    py::gil_scoped_release release;
    result = dep.Predict(std::move(inputs), DeadlineFrom(timeout_s), PredictCallers::kShareALock);
  }
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

// Destroys a deployment with the GIL released: its threads (workers
// answering submit() futures, the monitor delivering alerts) may need the
// GIL to finish, and the destructor joins them.
struct ReleaseGilDelete {
  void operator()(Deployment* dep) const {
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      delete dep;
    } else {
      delete dep;
    }
  }
};
using DeploymentHolder = std::unique_ptr<Deployment, ReleaseGilDelete>;

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

// Reads one option by key: None when absent.
using OptionGetter = std::function<py::object(const char*)>;

// The options in `d` (the deploy() keywords, or a nested dict such as `slo`).
OptionGetter OptionsIn(const py::dict& d) {
  // Spelled out: `cond ? d[key] : py::none()` would convert the item to py::none and throw.
  return [d](const char* key) -> py::object {
    if (!d.contains(key)) return py::none();
    return py::reinterpret_borrow<py::object>(d[key]);
  };
}

// Sets `field` from the option `key` when it was given (present and not None).
template <typename T>
void Take(const OptionGetter& get, const char* key, T& field) {
  py::object value = get(key);
  if (!value.is_none()) field = value.cast<T>();
}

// The same for a duration given as a whole number of `Unit`s (the key's suffix says which).
template <typename Unit, typename Rep, typename Period>
void TakeDuration(const OptionGetter& get, const char* key, std::chrono::duration<Rep, Period>& field) {
  py::object value = get(key);
  if (!value.is_none()) field = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Unit(value.cast<int64_t>()));
}

// Monitoring settings: drift, anomalies, stats window, SLO and alerts.
void ApplyMonitorOptions(const OptionGetter& get, DeploymentOptions& o) {
  monitor::ModelMonitorOptions& m = o.monitor;
  Take(get, "monitoring", o.monitoring);
  Take(get, "stats_window_s", m.stats_window_seconds);
  TakeDuration<std::chrono::milliseconds>(get, "drift_interval_ms", m.drift_check_interval);
  Take(get, "drift_window", m.drift.window_size);
  Take(get, "drift_min_samples", m.drift.min_samples);
  Take(get, "psi_threshold", m.drift.psi_threshold);
  Take(get, "ks_pvalue_threshold", m.drift.ks_pvalue_threshold);
  Take(get, "ks_min_statistic", m.drift.ks_min_statistic);
  Take(get, "reject_anomalies", m.anomalies.reject_anomalies);
  Take(get, "anomaly_tolerance", m.anomalies.range_tolerance);
  Take(get, "classifier", m.classifier);
  TakeDuration<std::chrono::milliseconds>(get, "tick_ms", m.tick_interval);
  if (!get("slo").is_none()) {
    const OptionGetter slo = OptionsIn(get("slo").cast<py::dict>());
    monitor::SloOptions s;
    Take(slo, "max_error_rate", s.max_error_rate);
    if (!slo("p99_ms").is_none()) s.p99_seconds = slo("p99_ms").cast<double>() / 1000.0;
    Take(slo, "window_s", s.window_seconds);
    Take(slo, "min_requests", s.min_requests);
    Take(slo, "restore_after_s", s.restore_after_seconds);
    m.slo = s;
  }
  if (!get("on_alert").is_none()) {
    auto callback = std::make_shared<PyObjectRef>(get("on_alert"));
    m.on_alert = [callback](const monitor::AlertEvent& event) {
      if (!Py_IsInitialized()) return;
      py::gil_scoped_acquire gil;
      try {
        callback->get()(AlertToPython(event));
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("mlship: the on_alert callback");
      }
    };
  }
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

monitor::ModelMonitor& MonitorOf(const Deployment& dep) {
  if (dep.monitor() == nullptr) {
    ThrowStatus(Status::FailedPrecondition("monitoring is off for this deployment (deploy(..., monitoring=True) "
                                           "turns it on)"));
  }
  return *dep.monitor();
}

DeploymentHolder Create(std::shared_ptr<Model> model, const py::dict& kw) {
  DeploymentOptions o;
  const OptionGetter get = OptionsIn(kw);
  Take(get, "name", o.name);
  Take(get, "version", o.version);
  Take(get, "host", o.http.host);
  if (!get("port").is_none()) {
    int port = get("port").cast<int>();
    if (port < 0 || port > 65535) ThrowStatus(Status::InvalidArgument("port must be in 0..65535; was " + std::to_string(port)));
    o.http.port = static_cast<uint16_t>(port);
  }
  Take(get, "token", o.http.token);
  Take(get, "insecure", o.http.allow_insecure_public_bind);
  Take(get, "io_threads", o.http.io_threads);
  Take(get, "max_body_bytes", o.http.max_body_bytes);
  Take(get, "max_header_bytes", o.http.max_header_bytes);
  Take(get, "max_connections", o.http.max_connections);
  Take(get, "max_json_depth", o.http.codec.max_json_depth);
  Take(get, "max_elements_per_tensor", o.http.codec.max_elements_per_tensor);
  TakeDuration<std::chrono::milliseconds>(get, "idle_timeout_ms", o.http.idle_timeout);
  TakeDuration<std::chrono::milliseconds>(get, "drain_timeout_ms", o.http.drain_timeout);
  Take(get, "http", o.serve_http);
  Take(get, "max_batch_size", o.batcher.max_batch_size);
  TakeDuration<std::chrono::microseconds>(get, "max_delay_us", o.batcher.max_queue_delay);
  Take(get, "max_queue_size", o.batcher.max_queue_size);
  TakeDuration<std::chrono::microseconds>(get, "timeout_us", o.batcher.default_timeout);
  o.http.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.batcher.default_timeout);
  Take(get, "preferred_batch_sizes", o.batcher.preferred_batch_sizes);
  Take(get, "instances", o.pool.instances);
  Take(get, "intra_op_threads", o.pool.intra_op_threads);
  Take(get, "sched_batch_callers", o.caller_wakeup.batch_policy_while_looping);
  ApplyMonitorOptions(get, o);
  std::shared_ptr<Model> fallback;
  if (!get("fallback").is_none()) fallback = get("fallback").cast<std::shared_ptr<Model>>();
  StatusOr<std::unique_ptr<Deployment>> dep = Status::Internal("not created");
  {
    py::gil_scoped_release release;
    dep = Deployment::Create(std::move(model), std::move(o), std::move(fallback));
  }
  if (!dep.ok()) ThrowStatus(dep.status());
  return DeploymentHolder(std::move(dep).value().release());
}

}  // namespace

void RegisterDeployment(py::module_& m) {
  py::class_<Deployment, DeploymentHolder>(m, "Deployment")
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
        s["sched_batch_callers"] = o.caller_wakeup.batch_policy_while_looping;
        return s;
      })
      .def(
          "predict",
          [](Deployment& self, const py::sequence& inputs, const py::object& convert, double timeout_s) {
            return ExportTensors(PredictReleasingGil(self, OwnedTensors(inputs), timeout_s), convert);
          },
          py::arg("inputs"), py::arg("convert"), py::arg("timeout_s") = 0.0)
      .def(
          "predict_arrays",
          [](Deployment& self, const py::tuple& inputs, double timeout_s) -> py::object {
            std::optional<std::vector<at::Tensor>> tensors =
                TensorsFromPlainArrays(inputs, self.model().signature().inputs.size(), ArrayMemory::kCopy);
            if (!tensors) return py::none();
            return NumpyArrays(PredictReleasingGil(self, std::move(*tensors), timeout_s));
          },
          py::arg("inputs"), py::arg("timeout_s") = 0.0,
          "predict() for plain numpy arrays: the flat outputs as numpy arrays, or None when some input "
          "is not a plain C-contiguous numpy array (or the count is off) and the general path must run.")
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
                              pair[1](py::none(), ExportTensors(*r, pair[0]));
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
          py::arg("drain") = true)
      .def_property_readonly("monitoring", [](const Deployment& d) { return d.monitor() != nullptr; })
      .def_property_readonly("has_fallback", [](const Deployment& d) {
        return d.monitor() != nullptr && d.monitor()->options().has_fallback;
      })
      .def("metrics_families",
           [](const Deployment& self) {
             MonitorOf(self);
             self.RefreshGauges();
             return FamiliesToPython(self.monitor()->registry().Snapshot());
           })
      .def("metrics_text",
           [](const Deployment& self) {
             MonitorOf(self);
             return self.MetricsText();
           })
      .def("stats",
           [](const Deployment& self) {
             monitor::MonitorStats s = MonitorOf(self).Stats();
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
           })
      .def("status",
           [](const Deployment& self) {
             monitor::HealthState h = MonitorOf(self).Health();
             py::dict d;
             d["serving"] = h.fallback_active ? "fallback" : "primary";
             d["reason"] = h.reason;
             d["seconds_since_change"] = h.seconds_since_change;
             d["fallback_switches"] = h.fallback_switches;
             return d;
           })
      .def("restore",
           [](Deployment& self) {
             Status s = Status::Ok();
             {
               py::gil_scoped_release release;  // the restore alert takes the GIL
               s = self.Restore();
             }
             if (!s.ok()) ThrowStatus(s);
           })
      .def(
          "set_reference",
          [](Deployment& self, const py::object& data) {
            at::Tensor t = TensorFromPython(data, "reference").clone();
            Status s = Status::Ok();
            {
              py::gil_scoped_release release;
              s = self.SetReference(t);
            }
            if (!s.ok()) ThrowStatus(s);
          },
          py::arg("data"))
      .def("check_drift",
           [](Deployment& self) {
             monitor::ModelMonitor& m = MonitorOf(self);
             monitor::DriftReport report;
             {
               py::gil_scoped_release release;  // a drift alert takes the GIL
               report = m.CheckDrift();
             }
             return DriftReportToPython(report, m.FeatureNames(), m.LastPredictionDrift());
           })
      .def("last_drift", [](Deployment& self) {
        monitor::ModelMonitor& m = MonitorOf(self);
        return DriftReportToPython(m.LastDriftReport(), m.FeatureNames(), m.LastPredictionDrift());
      });

  m.def("deploy", &Create, py::arg("model"), py::arg("options"));
  // Checks the monitoring options of a deploy() options dict without deploying, so
  // `mlship serve` refuses a bad monitoring flag before it loads any model.
  m.def(
      "validate_monitor_options",
      [](const py::dict& kw) {
        DeploymentOptions o;
        auto get = [&](const char* key) -> py::object {
          if (!kw.contains(key)) return py::none();
          return py::reinterpret_borrow<py::object>(kw[key]);
        };
        ApplyMonitorOptions(get, o);
        Status valid = monitor::ValidateModelMonitorOptions(o.monitor);
        if (!valid.ok()) ThrowStatus(valid);
      },
      py::arg("options"));
}

}  // namespace mlship::bindings
