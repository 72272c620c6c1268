// RepositoryControl: what the KServe v2 model-repository extension asks of
// the server behind the HTTP front end (POST /v2/repository/index,
// /v2/repository/models/{name}/load and /unload). Names only, never paths:
// what can be loaded is what the repository given at start holds.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mlship/status.h"

namespace mlship::serving {

// One row of the repository index.
struct RepositoryIndexEntry {
  std::string name;
  // The version the row is about; empty for a model with no version loaded.
  std::string version;
  // "READY", "UNAVAILABLE", "LOADING" or "UNLOADING" (the extension's states).
  std::string state;
  // Why it is in that state, e.g. the error of a failed load; may be empty.
  std::string reason;
};

// Implementations must be safe for concurrent use; RepositoryIndex must be
// quick (it runs on an I/O thread); loads and unloads answer later.
class RepositoryControl {
 public:
  virtual ~RepositoryControl();
  // Every model the repository holds (and every model served from memory),
  // one row per version; with `ready_only`, only versions ready to infer.
  virtual std::vector<RepositoryIndexEntry> RepositoryIndex(bool ready_only) const = 0;
  // (Re)loads `name` from the repository: its versions as its version policy
  // selects them, swapped in without dropping requests. `done` is called once,
  // from any thread: NotFound for a model the repository does not hold, the
  // load's error otherwise.
  virtual void LoadModel(std::string name, std::function<void(Status)> done) = 0;
  // Unloads every version of `name` after its requests in flight are
  // answered; requests for it get 404 from then on.
  virtual void UnloadModel(std::string name, std::function<void(Status)> done) = 0;
  // Rollouts of `name`: `action` is "start" (with `body`, a JSON object of
  // the options schema's rollout keys), "status", "pause", "resume" or
  // "abort". `done` gets the rollout's status as a JSON object. Default:
  // FailedPrecondition (no rollouts).
  virtual void Rollout(std::string name, std::string action, std::string body,
                       std::function<void(StatusOr<std::string>)> done);
};

}  // namespace mlship::serving
