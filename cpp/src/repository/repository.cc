// Repository: layout, crash-safe adds, verified reads, aliases.
#include "mlship/repository/repository.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "mlship/repository/names.h"
#include "mlship/repository/sha256.h"

namespace mlship::repository {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kModelConfigFile = "mlship-model.json";
constexpr std::string_view kLockFile = "mlship-repository.lock";
// Hidden folders for adds in progress and removals; ignored by listings.
constexpr std::string_view kStagingPrefix = ".staging-";
constexpr std::string_view kTrashPrefix = ".trash-";

std::string Errno() { return std::strerror(errno); }

bool IsDirectory(const std::string& path) {
  struct stat st {};
  // lstat: a symbolic link to a folder elsewhere is not one of ours.
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Reads a small file whole, bounded.
StatusOr<std::string> ReadSmallFile(const std::string& path, std::size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("'" + path + "' does not exist");
    return Status::InvalidArgument("cannot open '" + path + "': " + Errno());
  }
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      ::close(fd);
      return Status::InvalidArgument("'" + path + "' is larger than the " + std::to_string(limit) +
                                     " bytes accepted");
    }
  }
  ::close(fd);
  return out;
}

Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open '" + path + "' to flush it: " + Errno());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::Internal("cannot flush '" + path + "': " + Errno());
  return Status::Ok();
}

// Writes `text` to `path` through a temporary file and a rename, so readers
// see the old or the new file, never a torn one.
Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal("cannot create '" + tmp + "': " + Errno());
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      ::close(fd);
      return Status::Internal("cannot write '" + tmp + "': " + Errno());
    }
    done += static_cast<std::size_t>(w);
  }
  const int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return Status::Internal("cannot flush '" + tmp + "': " + Errno());
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::Internal("cannot rename '" + tmp + "': " + Errno());
  return FsyncPath(fs::path(path).parent_path().string());
}

