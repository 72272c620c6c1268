// Server: many models and versions in one process. It owns the shared
// workers, the Router and the front ends (HTTP now; a gRPC front end can sit
// beside it on the same Router), loads versions (from memory or from a
// verified repository on disk), swaps them without dropping requests,
// unloads the least recently used to stay within bounds, and runs the
// routing policies (the SLO fallback) on an injected clock.
//
// A swap (Swap, Load of a newer version, moving the default): the new
// version is loaded, warmed up and checked against its golden outputs
// first; only then does the default move, in one step of the routing table.
// The old version leaves the table, its requests in flight are answered,
// then it is stopped and freed. A version that fails to load or to pass its
// check never takes traffic; the old one keeps serving.
//
// Thread-safety: every public method is safe for concurrent use, except that
// Stop and the destructor must not run on the server's own threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mlship/deployment/options_schema.h"
#include "mlship/deployment/router.h"
#include "mlship/deployment/server_metrics.h"
#include "mlship/repository/repository.h"
#include "mlship/runtime/wakeup_baton.h"
#include "mlship/serving/grpc_server.h"
#include "mlship/serving/http_server.h"
#include "mlship/serving/repository_control.h"

namespace mlship {

// Sample inputs and the outputs a version must reproduce before it takes
// traffic (flat, in signature order), within a tolerance (unset: by dtype;
// see output_compare.h).
struct GoldenData {
  std::vector<at::Tensor> inputs;
  std::vector<at::Tensor> outputs;
  std::optional<double> rtol;
  std::optional<double> atol;
};

// A version to serve from memory.
struct VersionSource {
  std::shared_ptr<Model> model;
  VersionOptions options;
  // Checked before the version takes traffic; none by default.
  std::optional<GoldenData> golden;
  // A monitoring reference to profile once it is loaded; none by default.
  std::optional<at::Tensor> reference;
};

// What a caller says about one request besides its inputs.
struct RequestOptions {
  // A version or an alias; empty: routed by the model's policies (fallback,
  // traffic split, default) and possibly copied to its shadow.
  std::string version;
  // Keeps a caller on one version of a traffic split; empty: random.
  std::string routing_key;
  // The id outcomes reported later join on (models that track outcomes).
  std::string request_id;
  // When the answer stops being useful; max: no deadline.
  TensorTask::TimePoint deadline = TensorTask::TimePoint::max();
};

// Who calls Predict: threads that run independently, or threads that must
// all take back one shared lock after each call (Python's GIL). Shared-lock
// callers are woken one at a time (see runtime/wakeup_baton.h).
enum class PredictCallers { kIndependent, kShareALock };

// A rollout's status as JSON, as the HTTP rollout endpoints answer: its
// options (the rollout keys of the schema), model, state, step, weight,
// seconds_in_step, reason and the figures of its last judgement.
boost::json::object RolloutJson(const std::string& model, const RolloutStatus& status);

class Server final : public VersionLoader, public serving::RepositoryControl {
 public:
  // Validates `defaults` (server options, and the model and version settings
  // every model and version starts from), starts the workers and the policy
  // thread, opens `repository_root` when given (and loads every model in it,
  // as its version policy selects), and starts HTTP when
  // defaults.server.serve_http. Errors: InvalidArgument naming the bad
  // option; NotFound for a missing repository; Unavailable when the port is
  // taken; a model of the repository that fails to load is reported in the
  // index and logged, not fatal.
  static StatusOr<std::unique_ptr<Server>> Create(ServingOptions defaults, std::string repository_root = "");
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // ---- Models from memory ----

  // Registers `model` with its routing options (creating it, or replacing
  // its options). Its fallback policy is made here when options.slo is set.
  Status AddModel(const std::string& model, ModelOptions options);
  // Serves `source` as `version` of `model` (which must be registered):
  // loads, warms up and checks it, then installs it. With `make_default`
  // the model's default moves to it in the same step. A version of the same
  // name already loaded is replaced (drained, then freed).
  Status Deploy(const std::string& model, const std::string& version, VersionSource source, bool make_default);
  // Deploy with make_default, then unloads the version that was the default
  // (after its requests in flight), recording the swap. The way to update a
  // model in place.
  Status Swap(const std::string& model, const std::string& version, VersionSource source);

  // ---- Models from the repository ----

