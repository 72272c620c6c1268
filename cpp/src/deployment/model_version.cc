// ModelVersion: the engine, batcher and monitor of one version, on shared
// workers.
#include "mlship/deployment/model_version.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "mlship/deployment/batch_execution.h"
#include "mlship/deployment/host_tensor_convert.h"
#include "mlship/deployment/input_features.h"
#include "mlship/deployment/predicted_classes.h"
#include "mlship/deployment/sequence_pad.h"
#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/validate.h"
#include "mlship/runtime/run_with_isolation.h"

namespace mlship {
namespace {

double SecondsSince(Clock* clock, Clock::TimePoint from) {
  return std::chrono::duration<double>(clock->Now() - from).count();
}

}  // namespace

ModelVersion::ModelVersion(VersionIdentity id, std::shared_ptr<Model> model, VersionOptions options, Clock* clock)
    : id_(std::move(id)), model_(std::move(model)), options_(std::move(options)), clock_(clock) {}

StatusOr<std::shared_ptr<ModelVersion>> ModelVersion::Create(VersionIdentity id, std::shared_ptr<Model> model,
                                                             VersionOptions options, InstancePool* workers,
                                                             Clock* clock, int64_t health_window_seconds) {
  if (model == nullptr) return Status::InvalidArgument("a model version needs a model; got none");
  if (workers == nullptr) return Status::InvalidArgument("a model version needs the server's workers; got none");
  if (clock == nullptr) clock = SystemClock::Default();
  RETURN_IF_ERROR(options.Validate());
  if (options.monitoring) RETURN_IF_ERROR(ClassifierClasses(model->signature(), options.monitor.classifier).status());
  std::shared_ptr<ModelVersion> v(new ModelVersion(std::move(id), std::move(model), std::move(options), clock));
  ModelVersion* raw = v.get();
  if (v->options_.intra_op_threads == 0) {
    v->auto_threads_ = std::make_unique<AutoThreads>(
        AutoThreads::Options{.wide = std::max(1, CoreCount() / std::max(1, workers->instances()))});
  }
  if (v->options_.monitoring) {
    monitor::ModelMonitorOptions m = v->options_.monitor;
    m.model = v->id_.model;
    m.version = v->id_.version;
    m.max_batch_size = v->options_.batcher.max_batch_size;
    m.health_window_seconds = health_window_seconds;
    m.clock = clock;
    ASSIGN_OR_RETURN(v->monitor_, monitor::ModelMonitor::Create(std::move(m)));
  }
  // A worker that finishes a batch asks this version for its next one when it
  // is this version's turn: under load it goes from batch to batch with no
  // hand-off through the scheduler thread.
  v->producer_ = workers->AddProducer([raw] {
    if (raw->batcher_) raw->batcher_->DispatchReady();
  });
  ASSIGN_OR_RETURN(
      v->batcher_,
      DynamicBatcher<TensorTask>::Create(
          v->options_.batcher, clock,
          [raw](std::unique_ptr<Batch<TensorTask>> batch) { raw->SubmitToWorkers(std::move(batch)); },
          [raw] { return raw->producer_->HasFreeCapacity(); }));
  // The instances that run this version's batches: latency-aware batching
  // shares the queue among them (DynamicBatcher::set_consumers).
  v->batcher_->set_consumers(workers->instances());
  v->last_used_ns_.store(clock->Now().time_since_epoch().count(), std::memory_order_relaxed);
  return v;
}

ModelVersion::~ModelVersion() {
  Stop(/*drain=*/true);
  // Unregistered first, with producer_ still set: a worker may be inside
  // on_capacity (the batcher asks producer_ for capacity) until it returns.
  if (producer_) producer_->Unregister();
  batcher_.reset();
  producer_.reset();
}

void ModelVersion::Stop(bool drain) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  draining_ = true;
  // The batcher hands what is queued to the workers (drain) and returns;
  // then this version's batches in the workers' hands are waited for, so
  // nothing it accepted outlives it.
  if (batcher_) batcher_->Stop(drain);
  if (producer_) producer_->WaitUntilIdle();
  StopExplanations();
}

bool ModelVersion::Acquire() {
  users_.fetch_add(1, std::memory_order_acq_rel);
  if (retired_.load(std::memory_order_acquire)) {
    Release();
    return false;
  }
  last_used_ns_.store(clock_->Now().time_since_epoch().count(), std::memory_order_relaxed);
  return true;
}