// An exclusive flock on the repository's lock file, for writers.
class WriteLock {
 public:
  explicit WriteLock(const std::string& root) {
    fd_ = ::open((root + "/" + std::string(kLockFile)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~WriteLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string RandomSuffix() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> any;
  std::ostringstream out;
  out << std::hex << any(device);
  return out.str();
}

std::optional<uint64_t> AsInteger(const std::string& text) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// Removes a folder tree; errors are ignored (best effort on cleanup).
void RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace

StatusOr<Repository> Repository::Open(const std::string& root, bool create) {
  if (root.empty()) return Status::InvalidArgument("a repository needs a root folder; got an empty path");
  std::error_code ec;
  fs::path path = fs::absolute(root, ec);
  if (ec) return Status::InvalidArgument("cannot resolve repository root '" + root + "': " + ec.message());
  if (!fs::exists(path)) {
    if (!create) return Status::NotFound("repository root '" + root + "' does not exist");
    fs::create_directories(path, ec);
    if (ec) return Status::Internal("cannot create repository root '" + root + "': " + ec.message());
  }
  if (!fs::is_directory(path)) return Status::InvalidArgument("repository root '" + root + "' is not a folder");
  path = fs::canonical(path, ec);
  if (ec) return Status::InvalidArgument("cannot resolve repository root '" + root + "': " + ec.message());
  return Repository(path.string());
}

StatusOr<Manifest> Repository::Add(const AddRequest& request) const {
  RETURN_IF_ERROR(ValidateName("model name", request.name));
  if (!request.version.empty()) RETURN_IF_ERROR(ValidateName("version", request.version));
  for (const std::string& alias : request.aliases) RETURN_IF_ERROR(ValidateName("alias", alias));
  RETURN_IF_ERROR(ValidateRelativePath(request.model_file));
  for (const auto& [dest, source] : request.files) {
    RETURN_IF_ERROR(ValidateRelativePath(dest));
    if (dest == request.model_file || dest == kManifestFile) {
      return Status::InvalidArgument("file '" + dest + "' would overwrite the model file or the manifest");
    }
  }
  if (!request.reference.empty() && request.files.count(request.reference) == 0) {
    return Status::InvalidArgument("the reference '" + request.reference + "' must be one of the files added");
  }
  if (request.golden) {
    for (const auto* list : {&request.golden->inputs, &request.golden->outputs}) {
      for (const std::string& path : *list) {
        if (request.files.count(path) == 0) {
          return Status::InvalidArgument("golden file '" + path + "' must be one of the files added");
        }
      }
    }
  }

  // Stage everything outside the lock: copying may take a while.
  const std::string model_dir = ModelDir(request.name);
  std::error_code ec;
  fs::create_directories(model_dir, ec);
  if (ec) return Status::Internal("cannot create '" + model_dir + "': " + ec.message());
  const std::string staging = model_dir + "/" + std::string(kStagingPrefix) + RandomSuffix();
  if (::mkdir(staging.c_str(), 0755) != 0) return Status::Internal("cannot create '" + staging + "': " + Errno());
  struct Cleanup {
    std::string path;
    bool keep = false;
    ~Cleanup() {
      if (!keep) RemoveTree(path);
    }
  } cleanup{staging};

  Manifest m;
  m.name = request.name;
  m.created = NowUtc();
  m.model = request.model_file;
  m.signature = request.signature;
  m.settings = request.settings;
  m.reference = request.reference;
  m.golden = request.golden;
  m.labels = request.labels;
  m.metadata = request.metadata;
  std::map<std::string, std::string> sources = request.files;
  sources[request.model_file] = request.model_path;
  for (const auto& [dest, source] : sources) {
    const fs::path target = fs::path(staging) / dest;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status::Internal("cannot create '" + target.parent_path().string() + "': " + ec.message());
    StatusOr<FileDigest> digest = CopyAndHash(source, target.string());
    if (!digest.ok()) {
      return Status(digest.status().code(), "cannot add '" + dest + "' from '" + source + "': " +
                                                digest.status().message());
    }
    m.files[dest] = FileRecord{digest->sha256, digest->bytes};
  }
  for (const auto& [dest, source] : sources) {
    const fs::path parent = (fs::path(staging) / dest).parent_path();
    if (parent != fs::path(staging)) RETURN_IF_ERROR(FsyncPath(parent.string()));
  }

  WriteLock lock(root_);
  if (!lock.ok()) return Status::Internal("cannot lock repository '" + root_ + "': " + Errno());
  if (request.version.empty()) {
    uint64_t next = 1;
    for (const std::string& v : ListDir(model_dir)) {
      if (auto n = AsInteger(v); n && IsDirectory(model_dir + "/" + v)) next = std::max(next, *n + 1);
    }
    m.version = std::to_string(next);
  } else {
    m.version = request.version;
  }
  const std::string target = model_dir + "/" + m.version;
  if (Exists(target)) {
    return Status::FailedPrecondition("model '" + request.name + "' already has version '" + m.version +
                                      "'; versions are never overwritten (remove it first, or add another)");
  }
  RETURN_IF_ERROR(WriteAtomically(staging + "/" + std::string(kManifestFile), m.ToJson()));
  RETURN_IF_ERROR(FsyncPath(staging));
  if (::rename(staging.c_str(), target.c_str()) != 0) {
    return Status::Internal("cannot move the new version into '" + target + "': " + Errno());
  }
  cleanup.keep = true;
  RETURN_IF_ERROR(FsyncPath(model_dir));
  if (!request.aliases.empty()) {
    StatusOr<ModelConfig> config = Config(request.name);
    if (!config.ok()) return config.status();
    for (const std::string& alias : request.aliases) config->aliases[alias] = m.version;
    RETURN_IF_ERROR(WriteConfig(request.name, *config));
  }
  return m;
}

std::vector<std::string> Repository::Models() const {
  std::vector<std::string> out;
  for (const std::string& name : ListDir(root_)) {
    if (ValidateName("model name", name).ok() && IsDirectory(ModelDir(name))) out.push_back(name);
  }
  return out;
}

StatusOr<std::vector<std::string>> Repository::Versions(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("model name", name));
  const std::string dir = ModelDir(name);
  if (!IsDirectory(dir)) return Status::NotFound("the repository has no model '" + name + "'");
  std::vector<std::string> out;
  for (const std::string& v : ListDir(dir)) {
    if (ValidateName("version", v).ok() && IsDirectory(dir + "/" + v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return CompareVersions(a, b) < 0; });
  return out;
}

StatusOr<Manifest> Repository::ReadManifest(const std::string& name, const std::string& version) const {
  const std::string path = ModelDir(name) + "/" + version + "/" + std::string(kManifestFile);
  StatusOr<std::string> text = ReadSmallFile(path, kMaxManifestBytes);
  if (!text.ok()) {
    return Status::InvalidArgument("version '" + version + "' of model '" + name + "' has no readable manifest (" +
                                   text.status().message() + ")");
  }
  ASSIGN_OR_RETURN(Manifest m, Manifest::Parse(*text, path));
  if (m.name != name || m.version != version) {
    return Status::InvalidArgument(path + " describes model '" + m.name + "' version '" + m.version +
                                   "', not the folder it is in");
  }
  return m;
}

std::vector<std::string> Repository::CheckFiles(const std::string& dir, const Manifest& m) const {
  std::vector<std::string> problems;
  for (const auto& [path, record] : m.files) {
    StatusOr<FileDigest> digest = Sha256File(dir + "/" + path);
    if (!digest.ok()) {
      problems.push_back(dir + "/" + path + ": " + digest.status().message());
    } else if (digest->bytes != record.bytes) {
      problems.push_back(dir + "/" + path + ": " + std::to_string(digest->bytes) + " bytes, the manifest says " +
                         std::to_string(record.bytes) + " (changed since it was added)");
    } else if (digest->sha256 != record.sha256) {
      problems.push_back(dir + "/" + path + ": sha256 " + digest->sha256 + " does not match the manifest's " +
                         record.sha256 + " (changed since it was added)");
    }
  }
  return problems;
}

StatusOr<VersionRecord> Repository::Get(const std::string& name, const std::string& version_or_alias,
                                        bool verify) const {
  RETURN_IF_ERROR(ValidateName("model name", name));
  RETURN_IF_ERROR(ValidateName("version or alias", version_or_alias));
  if (!IsDirectory(ModelDir(name))) return Status::NotFound("the repository has no model '" + name + "'");
  std::string version = version_or_alias;
  if (!IsDirectory(ModelDir(name) + "/" + version)) {
    ASSIGN_OR_RETURN(ModelConfig config, Config(name));
    auto alias = config.aliases.find(version_or_alias);
    if (alias == config.aliases.end()) {
      return Status::NotFound("model '" + name + "' has no version or alias '" + version_or_alias + "'");
    }
    version = alias->second;
    if (!IsDirectory(ModelDir(name) + "/" + version)) {
      return Status::NotFound("alias '" + version_or_alias + "' of model '" + name + "' points at version '" +
                              version + "', which does not exist");
    }
  }
  VersionRecord record;
  record.dir = ModelDir(name) + "/" + version;
  ASSIGN_OR_RETURN(record.manifest, ReadManifest(name, version));
  if (verify) {
    std::vector<std::string> problems = CheckFiles(record.dir, record.manifest);
    if (!problems.empty()) {
      std::string message = "version '" + version + "' of model '" + name + "' failed verification: " + problems[0];
      if (problems.size() > 1) message += " (and " + std::to_string(problems.size() - 1) + " more)";
      return Status::FailedPrecondition(message);
    }
  }
  return record;
}

StatusOr<ModelConfig> Repository::Config(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("model name", name));
  const std::string path = ModelDir(name) + "/" + std::string(kModelConfigFile);
  if (!Exists(path)) return ModelConfig{};
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxManifestBytes));
  return ModelConfig::Parse(text, path);
}

