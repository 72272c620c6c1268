// Deployment: wiring the batcher, the instance pool, the engine and the server.
#include "mlship/deployment/deployment.h"

#include <ATen/Parallel.h>

#include <future>
#include <regex>
#include <thread>

#include "mlship/batching/clock.h"
#include "mlship/deployment/batch_execution.h"
#include "mlship/deployment/host_tensor_convert.h"
#include "mlship/deployment/input_features.h"
#include "mlship/deployment/predicted_classes.h"
#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/validate.h"
#include "mlship/monitor/dashboard.h"
#include "mlship/runtime/run_with_isolation.h"

namespace mlship {
namespace {

Status ValidateName(const std::string& what, const std::string& value) {
  static const std::regex kUrlSafe("[A-Za-z0-9_.-]{1,128}");
  if (!std::regex_match(value, kUrlSafe)) {
    return Status::InvalidArgument(what + " must be 1-128 characters of letters, digits, '_', '.' or '-'; was '" +
                                   value + "'");
  }
  return Status::Ok();
}

std::string PlatformFor(ModelFormat format) {
  return format == ModelFormat::kTorchScript ? "pytorch_torchscript" : "pytorch_aotinductor";
}

}  // namespace

Deployment::Deployment(std::shared_ptr<Model> model, DeploymentOptions options)
    : model_(std::move(model)), options_(std::move(options)) {}

StatusOr<std::unique_ptr<Deployment>> Deployment::Create(std::shared_ptr<Model> model, DeploymentOptions options,
                                                        std::shared_ptr<Model> fallback) {
  if (model == nullptr) return Status::InvalidArgument("a deployment needs a model; got none");
  if (fallback != nullptr) {
    if (fallback->signature().inputs != model->signature().inputs ||
        fallback->signature().outputs.size() != model->signature().outputs.size()) {
      return Status::InvalidArgument("the fallback model must take the same inputs and give as many outputs as the "
                                     "model; the model's signature is " + model->signature().ToJson() +
                                     ", the fallback's " + fallback->signature().ToJson());
    }
    if (!options.monitoring) {
      return Status::InvalidArgument("a fallback model needs monitoring (its SLO decides when to switch); "
                                     "turn monitoring on or drop the fallback");
    }
  }
  if (options.monitoring) RETURN_IF_ERROR(ClassifierClasses(model->signature(), options.monitor.classifier).status());
  RETURN_IF_ERROR(ValidateName("the model name", options.name));
  RETURN_IF_ERROR(ValidateName("the model version", options.version));
  RETURN_IF_ERROR(options.batcher.Validate());
  RETURN_IF_ERROR(options.pool.Validate());
  RETURN_IF_ERROR(options.caller_wakeup.Validate());
  if (options.serve_http) RETURN_IF_ERROR(serving::ValidateHttpServerOptions(options.http));

  std::unique_ptr<Deployment> dep(new Deployment(std::move(model), std::move(options)));
  dep->fallback_ = std::move(fallback);
  Deployment* raw = dep.get();
  if (dep->options_.monitoring) {
    monitor::ModelMonitorOptions m = dep->options_.monitor;
    m.model = dep->options_.name;
    m.version = dep->options_.version;
    m.max_batch_size = dep->options_.batcher.max_batch_size;
    m.has_fallback = dep->fallback_ != nullptr;
    ASSIGN_OR_RETURN(dep->monitor_, monitor::ModelMonitor::Create(std::move(m)));
  }
  const int intra = dep->options_.pool.intra_op_threads;
  ASSIGN_OR_RETURN(dep->pool_, InstancePool::Create(dep->options_.pool, [intra](int) {
                     if (intra > 0) at::set_num_threads(intra);
                   }));
  ASSIGN_OR_RETURN(
      dep->batcher_,
      DynamicBatcher<TensorTask>::Create(
          dep->options_.batcher, SystemClock::Default(),
          [raw](std::unique_ptr<Batch<TensorTask>> batch) { raw->SubmitToPool(std::move(batch)); },
          [raw] { return raw->pool_->HasFreeCapacity(); }));
  // A worker that finishes a batch forms the next one itself: under load it
  // goes from batch to batch with no hand-off through the scheduler thread.
  dep->pool_->SetCapacityListener([raw] { raw->batcher_->DispatchReady(); });
  if (dep->options_.serve_http) {
    ASSIGN_OR_RETURN(dep->server_, serving::HttpServer::Create(dep->options_.http, raw));
    if (dep->monitor_) RETURN_IF_ERROR(dep->AddMonitoringRoutes());
    RETURN_IF_ERROR(dep->server_->Start());
  }
  return dep;
}

Deployment::~Deployment() { Stop(/*drain=*/true); }

void Deployment::Stop(bool drain) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  draining_ = true;  // readiness false; Submit and Infer refuse new work
  // The server answers every request it accepted; those need the batcher and
  // the pool, which keep running until it is done.
  if (server_) server_->Stop();
  if (batcher_) batcher_->Stop(drain);
  if (pool_) pool_->Shutdown();
}

