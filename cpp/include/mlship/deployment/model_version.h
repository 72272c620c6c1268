// ModelVersion: one loaded version of one model (its engine, its batcher and
// its monitor) running its batches on the server's shared workers. It knows
// nothing of HTTP or of other versions: the Router decides which version a
// request goes to, and the Server loads, swaps and unloads versions.
//
// Lifecycle: Create -> serving -> Stop. A version is retired from routing
// before it stops: the router stops handing it out, the server waits until
// the last VersionHandle is released (every request it accepted has been
// answered), then stops and frees it. So nothing accepted is dropped.
//
// Thread-safety: every public method is safe for concurrent use.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mlship/batching/dynamic_batcher.h"
#include "mlship/clock.h"
#include "mlship/deployment/auto_threads.h"
#include "mlship/deployment/explain_queue.h"
#include "mlship/deployment/tensor_task.h"
#include "mlship/deployment/version_options.h"
#include "mlship/engine/model.h"
#include "mlship/monitor/feature_importance.h"
#include "mlship/monitor/model_monitor.h"
#include "mlship/runtime/instance_pool.h"
#include "mlship/serving/backend.h"

namespace mlship {

// Who this version is, for URLs, metrics and responses.
struct VersionIdentity {
  std::string model;
  std::string version;
};

class ModelVersion {
 public:
  using TimePoint = TensorTask::TimePoint;

  // Validates `options`, creates the monitor (if monitoring) and the
  // batcher, and registers with `workers` (not owned; must outlive the
  // version) as one of its producers. `health_window_seconds` is the longest
  // SLO window a routing policy will judge it over (0 = none).
  static StatusOr<std::shared_ptr<ModelVersion>> Create(VersionIdentity id, std::shared_ptr<Model> model,
                                                        VersionOptions options, InstancePool* workers, Clock* clock,
                                                        int64_t health_window_seconds = 0);
  // Stop(true).
  ~ModelVersion();
  ModelVersion(const ModelVersion&) = delete;
  ModelVersion& operator=(const ModelVersion&) = delete;

  // Runs one request: checked against the signature (and the reference's
  // anomaly check), batched, run on a worker. `done` is called exactly once,
  // from any thread (possibly this one). With `run_here`, a batch that is
  // ready while a worker is free runs on the calling thread instead (see
  // docs/architecture.md, "Caller runs when alone").
  void Enter(std::vector<at::Tensor> inputs, TimePoint deadline, TensorCallback done, bool run_here);
  // Runs one request on the calling thread now, outside the batcher and the
  // worker pool, on one intra-op thread: a shadow copy on the idle-priority
  // ShadowRunner. Checked against the signature and counted by the monitor
  // like any request (the reference's anomaly check and drift sampling are
  // for live traffic and skipped).
  StatusOr<std::vector<at::Tensor>> RunAlone(std::vector<at::Tensor> inputs);
  // Enter for a decoded KServe v2 request; the response names this version.
  void Infer(serving::InferRequest request, serving::InferCallback done);
  // Explains a request (version_explain.cc): parameters, support and the
  // budget (options().explain_max_evaluations) are checked at once, then it
  // runs on this version's own ExplainQueue (started on first use; low
  // priority, one core), never on the inference workers. `done` as for
  // Backend::Explain.
  void Explain(serving::ExplainRequest request, serving::ExplainCallback done);
  // Every explanation method, marked supported or not for this model
  // (computed on first use).
  const std::vector<serving::ExplainMethodInfo>& explain_methods() const;
  // The running feature importance of sampled requests (explain_sample_rate)
  // beside the reference's, as JSON (see monitor::FeatureImportance::ToJson);
  // "null" when sampling is off (version_importance.cc).
  std::string ImportanceJson();

  // Stops: new requests get Unavailable; with drain, everything queued runs,
  // else it is answered Unavailable. Idempotent.
  void Stop(bool drain);

  // ---- Handles (the router's) ----

  // Counts one more user (a request in flight, a predict call). Fails once
  // the version is retired.
  bool Acquire();
  // Ends a use counted by Acquire.
  void Release();
  // No new Acquire succeeds from now on; then waits until every use has been
  // released, for at most `timeout`. Returns whether they all were.
  bool RetireAndWait(std::chrono::milliseconds timeout);
  // Uses counted now.
  int users() const { return users_.load(std::memory_order_acquire); }
  // When it was last acquired (for least-recently-used unloading).
  TimePoint last_used() const;

  // ---- Observing ----

  const VersionIdentity& id() const { return id_; }
  const Model& model() const { return *model_; }
  const std::shared_ptr<Model>& shared_model() const { return model_; }
  const VersionOptions& options() const { return options_; }
  // The monitor, or null when options().monitoring is false.
  monitor::ModelMonitor* monitor() const { return monitor_.get(); }
  // Profiles `reference` (shaped like the first input) for drift and
  // anomaly checks; for a classifier also learns the class mix it predicts
  // there (running the model on the calling thread). FailedPrecondition
  // without monitoring; InvalidArgument for a wrong shape.
  Status SetReference(const at::Tensor& reference);
  // Refreshes the gauges that are read rather than pushed (queue depth).
  void RefreshGauges() const;
  // Requests waiting in the batcher.
  int64_t queued() const;
  // A worker is idle and nothing waits for it: extra work (a shadow copy)
  // would not delay anyone's request.
  bool HasSpareCapacity() const;
  // Workers of the pool this version runs on.
  int worker_count() const;
  // The torch threads its next forward pass gets: options().intra_op_threads,
  // or with 0 (auto) what AutoThreads has chosen so far.
  int intra_op_threads() const {
    return auto_threads_ ? auto_threads_->threads() : options_.intra_op_threads;
  }
  // The clock its policies run on.
  Clock* clock() const { return clock_; }
  // The memory this version added when it loaded, in bytes (0 = unknown).
  int64_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }
  void set_memory_bytes(int64_t bytes) { memory_bytes_.store(bytes, std::memory_order_relaxed); }

