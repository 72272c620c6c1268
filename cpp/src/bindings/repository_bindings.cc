// mlship._core.Repository: models on disk (repository/repository.h). The
// Python layer saves models and arrays to files; this side copies, hashes,
// writes manifests and verifies.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "errors.h"
#include "mlship/repository/repository.h"
#include "serving_helpers.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

template <typename T>
T Unwrap(StatusOr<T> result) {
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

boost::json::object ObjectFrom(const std::string& text, const char* what) {
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) ThrowStatus(Status::InvalidArgument(std::string(what) + " must be a JSON object"));
  return std::move(v.get_object());
}

}  // namespace

void RegisterRepository(py::module_& m) {
  py::class_<repository::Repository>(m, "Repository")
      .def(py::init([](const std::string& root, bool create) { return Unwrap(repository::Repository::Open(root, create)); }),
           py::arg("root"), py::arg("create") = false)
      .def_property_readonly("root", &repository::Repository::root)
      .def(
          "add",
          [](const repository::Repository& self, const std::string& name, const std::string& version,
             const std::string& model_path, const std::string& model_file, const std::map<std::string, std::string>& files,
             std::optional<std::string> signature_json, const std::string& settings_json, const std::string& reference,
             std::optional<std::vector<std::string>> golden_inputs, std::optional<std::vector<std::string>> golden_outputs,
             std::optional<double> rtol, std::optional<double> atol, const std::map<std::string, std::string>& labels,
             const std::string& metadata_json, const std::vector<std::string>& aliases) {
            repository::AddRequest r;
            r.name = name;
            r.version = version;
            r.model_path = model_path;
            r.model_file = model_file;
            r.files = files;
            if (signature_json) r.signature = Unwrap(Signature::FromJson(*signature_json));
            r.settings = ObjectFrom(settings_json, "settings");
            // Settings are checked now, not when a server first loads them.
            ParseServingOptions(settings_json, {OptionScope::kVersion});
            r.reference = reference;
            if (golden_inputs) r.golden = repository::GoldenRecord{*golden_inputs, golden_outputs.value_or(
                                                                                       std::vector<std::string>{}),
                                                                   rtol, atol};
            r.labels = labels;
            r.metadata = ObjectFrom(metadata_json, "metadata");
            r.aliases = aliases;
            StatusOr<repository::Manifest> added = Status::Internal("not added");
            {
              py::gil_scoped_release release;
              added = self.Add(r);
            }
            return Unwrap(std::move(added)).ToJson();
          },
          py::arg("name"), py::arg("version"), py::arg("model_path"), py::arg("model_file"), py::arg("files"),
          py::arg("signature_json"), py::arg("settings_json"), py::arg("reference"), py::arg("golden_inputs"),
          py::arg("golden_outputs"), py::arg("rtol"), py::arg("atol"), py::arg("labels"), py::arg("metadata_json"),
          py::arg("aliases"))
      .def("models", &repository::Repository::Models)
      .def("versions", [](const repository::Repository& self, const std::string& name) { return Unwrap(self.Versions(name)); },
           py::arg("name"))
      .def(
          "get",
          [](const repository::Repository& self, const std::string& name, const std::string& version, bool verify) {
            StatusOr<repository::VersionRecord> record = Status::Internal("not read");
            {
              py::gil_scoped_release release;  // hashing large files takes a while
              record = self.Get(name, version, verify);
            }
            repository::VersionRecord r = Unwrap(std::move(record));
            return py::make_tuple(r.dir, r.manifest.ToJson());
          },
          py::arg("name"), py::arg("version"), py::arg("verify") = true, "(folder, manifest JSON) of a version.")
      .def(
          "config",
          [](const repository::Repository& self, const std::string& name) { return Unwrap(self.Config(name)).ToJson(); },
          py::arg("name"))
      .def(
          "set_alias",
          [](const repository::Repository& self, const std::string& name, const std::string& alias,
             const std::string& version) {
            Status s = self.SetAlias(name, alias, version);
            if (!s.ok()) ThrowStatus(s);
          },
          py::arg("name"), py::arg("alias"), py::arg("version"))
      .def(
          "set_model_settings",
          [](const repository::Repository& self, const std::string& name, const std::string& settings_json) {
            ParseServingOptions(settings_json, {OptionScope::kModel, OptionScope::kVersion});
            Status s = self.SetModelSettings(name, ObjectFrom(settings_json, "settings"));
            if (!s.ok()) ThrowStatus(s);
          },
          py::arg("name"), py::arg("settings_json"))
      .def(
          "remove",
          [](const repository::Repository& self, const std::string& name, const std::string& version, bool force) {
            Status s = self.Remove(name, version, force);
            if (!s.ok()) ThrowStatus(s);
          },
          py::arg("name"), py::arg("version") = "", py::arg("force") = false)
      .def(
          "verify",
          [](const repository::Repository& self, const std::string& name) {
            std::vector<repository::VersionCheck> checks;
            {
              py::gil_scoped_release release;
              checks = self.Verify(name);
            }
            py::list out;
            for (const auto& c : checks) {
              py::dict d;
              d["name"] = c.name;
              d["version"] = c.version;
              d["problems"] = c.problems;
              out.append(d);
            }
            return out;
          },
          py::arg("name") = "");
}

}  // namespace mlship::bindings