int Deployment::port() const { return server_ ? server_->port() : 0; }

void Deployment::SubmitToPool(std::shared_ptr<Batch<TensorTask>> batch) {
  Status submitted = pool_->Submit([this, batch](int) { RunOnWorker(*batch); });
  if (submitted.ok()) return;
  for (int i = 0; i < batch->num_tasks(); ++i) batch->mutable_task(i)->Fail(submitted);
}

void Deployment::RunHereOrSubmit(std::unique_ptr<Batch<TensorTask>> batch) {
  std::shared_ptr<Batch<TensorTask>> shared = std::move(batch);
  InstancePool::WorkItem item = [this, shared](int) {
    // The model sets this thread's intra-op thread count to the pool's; the
    // caller's own torch code keeps its count.
    const int threads = at::get_num_threads();
    RunOnWorker(*shared);
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
  };
  if (!pool_->TryRunHere(item)) SubmitToPool(std::move(shared));
}

StatusOr<std::vector<at::Tensor>> Deployment::Predict(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline,
                                                     PredictCallers callers) {
  // The batch runs on this thread only when no other Predict is in flight.
  // With company, the callers wait while a worker gathers them into bigger
  // batches, and a caller busy running a batch of one would hold up the
  // hand-over of the GIL. Measured with 16 Python threads on 2 cores: 14k
  // calls/s when every caller could run batches, 47k with this rule.
  const bool alone = predicts_in_flight_.fetch_add(1, std::memory_order_relaxed) == 0;
  struct InFlight {
    std::atomic<int>& count;
    ~InFlight() { count.fetch_sub(1, std::memory_order_relaxed); }
  } in_flight{predicts_in_flight_};
  if (callers == PredictCallers::kShareALock) {
    std::call_once(baton_once_, [this] { baton_ = WakeupBaton::Create(options_.caller_wakeup).value(); });
    struct Call {
      WakeupBaton::Waiter waiter;
      StatusOr<std::vector<at::Tensor>> result = Status::Internal("no answer");
      std::thread::id caller = std::this_thread::get_id();
      bool answered_here = false;
    };
    auto call = std::make_shared<Call>();
    std::shared_ptr<WakeupBaton> baton = baton_;  // outlives the Wait below
    Enter(std::move(inputs), deadline,
          [baton, call](StatusOr<std::vector<at::Tensor>> result) {
            call->result = std::move(result);
            if (std::this_thread::get_id() == call->caller) {
              call->answered_here = true;  // awake already: no place in line
              return;
            }
            baton->Answered(std::shared_ptr<WakeupBaton::Waiter>(call, &call->waiter));
          },
          /*run_here=*/alone);
    // Queue first, then pass the baton. The caller woken by the pass often
    // preempted this thread at once (0.4 involuntary context switches per
    // call, before callers ran under SCHED_BATCH), so a call queued after the
    // pass reached the worker only when this thread next ran: smaller
    // batches. Measured with 16 Python threads on 2 cores: 78k calls/s
    // passing first, 110k queueing first. If this call is answered before
    // the pass, it lines up behind its own thread, and the pass hands the
    // baton on in answer order.
    WakeupBaton::Arrive();
    if (!call->answered_here) baton->Wait(call->waiter);
    return std::move(call->result);
  }
  // Shared with the callback: the answering thread may still be inside
  // set_value when this one wakes up and returns.
  auto answer = std::make_shared<std::promise<StatusOr<std::vector<at::Tensor>>>>();
  std::future<StatusOr<std::vector<at::Tensor>>> future = answer->get_future();
  Enter(std::move(inputs), deadline,
        [answer](StatusOr<std::vector<at::Tensor>> result) { answer->set_value(std::move(result)); },
        /*run_here=*/alone);
  return future.get();
}

void Deployment::Submit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done) {
  Enter(std::move(inputs), deadline, std::move(done), /*run_here=*/false);
}

void Deployment::Enter(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done,
                       bool run_here) {
  const auto arrival = std::chrono::steady_clock::now();
  TensorCallback monitored = done;
  if (monitor_) {
    monitor_->RequestStarted();
    monitored = [m = monitor_.get(), arrival, done](StatusOr<std::vector<at::Tensor>> result) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - arrival).count();
      m->RequestFinished(result.ok() ? std::string_view() : StatusCodeName(result.status().code()), seconds);
      if (result.ok()) ObservePredictedClasses(*m, *result);
      done(std::move(result));
    };
  }
  if (draining_) {
    monitored(Status::Unavailable("model '" + options_.name + "' is shutting down and accepts no new requests"));
    return;
  }
  Admit(std::move(inputs), deadline, std::move(done), std::move(monitored), arrival, run_here);
}

