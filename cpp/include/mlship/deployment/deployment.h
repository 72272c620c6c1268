// Deployment: the composition root that serves one model.
//
// A Deployment owns a DynamicBatcher (one scheduler thread), an InstancePool
// (worker threads running batches on the model) and, optionally, an
// HttpServer speaking KServe v2. Requests enter either through HTTP or
// in-process through Submit(); both take the same path from the batcher on.
//
// Lifecycle: Create -> serving (ready) -> Stop: readiness goes false, new
// requests get Unavailable (HTTP 503), everything already accepted is
// answered, then the threads exit. No accepted request is dropped.
//
// Thread-safety: every public method is safe for concurrent use.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "mlship/batching/batcher_options.h"
#include "mlship/batching/dynamic_batcher.h"
#include "mlship/deployment/tensor_task.h"
#include "mlship/engine/model.h"
#include "mlship/monitor/model_monitor.h"
#include "mlship/runtime/instance_pool.h"
#include "mlship/runtime/wakeup_baton.h"
#include "mlship/serving/backend.h"
#include "mlship/serving/http_server.h"

namespace mlship {

struct DeploymentOptions {
  // Name in URLs (/v2/models/<name>). Default "model".
  std::string name = "model";
  // The version served. Default "1".
  std::string version = "1";
  // Batching: max_batch_size (rows, default 32), max_queue_delay (default
  // 1 ms), max_queue_size (default 1024; full -> Unavailable/503),
  // default_timeout (default none; expired -> DeadlineExceeded/504).
  BatcherOptions batcher;
  // Workers: instances x intra_op_threads, defaults chosen from the cores.
  InstancePoolOptions pool;
  // Serve HTTP. Default true; false gives an in-process-only deployment.
  bool serve_http = true;
  // Host, port (0 = any free port), token, limits. Default 127.0.0.1:8000.
  serving::HttpServerOptions http;
  // Metrics (GET /metrics), stats, drift and anomaly checks, the SLO and the
  // dashboard. Default true; false leaves the request path unmeasured (for
  // measuring what monitoring costs) and serves neither /metrics nor
  // /dashboard.
  bool monitoring = true;
  // Drift, anomaly, stats-window and SLO settings (see model_monitor.h).
  // model, version and max_batch_size are filled in from the fields above.
  monitor::ModelMonitorOptions monitor;
  // How threads waiting in Predict(..., kShareALock) are woken: the
  // watchdog period, when a caller counts as calling in a loop, and whether
  // such a caller runs under SCHED_BATCH meanwhile (default true; see
  // runtime/wakeup_baton.h).
  WakeupBatonOptions caller_wakeup;
};

// Who calls Deployment::Predict: threads that run independently, or threads
// that must all take back one shared lock after each call (Python's GIL).
// Shared-lock callers are woken one at a time (see runtime/wakeup_baton.h).
enum class PredictCallers { kIndependent, kShareALock };

class Deployment final : public serving::Backend {
 public:
  // Validates the options, starts the workers, the batcher and (if asked)
  // the HTTP server. Errors: InvalidArgument naming the bad option;
  // Unavailable when the port cannot be bound.
  //
  // `fallback`, when given, must take the same inputs and give as many
  // outputs; traffic moves to it when the model breaches options.monitor.slo
  // (see Restore()).
  static StatusOr<std::unique_ptr<Deployment>> Create(std::shared_ptr<Model> model, DeploymentOptions options,
                                                      std::shared_ptr<Model> fallback = nullptr);
  ~Deployment() override;

  // In-process request: validated against the signature, then batched.
  // `done` is called exactly once, from any thread (possibly this one).
  void Submit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done);

  // In-process request, answered before this returns: Submit, then wait.
  // When an instance is free, the batch holding the request runs on the
  // calling thread instead of a worker, which saves the hand-offs to the
  // worker and back (see docs/architecture.md, "Caller runs"). The calling
  // thread's intra-op thread count is left as it was.
  StatusOr<std::vector<at::Tensor>> Predict(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline,
                                            PredictCallers callers = PredictCallers::kIndependent);