  // The platform string of the KServe metadata ("pytorch_torchscript", ...).
  std::string platform() const;

 private:
  ModelVersion(VersionIdentity id, std::shared_ptr<Model> model, VersionOptions options, Clock* clock);
  // Admission after the draining check: validation, the anomaly check,
  // scheduling. `done` answers the request; `monitored_done` is `done`
  // wrapped to record the outcome (the same when not monitored).
  void Admit(std::vector<at::Tensor> inputs, TimePoint deadline, TensorCallback done, TensorCallback monitored_done,
             TimePoint arrival, bool run_here);
  void RunOnWorker(Batch<TensorTask>& batch);
  // Hands a batch to the workers; fails its tasks if they refuse.
  void SubmitToWorkers(std::shared_ptr<Batch<TensorTask>> batch);
  // Runs a batch on the calling thread if a worker is free, else submits it.
  void RunHereOrSubmit(std::unique_ptr<Batch<TensorTask>> batch);
  // Feeds a batch's first inputs to the drift window (one lock per batch).
  void ObserveBatch(const Batch<TensorTask>& batch);
  // The explanation queue, started on first use; Unavailable once stopping.
  StatusOr<ExplainQueue*> ExplainQueueStarted();
  // Stops the explanation queue (Stop() calls it): waiting ones get 503.
  void StopExplanations();
  // Sampled explanations (version_importance.cc): maybe queues the first
  // row of a request; explains the reference once it is set.
  struct Importance;
  Importance* ImportanceState();
  void SampleForImportance(const std::vector<at::Tensor>& inputs);
  void ExplainReferenceImportance(const at::Tensor& reference);
  void PublishImportance();

  const VersionIdentity id_;
  const std::shared_ptr<Model> model_;
  const VersionOptions options_;
  // Not owned.
  Clock* const clock_;
  // With intra_op_threads 0 (auto): chooses the thread count from measured
  // forward passes. Null when the count is fixed.
  std::unique_ptr<AutoThreads> auto_threads_;
  // Declared before the batcher so it outlives every callback recording
  // into it.
  std::unique_ptr<monitor::ModelMonitor> monitor_;
  // Set first by Stop(): new requests refused.
  std::atomic<bool> draining_{false};
  // This version's share of the server's workers. Destroyed after the
  // batcher (declared before it): the batcher's callbacks use it.
  std::unique_ptr<InstancePool::Producer> producer_;
  std::unique_ptr<DynamicBatcher<TensorTask>> batcher_;

  // Handles: users_ counts them; retired_ refuses new ones.
  std::atomic<int> users_{0};
  std::atomic<bool> retired_{false};
  // Signalled when users_ drops to 0 while retired_. Waited on with users_mu_.
  mutable std::mutex users_mu_;
  std::condition_variable users_cv_;
  // Nanoseconds of clock_ at the last Acquire.
  std::atomic<int64_t> last_used_ns_{0};

  std::atomic<int64_t> memory_bytes_{0};

  // Explanations: the methods (filled once), and the queue, created on the
  // first explanation (a version never explained starts no thread).
  mutable std::once_flag explain_methods_once_;
  mutable std::vector<serving::ExplainMethodInfo> explain_methods_;
  std::mutex explain_mu_;
  std::unique_ptr<ExplainQueue> explain_queue_;  // GUARDED_BY(explain_mu_)
  bool explain_stopped_ = false;                 // GUARDED_BY(explain_mu_)
  // The sampled feature importance, made on first use.
  std::once_flag importance_once_;
  std::shared_ptr<Importance> importance_;  // shared_ptr: Importance is complete only in version_importance.cc
  // Serializes Stop().
  std::mutex stop_mu_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)
};

// Keeps one use of a version counted (ModelVersion::Acquire) for as long as
// it lives. Move-only; empty when default-constructed.
class VersionHandle {
 public:
  VersionHandle() = default;
  // Takes a use already acquired on `version`.
  explicit VersionHandle(std::shared_ptr<ModelVersion> version) : version_(std::move(version)) {}
  ~VersionHandle() { Reset(); }
  VersionHandle(VersionHandle&& other) noexcept : version_(std::move(other.version_)) {}
  VersionHandle& operator=(VersionHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      version_ = std::move(other.version_);
    }
    return *this;
  }
  VersionHandle(const VersionHandle&) = delete;
  VersionHandle& operator=(const VersionHandle&) = delete;

  ModelVersion* operator->() const { return version_.get(); }
  ModelVersion& operator*() const { return *version_; }
  explicit operator bool() const { return version_ != nullptr; }
  const std::shared_ptr<ModelVersion>& shared() const { return version_; }
  // Releases the use now.
  void Reset() {
    if (version_) version_->Release();
    version_.reset();
  }

 private:
  std::shared_ptr<ModelVersion> version_;
};

}  // namespace mlship
