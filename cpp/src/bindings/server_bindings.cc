// mlship._core.Server (many models and versions), mlship._core.Deployment
// (the one-model shortcut), the options schema and the fake clock.
//
// GIL: released while waiting for a prediction, a load, a swap or a stop
// (they drain requests whose completion callbacks take the GIL) and while a
// server is destroyed (its monitor threads may be waiting for the GIL to
// deliver an alert). Completion callbacks of submit() run on worker threads
// and take the GIL to resolve the Python future. Python objects held by C++
// callbacks are released under the GIL (PyObjectRef).
#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "dlpack.h"
#include "errors.h"
#include "mlship/deployment/deployment.h"
#include "numpy_exchange.h"
#include "serving_helpers.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

// Destroys an object with the GIL released: its threads (workers answering
// submit() futures, monitors delivering alerts) may need the GIL to finish,
// and the destructor joins them.
template <typename T>
struct ReleaseGilDelete {
  void operator()(T* object) const {
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      delete object;
    } else {
      delete object;
    }
  }
};
using ServerHolder = std::unique_ptr<Server, ReleaseGilDelete<Server>>;
using DeploymentHolder = std::unique_ptr<Deployment, ReleaseGilDelete<Deployment>>;

void Check(const Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

// Runs `fn` (a Status-returning change) with the GIL released.
Status Released(const std::function<Status()>& fn) {
  py::gil_scoped_release release;
  return fn();
}

template <typename T>
T Unwrap(StatusOr<T> result) {
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

VersionHandle HandleOf(const Server& server, const std::string& model, const std::string& version) {
  return Unwrap(server.Version(model, version));
}

// The version whose figures an observer asks for: the one named, or the
// model's default (not the fallback serving in its place: the default's
// figures are what explain the fallback).
VersionHandle Observed(const Server& server, const std::string& model, const std::string& version) {
  if (!version.empty()) return HandleOf(server, model, version);
  return HandleOf(server, model, Unwrap(server.router().DefaultVersion(model)));
}

ServingOptions DefaultsFrom(const std::string& options_json, const py::object& on_alert, const py::object& clock) {
  ServingOptions o = ParseServingOptions(options_json, {OptionScope::kServer, OptionScope::kModel,
                                                        OptionScope::kVersion});
  o.version_options.monitor.on_alert = AlertSink(on_alert);
  if (!clock.is_none()) o.server.clock = clock.cast<FakeClock*>();
  return o;
}

std::optional<GoldenData> GoldenFrom(const py::object& inputs, const py::object& outputs, std::optional<double> rtol,
                                     std::optional<double> atol) {
  if (inputs.is_none()) return std::nullopt;
  GoldenData g;
  g.inputs = OwnedTensors(inputs.cast<py::sequence>());
  g.outputs = OwnedTensors(outputs.cast<py::sequence>());
  g.rtol = rtol;
  g.atol = atol;
  return g;
}

// The samples of `families` about `id` (or about no model at all).
std::vector<monitor::FamilySnapshot> OfVersion(std::vector<monitor::FamilySnapshot> families,
                                               const VersionIdentity& id) {
  for (auto& f : families) {
    const auto at = [&](const char* label) -> int {
      for (std::size_t i = 0; i < f.label_names.size(); ++i) {
        if (f.label_names[i] == label) return static_cast<int>(i);
      }
      return -1;
    };
    const int model = at("model");
    const int version = at("version");
    if (model < 0 || version < 0) continue;
    std::vector<monitor::MetricSample> kept;
    for (auto& sample : f.samples) {
      const std::string& m = sample.label_values[static_cast<std::size_t>(model)];
      const std::string& v = sample.label_values[static_cast<std::size_t>(version)];
      if ((m == id.model && v == id.version) || (m.empty() && v.empty())) kept.push_back(std::move(sample));
    }
    f.samples = std::move(kept);
  }
  return families;
}

RequestOptions RequestFrom(const std::string& version, double timeout_s, const std::string& routing_key,
                           const std::string& request_id) {
  RequestOptions r;
  r.version = version;
  r.routing_key = routing_key;
  r.request_id = request_id;
  r.deadline = DeadlineFrom(timeout_s);
  return r;
}

std::string RolloutText(const std::string& model, const RolloutStatus& s) {
  return boost::json::serialize(RolloutJson(model, s));
}

py::dict VersionInfo(const Server& server, const std::string& model, const std::string& version) {
  std::optional<VersionSlot> slot = server.router().Slot(model, version);
  py::dict d;
  d["version"] = version;
  d["loaded"] = slot && slot->loaded != nullptr;
  d["memory_bytes"] = slot && slot->loaded ? slot->loaded->memory_bytes() : 0;
  d["platform"] = slot ? slot->platform : "";
  d["reloadable"] = slot && slot->reloadable;
  return d;
}

}  // namespace

void RegisterServer(py::module_& m) {
  py::class_<FakeClock>(m, "FakeClock", "A clock that stands still until advance(); for tests of time policies.")
      .def(py::init<>())
      .def(
          "advance",
          [](FakeClock& self, double seconds) {
            py::gil_scoped_release release;  // waking a monitor may deliver an alert
            self.Advance(std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(seconds)));
          },
          py::arg("seconds"))
      .def_property_readonly("now_s", [](const FakeClock& self) {
        return std::chrono::duration<double>(self.Now().time_since_epoch()).count();
      });

  m.def("option_schema", [] { return OptionSchemaJson(); }, "The options schema as JSON (key, scope, type, help, ...).");
  m.def(
      "parse_tensor_spec",
      [](const std::string& text, const std::string& flag) {
        TensorSpec spec = Unwrap(ParseTensorSpec(text, flag));
        Signature one;
        one.inputs.push_back(std::move(spec));
        return one.ToJson();
      },
      py::arg("text"), py::arg("flag"),
      "A tensor declared as NAME:DTYPE:DIMS, as the JSON of a signature with that one input.");
  m.def(
      "check_options",
      [](const std::string& options_json, const std::vector<std::string>& scopes, const std::string& where) {
        std::vector<OptionScope> allowed;
        for (const std::string& s : scopes) {
          allowed.push_back(s == "server"    ? OptionScope::kServer
                            : s == "model"   ? OptionScope::kModel
                            : s == "rollout" ? OptionScope::kRollout
                                             : OptionScope::kVersion);
        }
        ParseServingOptions(options_json, allowed, ServingOptions{}, where);
      },
      py::arg("options_json"), py::arg("scopes"), py::arg("where") = "the keyword arguments",
      "Checks options (a JSON object) against the schema; raises InvalidInputError naming a bad key.");
  m.def(
      "option_values",
      [](const std::string& options_json) {
        ServingOptions o = ParseServingOptions(options_json, {OptionScope::kServer, OptionScope::kModel,
                                                              OptionScope::kVersion});
        return boost::json::serialize(
            OptionValues(o, {OptionScope::kServer, OptionScope::kModel, OptionScope::kVersion}));
      },
      py::arg("options_json"), "Every option's value after applying options_json over the defaults, as JSON.");

  py::class_<Server, ServerHolder>(m, "Server")
      .def(py::init([](const std::string& options_json, const std::string& repository, const py::object& on_alert,
                       const py::object& clock) {
             ServingOptions defaults = DefaultsFrom(options_json, on_alert, clock);
             StatusOr<std::unique_ptr<Server>> server = Status::Internal("not created");
             {
               py::gil_scoped_release release;
               server = Server::Create(std::move(defaults), repository);
             }
             return ServerHolder(Unwrap(std::move(server)).release());
           }),
           py::arg("options_json"), py::arg("repository") = "", py::arg("on_alert") = py::none(),
           py::arg("clock") = py::none(), py::keep_alive<1, 5>())
      .def_property_readonly("port", &Server::port)
      .def_property_readonly("grpc_port", &Server::grpc_port)
      .def(
          "reload_tokens",
          [](Server& self) { Check(Released([&] { return self.ReloadTokens(); })); },
          "Re-reads the token file; a bad file keeps the old tokens and raises.")
      .def(
          "reload_tls",
          [](Server& self) { Check(Released([&] { return self.ReloadTls(); })); },
          "Re-reads the TLS certificate, key and client CA; bad files keep the old ones and raise.")
      .def(
          "reload",
          [](Server& self) {
            std::string done;
            Check(Released([&] { return self.Reload(&done); }));
            return done;
          },
          "Reloads the TLS files and the token file (what SIGHUP does); returns what was reloaded.")
      .def_property_readonly("serves_tls", &Server::serves_tls)
      .def_property_readonly("draining", &Server::draining)
      .def_property_readonly("repository",
                             [](const Server& s) { return s.repository() ? s.repository()->root() : std::string(); })
      .def(
          "deploy",
          [](Server& self, const std::string& name, const std::string& version, std::shared_ptr<Model> model,
             const std::string& settings_json, bool make_default, const py::object& reference,
             const py::object& on_alert, const py::object& golden_inputs, const py::object& golden_outputs,
             std::optional<double> rtol, std::optional<double> atol) {
            ServingOptions o = ParseServingOptions(settings_json, {OptionScope::kModel, OptionScope::kVersion},
                                                   self.defaults());
            if (!on_alert.is_none()) o.version_options.monitor.on_alert = AlertSink(on_alert);
            VersionSource source;
            source.model = std::move(model);
            source.options = o.version_options;
            source.golden = GoldenFrom(golden_inputs, golden_outputs, rtol, atol);
            if (!reference.is_none()) source.reference = TensorFromPython(reference, "reference").clone();
            Check(Released([&] {
              if (!self.router().Options(name)) RETURN_IF_ERROR(self.AddModel(name, o.model));
              return self.Deploy(name, version, std::move(source), make_default);
            }));
          },
          py::arg("name"), py::arg("version"), py::arg("model"), py::arg("settings_json"), py::arg("make_default"),
          py::arg("reference") = py::none(), py::arg("on_alert") = py::none(), py::arg("golden_inputs") = py::none(),
          py::arg("golden_outputs") = py::none(), py::arg("rtol") = py::none(), py::arg("atol") = py::none())
      .def(
          "swap",
          [](Server& self, const std::string& name, const std::string& version, std::shared_ptr<Model> model,
             const py::object& golden_inputs, const py::object& golden_outputs, std::optional<double> rtol,
             std::optional<double> atol) {
            VersionSource source;
            source.model = std::move(model);
            source.options = HandleOf(self, name, "")->options();
            source.golden = GoldenFrom(golden_inputs, golden_outputs, rtol, atol);
            Check(Released([&] { return self.Swap(name, version, std::move(source)); }));
          },
          py::arg("name"), py::arg("version"), py::arg("model"), py::arg("golden_inputs") = py::none(),
          py::arg("golden_outputs") = py::none(), py::arg("rtol") = py::none(), py::arg("atol") = py::none())
      .def(
          "load",
          [](Server& self, const std::string& name, const std::string& version) {
            Check(Released([&] { return self.Load(name, version); }));
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "unload",
          [](Server& self, const std::string& name, const std::string& version) {
            Check(Released([&] { return self.Unload(name, version); }));
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "set_alias",
          [](Server& self, const std::string& name, const std::string& alias, const std::string& version) {
            Check(Released([&] { return self.SetAlias(name, alias, version); }));
          },
          py::arg("name"), py::arg("alias"), py::arg("version"))
      .def(
          "configure",
          [](Server& self, const std::string& name, const std::string& settings_json) {
            boost::json::error_code ec;
            boost::json::value parsed = boost::json::parse(settings_json, ec);
            if (ec || !parsed.is_object()) Check(Status::InvalidArgument("settings must be a JSON object"));
            Check(Released([&] { return self.Configure(name, parsed.get_object()); }));
          },
          py::arg("name"), py::arg("settings_json"))
      .def(
          "set_default",
          [](Server& self, const std::string& name, const std::string& version) {
            Check(Released([&] { return self.SetDefault(name, version); }));
          },
          py::arg("name"), py::arg("version"))
      .def("models",
           [](const Server& self) {
             py::list out;
             for (const std::string& name : self.router().ModelNames()) {
               py::dict d;
               d["name"] = name;
               StatusOr<std::string> def = self.router().DefaultVersion(name);
               d["default"] = def.ok() ? *def : "";
               d["aliases"] = self.router().Aliases(name);
               py::list versions;
               for (const std::string& v : self.router().Versions(name)) versions.append(VersionInfo(self, name, v));
               d["versions"] = versions;
               d["serving"] = HealthToPython(self.Health(name))["serving"];
               out.append(d);
             }
             return out;
           })
      .def("index",
           [](const Server& self, bool ready_only) {
             py::list out;
             for (const auto& e : self.RepositoryIndex(ready_only)) {
               py::dict d;
               d["name"] = e.name;
               d["version"] = e.version;
               d["state"] = e.state;
               d["reason"] = e.reason;
               out.append(d);
             }
             return out;
           },
           py::arg("ready_only") = false)
      .def(
          "model",
          [](const Server& self, const std::string& name, const std::string& version) {
            return HandleOf(self, name, version)->shared_model();
          },
          py::arg("name"), py::arg("version") = "", "The engine Model serving `name` at `version`.")
      .def(
          "signature_json",
          [](const Server& self, const std::string& name, const std::string& version) {
            return Unwrap(self.router().Find(name, version)).signature.ToJson();
          },
          py::arg("name"), py::arg("version") = "", "The signature of the version a request for (name, version) reaches.")
      .def(
          "resolve",
          [](const Server& self, const std::string& name, const std::string& version) {
            return Unwrap(self.router().Resolve(name, version)).version;
          },
          py::arg("name"), py::arg("version") = "", "The concrete version a request for (name, version) reaches.")
      .def(
          "predict",
          [](Server& self, const std::string& name, const std::string& version, const py::sequence& inputs,
             const py::object& convert, double timeout_s, const std::string& routing_key,
             const std::string& request_id) {
            auto tensors = OwnedTensors(inputs);
            const RequestOptions request = RequestFrom(version, timeout_s, routing_key, request_id);
            return ExportTensors(ReleasingGil([&] {
                                   return self.Predict(name, std::move(tensors), request, PredictCallers::kShareALock);
                                 }),
                                 convert);
          },
          py::arg("name"), py::arg("version"), py::arg("inputs"), py::arg("convert"), py::arg("timeout_s") = 0.0,
          py::arg("routing_key") = "", py::arg("request_id") = "")
      .def(
          "predict_arrays",
          [](Server& self, const std::string& name, const std::string& version, const py::tuple& inputs,
             std::size_t num_inputs, double timeout_s, const std::string& routing_key,
             const std::string& request_id) -> py::object {
            std::optional<std::vector<at::Tensor>> tensors = TensorsFromPlainArrays(inputs, num_inputs, ArrayMemory::kCopy);
            if (!tensors) return py::none();
            const RequestOptions request = RequestFrom(version, timeout_s, routing_key, request_id);
            return NumpyArrays(ReleasingGil(
                [&] { return self.Predict(name, std::move(*tensors), request, PredictCallers::kShareALock); }));
          },
          py::arg("name"), py::arg("version"), py::arg("inputs"), py::arg("num_inputs"), py::arg("timeout_s") = 0.0,
          py::arg("routing_key") = "", py::arg("request_id") = "",
          "predict() for plain numpy arrays: the flat outputs as numpy arrays, or None when some input is not a "
          "plain C-contiguous numpy array (or the count is off) and the general path must run.")
      .def(
          "submit",
          [](Server& self, const std::string& name, const std::string& version, const py::sequence& inputs,
             const py::object& convert, const py::object& on_done, double timeout_s, const std::string& routing_key,
             const std::string& request_id) {
            auto tensors = OwnedTensors(inputs);
            TensorCallback done = PythonCallback(convert, on_done);
            const RequestOptions request = RequestFrom(version, timeout_s, routing_key, request_id);
            py::gil_scoped_release release;
            self.Submit(name, std::move(tensors), request, std::move(done));
          },
          py::arg("name"), py::arg("version"), py::arg("inputs"), py::arg("convert"), py::arg("on_done"),
          py::arg("timeout_s") = 0.0, py::arg("routing_key") = "", py::arg("request_id") = "",
          "Queues a request; on_done(exception_or_None, outputs_or_None) runs on a worker thread with the GIL.")
      .def(
          "record_outcomes",
          [](Server& self, const std::string& name, const std::vector<std::string>& ids,
             const std::vector<std::vector<double>>& labels) {
            OutcomeCounts c = Unwrap(self.RecordOutcomes(name, ids, labels));
            py::dict d;
            d["matched"] = c.matched;
            d["unknown"] = c.unknown;
            return d;
          },
          py::arg("name"), py::arg("ids"), py::arg("labels"))
      .def(
          "traffic_json",
          [](const Server& self, const std::string& name) {
            return boost::json::serialize(self.TrafficJson(name));
          },
          py::arg("name"), "The model's rollout, shadow and online accuracy per version, as JSON (Server::TrafficJson).")
      .def(
          "rollout",
          [](Server& self, const std::string& name, const std::string& options_json) {
            ServingOptions o = ParseServingOptions(options_json, {OptionScope::kRollout}, ServingOptions{},
                                                   "the rollout's arguments");
            StatusOr<RolloutStatus> s = Status::Internal("not started");
            {
              py::gil_scoped_release release;
              s = self.StartRollout(name, o.rollout);
            }
            return RolloutText(name, Unwrap(std::move(s)));
          },
          py::arg("name"), py::arg("options_json"))
      .def(
          "rollout_action",
          [](Server& self, const std::string& name, const std::string& action) {
            StatusOr<RolloutStatus> s = Status::Internal("not done");
            {
              py::gil_scoped_release release;
              s = self.RolloutAction(name, action);
            }
            return RolloutText(name, Unwrap(std::move(s)));
          },
          py::arg("name"), py::arg("action"))
      .def(
          "stop",
          [](Server& self, bool drain) {
            py::gil_scoped_release release;
            self.Stop(drain);
          },
          py::arg("drain") = true)
      .def("metrics_text",
           [](const Server& self) {
             py::gil_scoped_release release;
             return self.MetricsText();
           })
      .def(
          "metrics_families",
          [](const Server& self, const std::string& name, const std::string& version) {
            // One version's families plus the server's; every family when no name.
            if (name.empty()) return FamiliesToPython(self.MetricFamilies());
            VersionHandle v = Observed(self, name, version);
            MonitorOf(v);
            v->RefreshGauges();
            return FamiliesToPython(MergeFamilies({OfVersion(self.metrics().registry().Snapshot(), v->id()),
                                                   v->monitor()->registry().Snapshot()}));
          },
          py::arg("name") = "", py::arg("version") = "")
      .def(
          "monitoring",
          [](const Server& self, const std::string& name, const std::string& version) {
            return Observed(self, name, version)->monitor() != nullptr;
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "settings",
          [](const Server& self, const std::string& name, const std::string& version) {
            VersionHandle v = Observed(self, name, version);
            ServingOptions o = self.defaults();
            o.version_options = v->options();
            if (auto model = self.router().Options(name)) o.model = *model;
            o.name = name;
            o.version = v->id().version;
            return boost::json::serialize(OptionValues(o, {OptionScope::kServer, OptionScope::kModel,
                                                           OptionScope::kVersion}));
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "stats", [](const Server& self, const std::string& name, const std::string& version) {
            return StatsToPython(MonitorOf(Observed(self, name, version)).Stats());
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "status", [](const Server& self, const std::string& name) { return HealthToPython(self.Health(name)); },
          py::arg("name"))
      .def(
          "restore",
          [](Server& self, const std::string& name) {
            Check(Released([&] { return self.Restore(name); }));  // the restore alert takes the GIL
          },
          py::arg("name"))
      .def(
          "tick_policies",
          [](Server& self) {
            py::gil_scoped_release release;
            self.TickPolicies();
          },
          "Judges every routing policy now (for tests on a fake clock).")
      .def(
          "set_reference",
          [](Server& self, const std::string& name, const std::string& version, const py::object& data) {
            at::Tensor t = TensorFromPython(data, "reference").clone();
            VersionHandle v = Observed(self, name, version);
            Check(Released([&] { return v->SetReference(t); }));
          },
          py::arg("name"), py::arg("version"), py::arg("data"))
      .def(
          "check_drift",
          [](Server& self, const std::string& name, const std::string& version) {
            VersionHandle v = Observed(self, name, version);
            monitor::ModelMonitor& mon = MonitorOf(v);
            monitor::DriftReport report;
            {
              py::gil_scoped_release release;  // a drift alert takes the GIL
              report = mon.CheckDrift();
            }
            return DriftReportToPython(report, mon.FeatureNames(), mon.LastPredictionDrift());
          },
          py::arg("name"), py::arg("version") = "")
      .def(
          "last_drift",
          [](Server& self, const std::string& name, const std::string& version) {
            VersionHandle v = Observed(self, name, version);
            monitor::ModelMonitor& mon = MonitorOf(v);
            return DriftReportToPython(mon.LastDriftReport(), mon.FeatureNames(), mon.LastPredictionDrift());
          },
          py::arg("name"), py::arg("version") = "");

  py::class_<Deployment, DeploymentHolder>(m, "Deployment")
      .def(py::init([](std::shared_ptr<Model> model, const std::string& options_json,
                       std::shared_ptr<Model> fallback, const py::object& on_alert, const py::object& clock) {
             ServingOptions o = DefaultsFrom(options_json, on_alert, clock);
             StatusOr<std::unique_ptr<Deployment>> dep = Status::Internal("not created");
             {
               py::gil_scoped_release release;
               dep = Deployment::Create(std::move(model), std::move(o), std::move(fallback));
             }
             return DeploymentHolder(Unwrap(std::move(dep)).release());
           }),
           py::arg("model"), py::arg("options_json"), py::arg("fallback") = nullptr, py::arg("on_alert") = py::none(),
           py::arg("clock") = py::none(), py::keep_alive<1, 6>())
      .def_property_readonly("port", &Deployment::port)
      .def_property_readonly("grpc_port", &Deployment::grpc_port)
      .def(
          "reload_tokens",
          [](Deployment& self) { Check(Released([&] { return self.ReloadTokens(); })); },
          "Re-reads the token file; a bad file keeps the old tokens and raises.")
      .def(
          "reload_tls",
          [](Deployment& self) { Check(Released([&] { return self.ReloadTls(); })); },
          "Re-reads the TLS certificate, key and client CA; bad files keep the old ones and raise.")
      .def(
          "reload",
          [](Deployment& self) {
            std::string done;
            Check(Released([&] { return self.Reload(&done); }));
            return done;
          },
          "Reloads the TLS files and the token file (what SIGHUP does); returns what was reloaded.")
      .def_property_readonly("serves_tls", &Deployment::serves_tls)
      .def_property_readonly("draining", &Deployment::draining)
      .def_property_readonly("name", [](const Deployment& d) { return d.options().name; })
      .def_property_readonly("version", &Deployment::version)
      .def_property_readonly("history", &Deployment::history)
      .def_property_readonly("model", &Deployment::model)
      .def_property_readonly("host", [](const Deployment& d) { return d.options().server.http.host; })
      .def_property_readonly("serve_http", [](const Deployment& d) { return d.options().server.serve_http; })
      .def_property_readonly("server", [](Deployment& d) -> Server& { return d.server(); },
                             py::return_value_policy::reference_internal)
      .def(
          "update",
          [](Deployment& self, std::shared_ptr<Model> model, const py::object& golden_inputs,
             const py::object& golden_outputs, std::optional<double> rtol, std::optional<double> atol,
             const std::string& version) {
            std::optional<GoldenData> golden = GoldenFrom(golden_inputs, golden_outputs, rtol, atol);
            Check(Released([&] { return self.Update(std::move(model), std::move(golden), version); }));
            return self.version();
          },
          py::arg("model"), py::arg("golden_inputs") = py::none(), py::arg("golden_outputs") = py::none(),
          py::arg("rtol") = py::none(), py::arg("atol") = py::none(), py::arg("version") = "")
      .def("rollback",
           [](Deployment& self) {
             Check(Released([&] { return self.Rollback(); }));
             return self.version();
           })
      .def(
          "set_reference",
          [](Deployment& self, const py::object& data) {
            at::Tensor t = TensorFromPython(data, "reference").clone();
            Check(Released([&] { return self.SetReference(t); }));
          },
          py::arg("data"))
      .def("restore", [](Deployment& self) { Check(Released([&] { return self.Restore(); })); })
      .def(
          "stop",
          [](Deployment& self, bool drain) {
            py::gil_scoped_release release;
            self.Stop(drain);
          },
          py::arg("drain") = true);
}

}  // namespace mlship::bindings