  // (Re)loads `model` from the repository: the versions its policy selects
  // (plus `version` when given, even outside the policy), its aliases and
  // settings; versions no longer selected are unloaded. Blocks until done.
  Status Load(const std::string& model, const std::string& version = "");
  // Unloads one version (or, with an empty version, the whole model) after
  // its requests in flight are answered.
  Status Unload(const std::string& model, const std::string& version = "");
  // Points `alias` at `version` (empty: removes it), in the router and, for
  // a repository model, in the repository, so a restart keeps it.
  Status SetAlias(const std::string& model, const std::string& alias, const std::string& version);
  // Changes model-scope settings of `model` now (traffic_split,
  // shadow_version, track_outcomes, the SLO, ...; options_schema.h); keys
  // not given keep their values. Saved in the repository for a repository
  // model, so a reload or restart keeps them. FailedPrecondition for the
  // traffic settings (traffic_split, shadow_*, default_version) while a
  // rollout runs: it owns them.
  Status Configure(const std::string& model, const boost::json::object& settings);
  // Moves `model`'s default to `version_or_alias` (empty: the newest),
  // loading it first if needed.
  Status SetDefault(const std::string& model, const std::string& version_or_alias);
  // The repository, or null.
  const repository::Repository* repository() const { return repository_ ? &*repository_ : nullptr; }

  // ---- Requests ----

  // Runs a request on `model` (the version `request` names, or the one its
  // policies route to). `done` is called exactly once, from any thread.
  void Submit(const std::string& model, std::vector<at::Tensor> inputs, const RequestOptions& request,
              TensorCallback done);
  // Submit, then wait. When the caller is the only one in flight and a
  // worker is free, the batch runs on the calling thread (no hand-offs).
  // Reports which version answered in `answered_by` when given.
  StatusOr<std::vector<at::Tensor>> Predict(const std::string& model, std::vector<at::Tensor> inputs,
                                            const RequestOptions& request = {},
                                            PredictCallers callers = PredictCallers::kIndependent,
                                            std::string* answered_by = nullptr);

  // ---- Rollouts ----

  // Starts moving `model`'s traffic to `options.to` step by step (see
  // rollout.h): loads it if it is not (from the repository), points the
  // aliases `stable` (the version serving now, or options.from) and `canary`
  // (the candidate) at them, runs a shadow of the candidate when the guard
  // judges divergence, and splits the traffic. Persisted in the repository
  // for a repository model, so a restart resumes it. FailedPrecondition when
  // one is already running.
  StatusOr<RolloutStatus> StartRollout(const std::string& model, RolloutOptions options);
  // "status", "pause", "resume" or "abort" the rollout of `model`.
  StatusOr<RolloutStatus> RolloutAction(const std::string& model, const std::string& action);
  // The traffic policies of `model` now, as JSON (the dashboard and the
  // Python API read it): "rollout" (RolloutJson, or null without one),
  // "shadow" ({compared, skipped, failed, rows, agreement, max_abs_diff,
  // mean_abs_diff, mean_latency_ms}, or null without a shadow) and "online"
  // ({version: {rows, classifier, accuracy, accuracy_low, accuracy_high,
  // mse, mae}} from the outcomes joined so far; empty without tracking).
  boost::json::object TrafficJson(const std::string& model) const;

  // ---- Outcomes ----

  // Joins labels to the predictions of `model` by request id.
  StatusOr<OutcomeCounts> RecordOutcomes(const std::string& model, const std::vector<std::string>& ids,
                                         const std::vector<std::vector<double>>& labels);

  // ---- Control and observation ----

