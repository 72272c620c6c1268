// Repository: models on disk, one folder per model and per version.
//
//   <root>/<name>/mlship-model.json     aliases and model settings (optional)
//   <root>/<name>/<version>/mlship.json the version's manifest (manifest.h)
//   <root>/<name>/<version>/model.pt    its files, each hashed in the manifest
//
// Adding is crash-safe: a version is written into a hidden staging folder,
// flushed, then renamed into place, so a crash never leaves half a version
// (a leftover staging folder is ignored and cleaned up later). Reading
// verifies: every listed file must exist as a regular file with its size and
// sha256, and the manifest must parse; otherwise the error names the file.
// Names are checked (names.h) so that nothing resolves outside the root.
// Nothing is ever unpickled.
//
// Thread- and process-safety: reads need no lock (files only appear by
// rename); writes (add, alias, settings, remove) take an exclusive flock on
// <root>/mlship-repository.lock, so several processes may share a root.
#pragma once

#include <boost/json/object.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlship/repository/manifest.h"
#include "mlship/status.h"

namespace mlship::repository {

// What to add as a new version.
struct AddRequest {
  std::string name;
  // Empty: the next integer after the largest integer version (1 for the
  // first).
  std::string version;
  // The model file to copy in (TorchScript or .pt2), and its name inside the
  // version folder. Default "model.pt".
  std::string model_path;
  std::string model_file = "model.pt";
  // Further files to copy in: relative destination path -> source path.
  std::map<std::string, std::string> files;
  // Recorded in the manifest as given (see Manifest).
  std::optional<Signature> signature;
  boost::json::object settings;
  // The destination paths (keys of `files`) of the reference and golden
  // data, if any.
  std::string reference;
  std::optional<GoldenRecord> golden;
  std::map<std::string, std::string> labels;
  boost::json::object metadata;
  // Aliases to point at the new version once it exists.
  std::vector<std::string> aliases;
};

// A version found on disk.
struct VersionRecord {
  // The version folder, absolute.
  std::string dir;
  Manifest manifest;
  // dir + "/" + relative path.
  std::string PathOf(const std::string& relative) const { return dir + "/" + relative; }
};

// The outcome of checking one version.
struct VersionCheck {
  std::string name;
  std::string version;
  // Empty when the version is intact.
  std::vector<std::string> problems;
};

class Repository {
 public:
  // Opens the repository at `root`. With `create`, makes the folder if it is
  // missing. NotFound / InvalidArgument naming the root.
  static StatusOr<Repository> Open(const std::string& root, bool create = false);

  const std::string& root() const { return root_; }

  // Adds a version (see AddRequest) and returns its manifest.
  // InvalidArgument for a bad name or path; FailedPrecondition when the
  // version exists; NotFound for a missing source file.
  StatusOr<Manifest> Add(const AddRequest& request) const;

  // Model names, sorted.
  std::vector<std::string> Models() const;
  // The versions of `name`, oldest first (CompareVersions). NotFound when
  // there is no such model.
  StatusOr<std::vector<std::string>> Versions(const std::string& name) const;
  // The version `version_or_alias` names (an alias of the model, or a
  // version), its manifest read and, with `verify`, every file checked.
  StatusOr<VersionRecord> Get(const std::string& name, const std::string& version_or_alias,
                              bool verify = true) const;
  // The model's aliases and settings (empty when it has none).
  StatusOr<ModelConfig> Config(const std::string& name) const;
  // Points `alias` at `version` (which must exist), or removes it when
  // `version` is empty. An alias may not be a version's name.
  Status SetAlias(const std::string& name, const std::string& alias, const std::string& version) const;
  // Replaces the model-scope settings of `name` (the caller checks them
  // against the options schema).
  Status SetModelSettings(const std::string& name, const boost::json::object& settings) const;
  // Records the model's rollout state (see ModelConfig::rollout), its
  // aliases and its default version setting, in one write.
  Status SetRollout(const std::string& name, const boost::json::object& rollout,
                    const std::map<std::string, std::string>& aliases, const std::string& default_version) const;
  // Removes one version (or, with an empty version, the whole model).
  // FailedPrecondition when an alias points at it, unless `force` (which
  // drops those aliases).
  Status Remove(const std::string& name, const std::string& version, bool force = false) const;
  // Checks every version of `name` (all models when empty).
  std::vector<VersionCheck> Verify(const std::string& name = "") const;

 private:
  explicit Repository(std::string root) : root_(std::move(root)) {}
  std::string ModelDir(const std::string& name) const { return root_ + "/" + name; }
  // Problems with one version folder's files against its manifest.
  std::vector<std::string> CheckFiles(const std::string& dir, const Manifest& manifest) const;
  StatusOr<Manifest> ReadManifest(const std::string& name, const std::string& version) const;
  Status WriteConfig(const std::string& name, const ModelConfig& config) const;

  std::string root_;
};

}  // namespace mlship::repository