  // Stops as described above. With drain=false, queued requests are answered
  // with Unavailable instead of being run. Idempotent.
  void Stop(bool drain);

  // The bound HTTP port, or 0 without HTTP.
  int port() const;
  const DeploymentOptions& options() const { return options_; }
  const Model& model() const { return *model_; }
  bool draining() const { return draining_.load(); }

  // The monitor, or null when options.monitoring is false.
  monitor::ModelMonitor* monitor() const { return monitor_.get(); }
  // Profiles `reference` (shaped like the model's first input, with any
  // number of rows) for drift and anomaly checks. For a classifier (see
  // options.monitor.classifier) the model also runs over the reference once,
  // on the calling thread, to learn the class mix it predicts there.
  // FailedPrecondition without monitoring; InvalidArgument for a wrong shape
  // or a model that fails on the reference.
  Status SetReference(const at::Tensor& reference);
  // Moves traffic from the fallback back to the model. FailedPrecondition
  // without a fallback or when the model already serves.
  Status Restore();
  // The Prometheus text of this deployment's metrics (queue depth refreshed).
  std::string MetricsText() const;
  // Refreshes the gauges that are read rather than pushed (queue depth).
  void RefreshGauges() const;

  // serving::Backend
  bool Ready() const override;
  std::vector<serving::ModelInfo> Models() const override;
  StatusOr<serving::ModelInfo> Find(std::string_view name, std::string_view version) const override;
  void Infer(serving::InferRequest request, serving::InferCallback done) override;
  // Counts the refusal: in mlship_requests_failed_total for an infer request
  // naming this model, else in mlship_http_requests_refused_total.
  void RequestRefused(const serving::RefusedRequest& refused) override;

 private:
  Deployment(std::shared_ptr<Model> model, DeploymentOptions options);
  void RunOnWorker(Batch<TensorTask>& batch);
  // Submit and Predict: `run_here` lets the calling thread run the batch.
  void Enter(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done, bool run_here);
  // Admission after the draining check: validation, the anomaly check,
  // scheduling. `done` answers the request; `monitored_done` is `done`
  // wrapped to record the outcome (the same when not monitored).
  void Admit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done,
             TensorCallback monitored_done, TensorTask::TimePoint arrival, bool run_here);
  // Hands a batch to the pool's workers; fails its tasks if the pool refuses.
  void SubmitToPool(std::shared_ptr<Batch<TensorTask>> batch);
  // Runs a batch on the calling thread if an instance is free, else
  // SubmitToPool.
  void RunHereOrSubmit(std::unique_ptr<Batch<TensorTask>> batch);
  // Feeds a batch's first inputs to the drift window (one lock per batch).
  void ObserveBatch(const Batch<TensorTask>& batch);
  // Adds GET /metrics (and the dashboard) to the server.
  Status AddMonitoringRoutes();
  serving::ModelInfo Info() const;

  std::shared_ptr<Model> model_;
  // Serves while the monitor says so; null without one.
  std::shared_ptr<Model> fallback_;
  DeploymentOptions options_;
  // Declared before the workers so it outlives every callback recording
  // into it.
  std::unique_ptr<monitor::ModelMonitor> monitor_;
  // Set first by Stop(): readiness false, new requests refused.
  std::atomic<bool> draining_{false};
  // Order matters for destruction: server, then batcher, then pool.
  std::unique_ptr<InstancePool> pool_;
  std::unique_ptr<DynamicBatcher<TensorTask>> batcher_;
  std::unique_ptr<serving::HttpServer> server_;
  // Orders the wake-ups of PredictCallers::kShareALock callers; made on
  // first use (it has a watchdog thread).
  std::once_flag baton_once_;
  std::shared_ptr<WakeupBaton> baton_;
  // Predict calls entered and not yet returned.
  std::atomic<int> predicts_in_flight_{0};
  // Serializes Stop().
  std::mutex stop_mu_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)
};

}  // namespace mlship