Status Repository::WriteConfig(const std::string& name, const ModelConfig& config) const {
  return WriteAtomically(ModelDir(name) + "/" + std::string(kModelConfigFile), config.ToJson());
}

Status Repository::SetAlias(const std::string& name, const std::string& alias, const std::string& version) const {
  RETURN_IF_ERROR(ValidateName("model name", name));
  RETURN_IF_ERROR(ValidateName("alias", alias));
  WriteLock lock(root_);
  if (!lock.ok()) return Status::Internal("cannot lock repository '" + root_ + "': " + Errno());
  ASSIGN_OR_RETURN(std::vector<std::string> versions, Versions(name));
  if (std::find(versions.begin(), versions.end(), alias) != versions.end()) {
    return Status::InvalidArgument("alias '" + alias + "' would hide version '" + alias + "' of model '" + name +
                                   "'; choose another name");
  }
  ASSIGN_OR_RETURN(ModelConfig config, Config(name));
  if (version.empty()) {
    config.aliases.erase(alias);
  } else {
    RETURN_IF_ERROR(ValidateName("version", version));
    if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
      return Status::NotFound("model '" + name + "' has no version '" + version + "' for alias '" + alias + "'");
    }
    config.aliases[alias] = version;
  }
  return WriteConfig(name, config);
}