  // The loaded version `version_or_alias` of `model` (empty: its default), as
  // a handle; NotFound / Unavailable when there is none.
  StatusOr<VersionHandle> Version(const std::string& model, const std::string& version_or_alias) const;
  // Which version serves `model` and why (the fallback policy's state).
  monitor::HealthState Health(const std::string& model) const;
  // Moves `model`'s traffic from its fallback back to its default version.
  Status Restore(const std::string& model);
  // Judges every routing policy now (the policy thread does it every
  // policy_tick_interval of the clock); for tests on a fake clock.
  void TickPolicies();
  // /metrics: every version's metrics and the server's, merged.
  std::string MetricsText() const;
  std::vector<monitor::FamilySnapshot> MetricFamilies() const;
  ServerMetrics& metrics() const { return *metrics_; }
  Router& router() { return *router_; }
  const Router& router() const { return *router_; }
  const ServingOptions& defaults() const { return defaults_; }
  // The bound HTTP port, or 0 without HTTP.
  int port() const;
  // The bound gRPC port, or 0 without gRPC.
  int grpc_port() const;
  // Re-reads the HTTP server's token file (see HttpServer::ReloadTokens);
  // a bad file keeps the old tokens and returns the error.
  // FailedPrecondition without HTTP or without a token file.
  Status ReloadTokens();
  // Re-reads the HTTP server's TLS certificate, key and client CA (see
  // HttpServer::ReloadTls); bad files keep the old ones and return the
  // error. FailedPrecondition without HTTP or without TLS.
  Status ReloadTls();
  // What SIGHUP does (HttpServer::Reload): the TLS files when TLS is on and
  // the token file when there is one; `done` gets what was reloaded.
  // FailedPrecondition without HTTP.
  Status Reload(std::string* done = nullptr);
  // Whether the HTTP server speaks HTTPS (false without HTTP).
  bool serves_tls() const;
  bool draining() const { return draining_.load(); }

  // Stops: readiness false and new requests refused, the HTTP server drains
  // (up to drain_timeout), every version drains (drain=true: runs what it
  // queued; false: answers it Unavailable), then the threads exit.
  // Idempotent.
  void Stop(bool drain);

  // ---- VersionLoader (the router's) ----
  void LoadInBackground(const std::string& model, const std::string& version,
                        std::function<void(Status)> done) override;
  UnloadedVersionAction on_unloaded() const override { return defaults_.server.on_unloaded; }

  // ---- serving::RepositoryControl (the HTTP repository endpoints) ----
  std::vector<serving::RepositoryIndexEntry> RepositoryIndex(bool ready_only) const override;
  void LoadModel(std::string name, std::function<void(Status)> done) override;
  void UnloadModel(std::string name, std::function<void(Status)> done) override;
  void Rollout(std::string name, std::string action, std::string body,
               std::function<void(StatusOr<std::string>)> done) override;

 private:
  explicit Server(ServingOptions defaults);

  // A model's rollout and what it is judged against.
  struct RolloutRecord {
    std::mutex mu;
    std::unique_ptr<mlship::Rollout> rollout;  // GUARDED_BY(mu)
    // The shadow figures when the step began (the guard judges the step's).
    ShadowFigures shadow_at_step;  // GUARDED_BY(mu)
  };
  // Judges one rollout and applies its decision.
  void TickRollout(const std::string& model, RolloutRecord& record);
  // Sets the router's traffic (split, shadow, aliases, default) for the
  // rollout's state. REQUIRES record.mu.
  Status ApplyRollout(const std::string& model, const mlship::Rollout& rollout);
  // Writes the rollout's state to the repository (repository models only).
  // REQUIRES record.mu.
  void SaveRollout(const std::string& model, const mlship::Rollout& rollout);
  // Restarts a rollout recorded in a repository model's config.
  void ResumeRollout(const std::string& model, const boost::json::object& saved);
  std::shared_ptr<RolloutRecord> RolloutRecordOf(const std::string& model) const;
  // Sets the rollout, shadow and online gauges from their sources (at a scrape).
  void RefreshPolicyGauges() const;

  // One queued job for the loader thread.
  struct LoadJob {
    enum class Kind {
      kLoadModel,  // (re)load a model per its policy, plus `version` if given
      kColdStart,  // load one unloaded version a request waits for
      kUnload,     // unload a model (or `version` of it)
      kRollout,    // start a rollout (it may load its candidate)
    };
    Kind kind = Kind::kLoadModel;
    std::string model;
    std::string version;
    std::vector<std::function<void(Status)>> done;
    // kRollout: its options, and where its status goes.
    RolloutOptions rollout;
    std::function<void(StatusOr<std::string>)> rollout_done;
  };

