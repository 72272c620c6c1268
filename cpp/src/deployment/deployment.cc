// Deployment: wiring the batcher, the instance pool, the engine and the server.
#include "mlship/deployment/deployment.h"

#include <ATen/Parallel.h>

#include <regex>

#include "mlship/batching/clock.h"
#include "mlship/deployment/batch_execution.h"
#include "mlship/deployment/host_tensor_convert.h"
#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/validate.h"
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

StatusOr<std::unique_ptr<Deployment>> Deployment::Create(std::shared_ptr<Model> model, DeploymentOptions options) {
  if (model == nullptr) return Status::InvalidArgument("a deployment needs a model; got none");
  RETURN_IF_ERROR(ValidateName("the model name", options.name));
  RETURN_IF_ERROR(ValidateName("the model version", options.version));
  RETURN_IF_ERROR(options.batcher.Validate());
  RETURN_IF_ERROR(options.pool.Validate());
  if (options.serve_http) RETURN_IF_ERROR(serving::ValidateHttpServerOptions(options.http));

  std::unique_ptr<Deployment> dep(new Deployment(std::move(model), std::move(options)));
  Deployment* raw = dep.get();
  const int intra = dep->options_.pool.intra_op_threads;
  ASSIGN_OR_RETURN(dep->pool_, InstancePool::Create(dep->options_.pool, [intra](int) {
                     if (intra > 0) at::set_num_threads(intra);
                   }));
  ASSIGN_OR_RETURN(
      dep->batcher_,
      DynamicBatcher<TensorTask>::Create(
          dep->options_.batcher, SystemClock::Default(),
          [raw](std::unique_ptr<Batch<TensorTask>> batch) {
            std::shared_ptr<Batch<TensorTask>> shared = std::move(batch);
            Status submitted = raw->pool_->Submit([raw, shared](int) { raw->RunOnWorker(*shared); });
            if (submitted.ok()) return;
            for (int i = 0; i < shared->num_tasks(); ++i) shared->mutable_task(i)->Fail(submitted);
          },
          [raw] { return raw->pool_->HasFreeCapacity(); }));
  dep->pool_->SetCapacityListener([raw] { raw->batcher_->NotifyCapacity(); });
  if (dep->options_.serve_http) {
    ASSIGN_OR_RETURN(dep->server_, serving::HttpServer::Create(dep->options_.http, raw));
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

void Deployment::Submit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done) {
  if (draining_) {
    done(Status::Unavailable("model '" + options_.name + "' is shutting down and accepts no new requests"));
    return;
  }
  const Signature& sig = model_->signature();
  Status valid = ValidateInputs(sig, inputs);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  const int64_t max_rows = options_.batcher.max_batch_size;
  int64_t rows = sig.batchable() ? inputs[0].size(0) : 1;
  // A request that cannot share a batch runs alone: a key of its own, and a
  // size that fills a batch so it is formed at once.
  const bool alone = !sig.batchable() || rows > max_rows;
  static std::atomic<uint64_t> solo_counter{0};
  std::string key = alone ? "solo#" + std::to_string(solo_counter++) : BatchKeyFor(inputs);
  auto task = std::make_unique<TensorTask>(std::move(inputs), std::move(key), rows, alone ? max_rows : rows, deadline,
                                           std::move(done));
  Status scheduled = batcher_->Schedule(task);
  if (!scheduled.ok()) task->Fail(scheduled);
}

void Deployment::RunOnWorker(Batch<TensorTask>& batch) {
  const Model& model = *model_;
  // The pool's thread count wins over the one the model was loaded with.
  const int threads = options_.pool.intra_op_threads;
  RunWithIsolation(
      batch, [&model, threads](Batch<TensorTask>& b) { return RunBatch(model, b, threads); },
      [&model, threads](TensorTask& task) { return RunTask(model, task, threads); });
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
