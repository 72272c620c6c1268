// Router: resolves (model name, version or alias) to a loaded ModelVersion,
// and is the serving::Backend every front end (HTTP now, gRPC later) talks
// to. Which version answers is routing: the default version, an alias, an
// explicit version, or the model's fallback while its default breaches the
// SLO (FallbackPolicy). The Server changes the table (installs, swaps and
// retires versions); the Router only reads it on the request path.
//
// Thread-safety: every method is safe for concurrent use. Requests take a
// shared lock on the table only while they resolve a name and acquire a
// VersionHandle; changes take it exclusively for a map update.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "mlship/deployment/fallback_policy.h"
#include "mlship/deployment/model_version.h"
#include "mlship/deployment/server_options.h"
#include "mlship/deployment/shadow.h"
#include "mlship/deployment/shadow_runner.h"
#include "mlship/serving/backend.h"

namespace mlship {

// Orders version names with CompareVersions.
struct VersionLess {
  bool operator()(const std::string& a, const std::string& b) const { return CompareVersions(a, b) < 0; }
};

// What the router knows about one served version, loaded or not.
struct VersionSlot {
  // Loaded and taking requests; null while unloaded.
  std::shared_ptr<ModelVersion> loaded;
  // Kept from the last load so metadata answers while unloaded.
  std::string platform;
  Signature signature;
  // Whether it can be loaded again after an unload (it comes from the
  // repository); in-memory versions cannot, and are never unloaded for room.
  bool reloadable = false;
  // Why the last load failed ("" when it did not).
  std::string error;
  // The explanation methods, kept from the last load (empty before one).
  std::vector<serving::ExplainMethodInfo> explain_methods;
};

// Loads versions the router finds unloaded (the Server implements it).
class VersionLoader {
 public:
  virtual ~VersionLoader() = default;
  // Loads `version` of `model` in the background if it is not loading
  // already, then calls `done` (may be null) with the outcome, from the
  // loader's thread.
  virtual void LoadInBackground(const std::string& model, const std::string& version,
                                std::function<void(Status)> done) = 0;
  // What a request for an unloaded version gets.
  virtual UnloadedVersionAction on_unloaded() const = 0;
};

// A request's resolution: the version that answers, and a handle keeping it
// alive and counted.
struct Resolution {
  std::string model;
  // The concrete version (aliases and the default resolved).
  std::string version;
  // Empty when that version is served but not loaded now.
  VersionHandle handle;
};

class Router final : public serving::Backend {
 public:
  // `loader` (not owned, may be null: unloaded versions then get 503) and
  // `clock` (null: the system clock) must outlive the router.
  explicit Router(VersionLoader* loader, Clock* clock = nullptr);
  ~Router() override;

  // ---- Resolving ----

  // The version `version_or_alias` of `model` (empty: the fallback while the
  // fallback policy is active, else the traffic split's pick for
  // `routing_key` (random without one), else the default). NotFound naming
  // what is served.
  StatusOr<Resolution> Resolve(std::string_view model, std::string_view version_or_alias,
                               std::string_view routing_key = {}) const;
  // A shadow copy of one request, decided but not sent yet.
  struct ShadowCopy {
    // Call with the primary's outputs; the comparison runs when both have
    // answered, in either order. Null when no copy is made.
    std::function<void(const StatusOr<std::vector<at::Tensor>>&)> on_primary;
    // Sends the copy to the shadow version, on the idle-priority
    // ShadowRunner. Call it exactly once (when on_primary is set), after the
    // primary has answered, so that the copy never goes ahead of it.
    std::function<void()> send;
  };
  // Decides whether a request that `primary` of `model` answers is copied to
  // the model's shadow: when it has a shadow version, the sample says so and
  // the shadow has spare capacity. `inputs` is called (to clone the inputs)
  // only when a copy is made, so requests that are not copied pay for no
  // conversion. Never blocks and never fails the primary's request.
  ShadowCopy StartShadow(std::string_view model, const std::string& primary,
                         const std::function<std::vector<at::Tensor>()>& inputs);
  // The shadow figures of `model` against its shadow version so far (empty
  // when it has none).
  std::optional<ShadowFigures> Shadow(const std::string& model) const;
  // The outcome store of `model` (null unless it tracks outcomes).
  std::shared_ptr<OutcomeStore> Outcomes(std::string_view model) const;
  // Remembers `version`'s prediction for request `id`, when `model` tracks
  // outcomes.
  void Predicted(std::string_view model, const std::string& id, const std::string& version,
                 const std::vector<at::Tensor>& outputs) const;
  // The default version of `model` now, ignoring the fallback policy.
  StatusOr<std::string> DefaultVersion(std::string_view model) const;

  // ---- Changing the table (the Server's) ----

  // Adds `model` (no versions yet) or replaces its options.
  void SetModel(const std::string& model, ModelOptions options);
  // Removes `model` and returns its loaded versions, for the caller to
  // retire. Requests that resolve it afterwards get NotFound.
  std::vector<std::shared_ptr<ModelVersion>> RemoveModel(const std::string& model);
  // Makes `version` served (not loaded), keeping what is known of it.
  Status AddVersion(const std::string& model, const std::string& version, VersionSlot slot);
  // Installs a loaded version in its slot (creating the slot), atomically:
  // the next request resolving it gets `loaded`. Returns the version it
  // replaced, if any, for the caller to retire.
  StatusOr<std::shared_ptr<ModelVersion>> Install(const std::string& model, std::shared_ptr<ModelVersion> loaded,
                                                  bool reloadable);
  // Takes the loaded version out of its slot (the slot stays, unloaded) and
  // returns it; with `forget`, the slot goes too. NotFound when absent.
  StatusOr<std::shared_ptr<ModelVersion>> Uninstall(const std::string& model, const std::string& version,
                                                    bool forget);
  // Records a failed load of `version`.
  void RecordLoadError(const std::string& model, const std::string& version, const std::string& error);
  // Points `alias` at `version` (which must be served), or removes it when
  // `version` is empty. Aliases may not look like a served version.
  Status SetAlias(const std::string& model, const std::string& alias, const std::string& version);
  // Replaces every alias of `model`.
  Status SetAliases(const std::string& model, std::map<std::string, std::string> aliases);
  // Sets the default (a version or an alias; empty = the newest).
  Status SetDefault(const std::string& model, const std::string& version_or_alias);