void ModelVersion::Release() {
  if (users_.fetch_sub(1, std::memory_order_acq_rel) == 1 && retired_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(users_mu_);
    users_cv_.notify_all();
  }
}

bool ModelVersion::RetireAndWait(std::chrono::milliseconds timeout) {
  retired_.store(true, std::memory_order_release);
  std::unique_lock<std::mutex> lock(users_mu_);
  // Real time on purpose: this bounds how long a stuck request may delay an
  // unload, whatever clock the policies run on.
  return users_cv_.wait_for(lock, timeout, [this] { return users_.load(std::memory_order_acquire) == 0; });
}

ModelVersion::TimePoint ModelVersion::last_used() const {
  return TimePoint(TimePoint::duration(last_used_ns_.load(std::memory_order_relaxed)));
}

std::string ModelVersion::platform() const {
  return model_->format() == ModelFormat::kTorchScript ? "pytorch_torchscript" : "pytorch_aotinductor";
}

int64_t ModelVersion::queued() const { return batcher_ ? batcher_->num_queued_tasks() : 0; }

bool ModelVersion::HasSpareCapacity() const {
  return !draining_.load() && producer_ && producer_->PoolHasIdleWorker() && queued() == 0;
}

int ModelVersion::worker_count() const { return producer_ ? producer_->pool_instances() : 1; }

void ModelVersion::RefreshGauges() const {
  if (monitor_) monitor_->SetQueueDepth(queued());
}

void ModelVersion::SubmitToWorkers(std::shared_ptr<Batch<TensorTask>> batch) {
  Status submitted = producer_->Submit([this, batch](int) { RunOnWorker(*batch); });
  if (submitted.ok()) return;
  for (int i = 0; i < batch->num_tasks(); ++i) batch->mutable_task(i)->Fail(submitted);
}

void ModelVersion::RunHereOrSubmit(std::unique_ptr<Batch<TensorTask>> batch) {
  std::shared_ptr<Batch<TensorTask>> shared = std::move(batch);
  InstancePool::WorkItem item = [this, shared](int) {
    // The model sets this thread's intra-op thread count to the version's;
    // the caller's own torch code keeps its count.
    const int threads = at::get_num_threads();
    RunOnWorker(*shared);
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
  };
  if (!producer_->TryRunHere(item)) SubmitToWorkers(std::move(shared));
}

void ModelVersion::Enter(std::vector<at::Tensor> inputs, TimePoint deadline, TensorCallback done, bool run_here) {
  const auto arrival = clock_->Now();
  TensorCallback monitored = done;
  if (monitor_) {
    monitor_->RequestStarted();
    monitored = [m = monitor_.get(), clock = clock_, arrival, done](StatusOr<std::vector<at::Tensor>> result) {
      m->RequestFinished(result.ok() ? std::string_view() : StatusCodeName(result.status().code()),
                         SecondsSince(clock, arrival));
      if (result.ok()) ObservePredictedClasses(*m, *result);
      done(std::move(result));
    };
  }
  if (draining_) {
    monitored(Status::Unavailable("model '" + id_.model + "' version '" + id_.version +
                                  "' is shutting down and accepts no new requests"));
    return;
  }
  Admit(std::move(inputs), deadline, std::move(done), std::move(monitored), arrival, run_here);
}

StatusOr<std::vector<at::Tensor>> ModelVersion::RunAlone(std::vector<at::Tensor> inputs) {
  if (draining_) {
    return Status::Unavailable("model '" + id_.model + "' version '" + id_.version +
                               "' is shutting down and accepts no new requests");
  }
  const auto arrival = clock_->Now();
  if (monitor_) monitor_->RequestStarted();
  Status valid = ValidateInputs(model_->signature(), inputs);
  StatusOr<std::vector<at::Tensor>> result = valid;
  if (valid.ok()) {
    // As RunHereOrSubmit: the model sets this thread's intra-op count.
    const int threads = at::get_num_threads();
    result = model_->RunUnchecked(inputs, 1);
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
  }
  if (monitor_) {
    monitor_->RequestFinished(result.ok() ? std::string_view() : StatusCodeName(result.status().code()),
                              SecondsSince(clock_, arrival));
    if (result.ok()) ObservePredictedClasses(*monitor_, *result);
  }
  return result;
}

