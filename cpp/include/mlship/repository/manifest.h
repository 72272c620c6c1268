// Manifest: what a repository records about one model version, in the
// version folder's mlship.json: every file with its sha256 and size, the
// signature, the serving settings, the monitoring reference, golden
// outputs, labels, free-form metadata and when it was made.
//
//   {"mlship_manifest": 1, "name": "digits", "version": "3",
//    "created": "2026-12-01T21:33:49Z", "model": "model.pt",
//    "files": {"model.pt": {"sha256": "9f86...", "bytes": 52311}, ...},
//    "signature": {"inputs": [...], "outputs": [...]},
//    "settings": {"max_batch_size": 16},
//    "reference": "reference.npy",
//    "golden": {"inputs": ["golden/input_0.npy"], "outputs": ["golden/output_0.npy"], "rtol": 1e-5, "atol": 1e-6},
//    "labels": {"team": "vision"}, "metadata": {"git_commit": "abc123", "accuracy": 0.97}}
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship::repository {

// The file name of a version's manifest.
inline constexpr std::string_view kManifestFile = "mlship.json";
// The manifest format this code writes and reads.
inline constexpr int kManifestFormat = 1;
// Largest manifest read, in bytes: parsing is bounded like every input.
inline constexpr std::size_t kMaxManifestBytes = std::size_t{16} << 20;

struct FileRecord {
  std::string sha256;
  int64_t bytes = 0;
};

// Sample inputs with the outputs the version must reproduce before it takes
// traffic, as .npy files (one per input and per output, in signature order).
struct GoldenRecord {
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  // Tolerances; unset means the default for each output's dtype.
  std::optional<double> rtol;
  std::optional<double> atol;
};

struct Manifest {
  std::string name;
  std::string version;
  // ISO 8601, UTC ("2026-12-01T21:33:49Z").
  std::string created;
  // The model file, relative to the version folder.
  std::string model;
  // Every file of the version but the manifest, by relative path.
  std::map<std::string, FileRecord> files;
  // The model's inputs and outputs; unset for a file that carries its own.
  std::optional<Signature> signature;
  // Serving settings (options_schema.h keys of version and model scope);
  // checked when the version is served.
  boost::json::object settings;
  // A monitoring reference (.npy, relative path), or empty.
  std::string reference;
  std::optional<GoldenRecord> golden;
  std::map<std::string, std::string> labels;
  // Free-form: training run, data set, git commit, metrics, reports.
  boost::json::object metadata;

  // Parses a manifest. InvalidArgument naming `where` (the file) and what is
  // wrong: not JSON, another format, a missing or mistyped field, a file
  // path that is not inside the version folder.
  static StatusOr<Manifest> Parse(std::string_view json, std::string_view where);
  // Pretty-printed JSON, stable key order.
  std::string ToJson() const;
};

// Per-model settings shared by all its versions, in
// <root>/<name>/mlship-model.json: aliases and model-scope settings
// (default_version, version_policy, fallback_version, slo_*).
struct ModelConfig {
  std::map<std::string, std::string> aliases;
  boost::json::object settings;
  // The model's rollout in progress (or last ended), so a restarted server
  // resumes it: the rollout keys of the options schema plus "step" and
  // "state". Empty when it never had one.
  boost::json::object rollout;

  static StatusOr<ModelConfig> Parse(std::string_view json, std::string_view where);
  std::string ToJson() const;
};

// The current time as ISO 8601 UTC.
std::string NowUtc();

}  // namespace mlship::repository