  // ---- Reading the table ----

  std::vector<std::string> ModelNames() const;
  // The served versions of `model`, oldest first; empty when unknown.
  std::vector<std::string> Versions(const std::string& model) const;
  std::map<std::string, std::string> Aliases(const std::string& model) const;
  std::optional<ModelOptions> Options(const std::string& model) const;
  // A copy of `model`'s slot for `version`, or nullopt.
  std::optional<VersionSlot> Slot(const std::string& model, const std::string& version) const;
  // Every loaded version, of every model.
  std::vector<std::shared_ptr<ModelVersion>> LoadedVersions() const;
  // Versions a least-recently-used unload must leave alone: the default,
  // every alias's target and the fallback, for every model.
  std::vector<std::pair<std::string, std::string>> PinnedVersions() const;
  // The fallback policy of `model`, or null without one.
  std::shared_ptr<FallbackPolicy> Fallback(const std::string& model) const;
  // Creates (or drops, when `policy` is null) `model`'s fallback policy.
  void SetFallback(const std::string& model, std::shared_ptr<FallbackPolicy> policy);

  // Where refusals no model can be blamed for are counted; see
  // RequestRefused. Not owned; may be null.
  void SetUnattributedRefusalSink(std::function<void(std::string_view reason)> sink);

  // ---- serving::Backend ----

  bool Ready() const override;
  std::vector<serving::ModelInfo> Models() const override;
  StatusOr<serving::ModelInfo> Find(std::string_view name, std::string_view version) const override;
  bool ModelReady(std::string_view name, std::string_view version) const override;
  // Resolves, then runs the request on the version (loading it first when
  // it is unloaded and the loader says so). The response names the version.
  void Infer(serving::InferRequest request, serving::InferCallback done) override;
  // Explains on the resolved version (see ModelVersion::Explain). An
  // unloaded version answers Unavailable: explanations start no cold load.
  void Explain(serving::ExplainRequest request, serving::ExplainCallback done) override;
  // Counts an infer refusal on the default version of the model its URL
  // names; any other refusal goes to the unattributed sink.
  void RequestRefused(const serving::RefusedRequest& refused) override;
  // Joins outcomes to the predictions of `name` (which must track them).
  StatusOr<serving::OutcomeCounts> RecordOutcomes(std::string_view name, const std::vector<std::string>& ids,
                                                  const std::vector<std::vector<double>>& labels) override;
  // Triton's configuration of the version `version` (empty: the default)
  // resolves to: its batcher settings and the worker count. Unavailable
  // while that version is unloaded.
  StatusOr<serving::ModelConfigInfo> Config(std::string_view name, std::string_view version) const override;
  // Triton's statistics of every loaded version of `name` (every model when
  // empty), or of `version` only, from their monitors.
  StatusOr<std::vector<serving::ModelStatistics>> Statistics(std::string_view name,
                                                             std::string_view version) const override;
  // The workers every version's batches run on (Triton's instance count in
  // Config). The Server sets it; default 1.
  void SetInstanceCount(int instances) { instance_count_.store(instances); }

  // Refuses new requests (Ready() false) from now on.
  void StartDraining() { draining_.store(true); }

 private:
  struct ModelEntry {
    ModelOptions options;
    std::map<std::string, VersionSlot, VersionLess> versions;
    std::map<std::string, std::string> aliases;
    std::shared_ptr<FallbackPolicy> fallback;
    // Comparisons with options.shadow_version; replaced when it changes.
    std::shared_ptr<ShadowStats> shadow_stats;
    std::string shadow_stats_version;
    // Predictions waiting for outcomes, when options.track_outcomes.
    std::shared_ptr<OutcomeStore> outcomes;
  };
  // The version `version_or_alias` names in `entry` (empty: the default).
  // REQUIRES table_mu_ held (shared is enough).
  StatusOr<std::string> ResolveLocked(std::string_view model, const ModelEntry& entry,
                                      std::string_view version_or_alias, bool use_fallback,
                                      std::string_view routing_key = {}, bool use_split = false) const;
  serving::ModelInfo InfoLocked(std::string_view model, const ModelEntry& entry, const std::string& version) const;
  const ModelEntry* FindLocked(std::string_view model) const;

  VersionLoader* const loader_;
  // The clock outcome stores expire on; not owned.
  Clock* const clock_;
  std::atomic<bool> draining_{false};
  // See SetInstanceCount.
  std::atomic<int> instance_count_{1};
  // Where every model's shadow copies run. Declared before models_, so it
  // is destroyed after the versions (a copy running holds its version).
  ShadowRunner shadow_runner_;
  // Guards models_ and refusal_sink_.
  mutable std::shared_mutex table_mu_;
  std::map<std::string, ModelEntry, std::less<>> models_;  // GUARDED_BY(table_mu_)
  std::function<void(std::string_view)> refusal_sink_;     // GUARDED_BY(table_mu_)
};

}  // namespace mlship