void Deployment::Admit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done,
                       TensorCallback monitored_done, TensorTask::TimePoint arrival, bool run_here) {
  const Signature& sig = model_->signature();
  Status valid = ValidateInputs(sig, inputs);
  if (!valid.ok()) {
    monitored_done(valid);
    return;
  }
  if (monitor_ && monitor_->reference_features() > 0) {
    StatusOr<FeatureRows> rows = FeatureRowsOf(inputs[0]);
    Status anomalies = rows.ok() ? monitor_->CheckInputs(rows->data, rows->rows, rows->features) : Status::Ok();
    if (!anomalies.ok()) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - arrival).count();
      monitor_->RequestFinished(monitor::kInputAnomalyReason, seconds);
      done(anomalies);
      return;
    }
  }
  const int64_t max_rows = options_.batcher.max_batch_size;
  int64_t rows = sig.batchable() ? inputs[0].size(0) : 1;
  // A request that cannot share a batch runs alone: a key of its own, and a
  // size that fills a batch so it is formed at once.
  const bool alone = !sig.batchable() || rows > max_rows;
  static std::atomic<uint64_t> solo_counter{0};
  std::string key = alone ? "solo#" + std::to_string(solo_counter++) : BatchKeyFor(inputs);
  auto task = std::make_unique<TensorTask>(std::move(inputs), std::move(key), rows, alone ? max_rows : rows, deadline,
                                           std::move(monitored_done));
  // The batch is formed on this thread when it is ready (no wake-up of the
  // scheduler thread); with run_here it also runs here when an instance is free.
  DynamicBatcher<TensorTask>::BatchCallback sink;
  if (run_here) sink = [this](std::unique_ptr<Batch<TensorTask>> batch) { RunHereOrSubmit(std::move(batch)); };
  Status scheduled = batcher_->ScheduleAndDispatch(task, sink);
  if (!scheduled.ok()) task->Fail(scheduled);
}

void Deployment::ObserveBatch(const Batch<TensorTask>& batch) {
  const int64_t features = monitor_->reference_features();
  if (features == 0) return;
  std::vector<float> rows;
  int64_t n = 0;
  for (int t = 0; t < batch.num_tasks(); ++t) {
    const auto& inputs = batch.task(t).inputs();
    if (inputs.empty()) continue;
    StatusOr<FeatureRows> part = FeatureRowsOf(inputs[0]);
    if (!part.ok() || part->features != features) continue;
    rows.insert(rows.end(), part->data, part->data + part->rows * part->features);
    n += part->rows;
  }
  if (n > 0) monitor_->ObserveInputs(rows.data(), n, features);
}