Status Repository::SetModelSettings(const std::string& name, const boost::json::object& settings) const {
  WriteLock lock(root_);
  if (!lock.ok()) return Status::Internal("cannot lock repository '" + root_ + "': " + Errno());
  ASSIGN_OR_RETURN(std::vector<std::string> versions, Versions(name));
  ASSIGN_OR_RETURN(ModelConfig config, Config(name));
  config.settings = settings;
  return WriteConfig(name, config);
}

Status Repository::SetRollout(const std::string& name, const boost::json::object& rollout,
                              const std::map<std::string, std::string>& aliases,
                              const std::string& default_version) const {
  WriteLock lock(root_);
  if (!lock.ok()) return Status::Internal("cannot lock repository '" + root_ + "': " + Errno());
  ASSIGN_OR_RETURN(std::vector<std::string> versions, Versions(name));
  ASSIGN_OR_RETURN(ModelConfig config, Config(name));
  config.rollout = rollout;
  config.aliases = aliases;
  if (default_version.empty()) {
    config.settings.erase("default_version");
  } else {
    config.settings["default_version"] = default_version;
  }
  return WriteConfig(name, config);
}

Status Repository::Remove(const std::string& name, const std::string& version, bool force) const {
  RETURN_IF_ERROR(ValidateName("model name", name));
  if (!version.empty()) RETURN_IF_ERROR(ValidateName("version", version));
  WriteLock lock(root_);
  if (!lock.ok()) return Status::Internal("cannot lock repository '" + root_ + "': " + Errno());
  ASSIGN_OR_RETURN(std::vector<std::string> versions, Versions(name));
  ASSIGN_OR_RETURN(ModelConfig config, Config(name));
  const std::string victim = version.empty() ? ModelDir(name) : ModelDir(name) + "/" + version;
  if (!version.empty()) {
    if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
      return Status::NotFound("model '" + name + "' has no version '" + version + "'");
    }
    std::vector<std::string> pointing;
    for (const auto& [alias, target] : config.aliases) {
      if (target == version) pointing.push_back(alias);
    }
    if (!pointing.empty() && !force) {
      std::string list;
      for (const std::string& a : pointing) list += (list.empty() ? "" : ", ") + a;
      return Status::FailedPrecondition("version '" + version + "' of model '" + name + "' is aliased (" + list +
                                        "); move the aliases first, or force the removal");
    }
    if (!pointing.empty()) {
      for (const std::string& a : pointing) config.aliases.erase(a);
      RETURN_IF_ERROR(WriteConfig(name, config));
    }
  }
  // Renamed away first, so readers see it whole or gone, never half-deleted.
  const std::string trash = (version.empty() ? root_ : ModelDir(name)) + "/" + std::string(kTrashPrefix) +
                            RandomSuffix();
  if (::rename(victim.c_str(), trash.c_str()) != 0) {
    return Status::Internal("cannot remove '" + victim + "': " + Errno());
  }
  RemoveTree(trash);
  return Status::Ok();
}

std::vector<VersionCheck> Repository::Verify(const std::string& only) const {
  std::vector<VersionCheck> out;
  std::vector<std::string> names = only.empty() ? Models() : std::vector<std::string>{only};
  for (const std::string& name : names) {
    StatusOr<std::vector<std::string>> versions = Versions(name);
    if (!versions.ok()) {
      out.push_back(VersionCheck{name, "", {versions.status().message()}});
      continue;
    }
    StatusOr<ModelConfig> config = Config(name);
    for (const std::string& version : *versions) {
      VersionCheck check{name, version, {}};
      StatusOr<Manifest> m = ReadManifest(name, version);
      if (!m.ok()) {
        check.problems.push_back(m.status().message());
      } else {
        const std::string dir = ModelDir(name) + "/" + version;
        check.problems = CheckFiles(dir, *m);
        // Files nobody listed were put there by hand.
        for (const auto& entry : fs::recursive_directory_iterator(dir)) {
          const std::string relative = fs::relative(entry.path(), dir).string();
          if (entry.is_directory() || relative == kManifestFile) continue;
          if (m->files.count(relative) == 0) check.problems.push_back(dir + "/" + relative + ": not in the manifest");
        }
      }
      out.push_back(std::move(check));
    }
    if (!config.ok()) {
      out.push_back(VersionCheck{name, "", {config.status().message()}});
    } else {
      for (const auto& [alias, version] : config->aliases) {
        if (std::find(versions->begin(), versions->end(), version) == versions->end()) {
          out.push_back(VersionCheck{name, "", {"alias '" + alias + "' points at missing version '" + version + "'"}});
        }
      }
    }
  }
  return out;
}

}  // namespace mlship::repository