void ModelVersion::Admit(std::vector<at::Tensor> inputs, TimePoint deadline, TensorCallback done,
                         TensorCallback monitored_done, TimePoint arrival, bool run_here) {
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
      monitor_->RequestFinished(monitor::kInputAnomalyReason, SecondsSince(clock_, arrival));
      done(anomalies);
      return;
    }
  }
  if (options_.explain_sample_rate > 0) SampleForImportance(inputs);
  const int64_t max_rows = options_.batcher.max_batch_size;
  int64_t rows = sig.batchable() ? inputs[0].size(0) : 1;
  // A request that cannot share a batch runs alone: a key of its own, and a
  // size that fills a batch so it is formed at once.
  bool alone = !sig.batchable() || rows > max_rows;
  std::string key;
  if (!alone) {
    // Sequence batching: requests of lengths in one bucket share a key (and
    // are padded together); longer than max_length, a request runs alone.
    StatusOr<std::string> keyed = sig.sequence.enabled() ? SequenceKeyOrAlone(sig, inputs) : BatchKeyFor(inputs);
    if (!keyed.ok()) {
      monitored_done(keyed.status());
      return;
    }
    key = std::move(*keyed);
    alone = key.empty();
  }
  static std::atomic<uint64_t> solo_counter{0};
  if (alone) key = "solo#" + std::to_string(solo_counter++);
  auto task = std::make_unique<TensorTask>(std::move(inputs), std::move(key), rows, alone ? max_rows : rows, deadline,
                                           std::move(monitored_done));
  // The batch is formed on this thread when it is ready (no wake-up of the
  // scheduler thread); with run_here it also runs here when a worker is free.
  DynamicBatcher<TensorTask>::BatchCallback sink;
  if (run_here) sink = [this](std::unique_ptr<Batch<TensorTask>> batch) { RunHereOrSubmit(std::move(batch)); };
  Status scheduled = batcher_->ScheduleAndDispatch(task, sink);
  if (!scheduled.ok()) task->Fail(scheduled);
}

void ModelVersion::ObserveBatch(const Batch<TensorTask>& batch) {
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

void ModelVersion::RunOnWorker(Batch<TensorTask>& batch) {
  const Model& model = *model_;
  const int threads = intra_op_threads();
  auto run_batch = [&model, threads](Batch<TensorTask>& b) { return RunBatch(model, b, threads); };
  auto run_task = [&model, threads](TensorTask& task) { return RunTask(model, task, threads); };
  const bool timed = options_.batcher.latency_aware || (auto_threads_ && !auto_threads_->widened());
  if (!monitor_ && !timed) {
    RunWithIsolation(batch, run_batch, run_task);
    return;
  }
  // Inputs are released as tasks are answered, so they are read first.
  if (monitor_) ObserveBatch(batch);
  const auto start = clock_->Now();
  int64_t rows = 0;
  for (int t = 0; t < batch.num_tasks(); ++t) {
    rows += batch.task(t).rows();
    if (monitor_) monitor_->Queued(std::chrono::duration<double>(start - batch.task(t).enqueued()).count());
  }
  RunWithIsolation(batch, run_batch, run_task);
  const double seconds = SecondsSince(clock_, start);
  if (monitor_) monitor_->BatchExecuted(rows, seconds);
  if (timed && batcher_) batcher_->RecordBatch(rows, seconds);
  if (auto_threads_) auto_threads_->Record(threads, seconds);
}

Status ModelVersion::SetReference(const at::Tensor& reference) {
  if (!monitor_) return Status::FailedPrecondition("monitoring is off for this version; a reference needs it");
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
  RETURN_IF_ERROR(monitor_->SetReference(rows.data, rows.rows, rows.features, FeatureNamesFor(rank, rows.features),
                                         std::move(classes)));
  ExplainReferenceImportance(reference);
  return Status::Ok();
}

void ModelVersion::Infer(serving::InferRequest request, serving::InferCallback done) {
  std::vector<at::Tensor> inputs;
  inputs.reserve(request.inputs.size());
  for (const auto& host : request.inputs) inputs.push_back(ToTensor(host));
  std::shared_ptr<Model> model = model_;
  std::string version = id_.version;
  Enter(
      std::move(inputs), request.deadline,
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
      },
      /*run_here=*/false);
}

}  // namespace mlship