void Deployment::RunOnWorker(Batch<TensorTask>& batch) {
  const bool on_fallback = fallback_ != nullptr && monitor_->UsingFallback();
  const Model& model = on_fallback ? *fallback_ : *model_;
  // The pool's thread count wins over the one the model was loaded with.
  const int threads = options_.pool.intra_op_threads;
  if (!monitor_) {
    RunWithIsolation(
        batch, [&model, threads](Batch<TensorTask>& b) { return RunBatch(model, b, threads); },
        [&model, threads](TensorTask& task) { return RunTask(model, task, threads); });
    return;
  }
  // Inputs are released as tasks are answered, so they are read first.
  ObserveBatch(batch);
  const auto start = std::chrono::steady_clock::now();
  int64_t rows = 0;
  for (int t = 0; t < batch.num_tasks(); ++t) {
    rows += batch.task(t).rows();
    monitor_->Queued(std::chrono::duration<double>(start - batch.task(t).enqueued()).count());
  }
  RunWithIsolation(
      batch, [&model, threads](Batch<TensorTask>& b) { return RunBatch(model, b, threads); },
      [&model, threads](TensorTask& task) { return RunTask(model, task, threads); });
  monitor_->BatchExecuted(rows, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

Status Deployment::SetReference(const at::Tensor& reference) {
  if (!monitor_) return Status::FailedPrecondition("monitoring is off for this deployment; a reference needs it");
  const TensorSpec& spec = model_->signature().inputs.at(0);
  const auto rank = static_cast<int64_t>(spec.shape.size());
  bool fits = reference.dim() == rank && rank >= 1 && reference.size(0) >= 1;
  for (int64_t d = 1; fits && d < rank; ++d) fits = spec.shape[d] < 0 || spec.shape[d] == reference.size(d);
  if (!fits) {
    std::string want = "[";
    for (std::size_t d = 0; d < spec.shape.size(); ++d) {
      want += (d ? ", " : "") + (d == 0 ? std::string("rows") : std::to_string(spec.shape[d]));
    }
    std::string got = "[";
    for (int64_t d = 0; d < reference.dim(); ++d) got += (d ? ", " : "") + std::to_string(reference.size(d));
    return Status::InvalidArgument("the reference must be shaped like input '" + spec.name + "', " + want +
                                   "] with at least one row; got " + got + "]");
  }
  if (!at::isFloatingType(reference.scalar_type()) && !at::isIntegralType(reference.scalar_type(), true)) {
    return Status::InvalidArgument("the reference must hold real numbers; got " +
                                   std::string(c10::toString(reference.scalar_type())));
  }
  ASSIGN_OR_RETURN(FeatureRows rows, FeatureRowsOf(reference));
  ASSIGN_OR_RETURN(std::optional<monitor::ClassProfile> classes,
                   ReferenceClasses(*model_, reference, options_.monitor.classifier, options_.batcher.max_batch_size));
  return monitor_->SetReference(rows.data, rows.rows, rows.features, FeatureNamesFor(rank, rows.features),
                                std::move(classes));
}

Status Deployment::Restore() {
  if (fallback_ == nullptr) return Status::FailedPrecondition("this deployment has no fallback model to restore from");
  return monitor_->Restore("restored by the operator");
}

void Deployment::RefreshGauges() const {
  if (monitor_ && batcher_) monitor_->SetQueueDepth(batcher_->num_queued_tasks());
}

std::string Deployment::MetricsText() const {
  if (!monitor_) return "";
  RefreshGauges();
  return monitor_->registry().PrometheusText();
}

Status Deployment::AddMonitoringRoutes() {
  RETURN_IF_ERROR(server_->AddGetRoute("/metrics", [this]() -> StatusOr<serving::HttpContent> {
    return serving::HttpContent{MetricsText(), std::string(monitor::kPrometheusContentType)};
  }));
  RETURN_IF_ERROR(server_->AddGetRoute("/dashboard", []() -> StatusOr<serving::HttpContent> {
    return serving::HttpContent{std::string(monitor::DashboardHtml()), "text/html; charset=utf-8"};
  }));
  return server_->AddGetRoute("/dashboard/data", [this]() -> StatusOr<serving::HttpContent> {
    RefreshGauges();
    return serving::HttpContent{monitor::DashboardJson(*monitor_), "application/json"};
  });
}

bool Deployment::Ready() const { return !draining_; }

serving::ModelInfo Deployment::Info() const {
  return serving::ModelInfo{options_.name, options_.version, {options_.version}, PlatformFor(model_->format()),
                            model_->signature()};
}

std::vector<serving::ModelInfo> Deployment::Models() const { return {Info()}; }

StatusOr<serving::ModelInfo> Deployment::Find(std::string_view name, std::string_view version) const {
  if (name != options_.name) {
    return Status::NotFound("model '" + std::string(name) + "' is not served here; this server serves '" +
                            options_.name + "'");
  }
  if (!version.empty() && version != options_.version) {
    return Status::NotFound("model '" + options_.name + "' has no version '" + std::string(version) +
                            "'; versions: " + options_.version);
  }
  return Info();
}

void Deployment::RequestRefused(const serving::RefusedRequest& refused) {
  if (!monitor_) return;
  if (refused.model == options_.name) {
    monitor_->RequestRefused(refused.reason);
  } else {
    monitor_->HttpRequestRefused(refused.reason);
  }
}

void Deployment::Infer(serving::InferRequest request, serving::InferCallback done) {
  std::vector<at::Tensor> inputs;
  inputs.reserve(request.inputs.size());
  for (const auto& host : request.inputs) inputs.push_back(ToTensor(host));
  std::shared_ptr<Model> model = model_;
  std::string version = options_.version;
  Submit(std::move(inputs), request.deadline,
         [model, version, done = std::move(done)](StatusOr<std::vector<at::Tensor>> result) {
           if (!result.ok()) {
             done(result.status());
             return;
           }
           serving::InferResponse response;
           response.model_version = version;
           const auto& specs = model->signature().outputs;
           for (std::size_t i = 0; i < result->size(); ++i) {
             const at::Tensor& t = (*result)[i];
             auto dtype = FromScalarType(t.scalar_type());
             if (!dtype.ok()) {
               done(Status::Internal("output " + std::to_string(i) + ": " + dtype.status().message()));
               return;
             }
             std::string name = i < specs.size() ? specs[i].name : "output_" + std::to_string(i);
             response.outputs.push_back(ToHostTensor(std::move(name), t, *dtype));
           }
           done(std::move(response));
         });
}

}  // namespace mlship