  // Creates, warms, checks and installs a version; returns the version it
  // replaced (same name), if any. Records load metrics.
  StatusOr<std::shared_ptr<ModelVersion>> Bring(const std::string& model, const std::string& version,
                                                VersionSource source, bool reloadable, bool cold,
                                                int64_t load_memory_bytes, Clock::TimePoint started);
  // Loads `version` of repository model `model` (on the loader thread).
  // REQUIRES change_mu_.
  Status LoadFromRepository(const std::string& model, const std::string& version, bool cold);
  // Remembers (or forgets) the error of a load, for the index.
  void RecordLoadResult(const std::string& model, const std::string& version, const Status& result);
  // A kLoadModel job: the versions `model`'s policy selects (plus
  // `version`), aliases, settings; drops the versions no longer selected.
  Status LoadModelNow(const std::string& model, const std::string& version);
  // The settings of repository model `model` (defaults, then its config).
  StatusOr<ServingOptions> RepositoryModelOptions(const std::string& model) const;
  // Retires `version` (waits for its handles, up to drain_timeout), stops
  // and drops it; counts the unload.
  void Retire(std::shared_ptr<ModelVersion> version, UnloadReason reason);
  // Unloads least-recently-used unpinned reloadable versions until within
  // max_loaded_versions and memory_budget_mb, sparing `keep`.
  void EnforceBounds(const ModelVersion* keep);
  // Runs a load job on the loader thread and waits for it.
  Status LoadAndWait(const std::string& model, const std::string& version, bool cold);
  void LoaderLoop();
  void PolicyLoop();
  // Adds /metrics and the dashboard to the HTTP server.
  Status AddMonitoringRoutes();
  // The version a request reaches, resolved and loaded (loading on demand
  // per on_unloaded).
  StatusOr<Resolution> ResolveForRequest(const std::string& model, const RequestOptions& request);
  // `done` wrapped to feed the model's shadow and outcome store, when they
  // apply to this request (else `done` itself). `answering` is `version`'s
  // unit (its options say how outputs are compared). When the request is
  // copied to a shadow, the wrapper sends the copy after the answer, so the
  // copy never goes ahead of the request nor runs beside it.
  TensorCallback Observed(const std::string& model, const RequestOptions& request, const std::string& version,
                          const ModelVersion& answering, const std::vector<at::Tensor>& inputs, TensorCallback done);

  ServingOptions defaults_;
  // defaults_.server.clock or the system clock; not owned.
  Clock* clock_;
  std::optional<repository::Repository> repository_;
  std::unique_ptr<ServerMetrics> metrics_;
  // Shared by every version's batches. Outlives the versions (declared
  // before the router that holds them).
  std::unique_ptr<InstancePool> workers_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<serving::HttpServer> http_;
  // The gRPC front end, when defaults_.server.grpc_port is set; on router_.
  std::unique_ptr<serving::GrpcServer> grpc_;
  std::atomic<bool> draining_{false};

  // Serializes changes of versions (deploys, loads, unloads, swaps), so two
  // of them never interleave on one model. Requests never take it.
  mutable std::mutex change_mu_;
  // Models that came from the repository (reloadable, aliases persisted).
  std::map<std::string, bool> from_repository_;  // GUARDED_BY(change_mu_)
  // Versions loaded on request outside the model's policy.
  std::map<std::string, std::vector<std::string>> extra_versions_;  // GUARDED_BY(change_mu_)
  // Guards load_errors_; a leaf lock, quick (the index reads it on an I/O
  // thread).
  mutable std::mutex errors_mu_;
  // The last load error of each version that failed to load, for the index.
  std::map<std::string, std::map<std::string, std::string>> load_errors_;  // GUARDED_BY(errors_mu_)

  // The loader thread and its queue.
  std::mutex loader_mu_;
  std::condition_variable loader_cv_;
  std::deque<LoadJob> load_jobs_;  // GUARDED_BY(loader_mu_)
  bool loader_stopping_ = false;   // GUARDED_BY(loader_mu_)
  std::thread loader_;

  // The policy thread.
  std::mutex policy_mu_;
  std::condition_variable policy_cv_;
  ClockWaiter policy_waiter_;
  bool policy_stopping_ = false;  // GUARDED_BY(policy_mu_)
  std::thread policy_thread_;

  // Rollouts by model. Guards rollouts_ (each record has its own lock).
  mutable std::mutex rollouts_mu_;
  std::map<std::string, std::shared_ptr<RolloutRecord>> rollouts_;  // GUARDED_BY(rollouts_mu_)

  // Orders the wake-ups of PredictCallers::kShareALock callers; made on
  // first use (it has a watchdog thread).
  std::once_flag baton_once_;
  std::shared_ptr<WakeupBaton> baton_;
  // Predict calls entered and not yet returned (any model).
  std::atomic<int> predicts_in_flight_{0};

  // Serializes Stop().
  std::mutex stop_mu_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)
};

}  // namespace mlship
