// FakeBackend implementation.
#include "fake_backend.h"

#include <stdexcept>
#include <utility>

namespace mlship::serving::testing {

namespace {

Signature DoublerSignature() {
  Signature signature;
  signature.inputs = {{"x", DType::kFloat32, {-1, 3}}};
  signature.outputs = {{"y", DType::kFloat32, {-1, 3}}, {"rows", DType::kInt64, {1}}};
  return signature;
}

}  // namespace

FakeBackend::FakeBackend() : worker_([this] { WorkerLoop(); }) {}

FakeBackend::~FakeBackend() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void FakeBackend::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping with nothing left to do
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

void FakeBackend::RequestRefused(const RefusedRequest& refused) {
  std::lock_guard<std::mutex> lock(mu_);
  refusals_.push_back({std::string(refused.model), std::string(refused.reason), refused.http_status});
}

std::vector<FakeBackend::Refusal> FakeBackend::refusals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refusals_;
}

std::vector<ModelInfo> FakeBackend::Models() const { return {*Find("doubler", "")}; }

StatusOr<ModelInfo> FakeBackend::Find(std::string_view name, std::string_view version) const {
  if (name != "doubler") {
    return Status::NotFound("no model named '" + std::string(name) + "'; this server serves: doubler");
  }
  if (!version.empty() && version != "1" && version != "2") {
    return Status::NotFound("model 'doubler' has no version '" + std::string(version) + "'; it has: 1, 2");
  }
  ModelInfo info;
  info.name = "doubler";
  info.version = version.empty() ? "2" : std::string(version);
  info.versions = {"1", "2"};
  info.platform = "pytorch_torchscript";
  info.signature = DoublerSignature();
  return info;
}

bool FakeBackend::ModelReady(std::string_view name, std::string_view version) const {
  return model_ready_.load() && Find(name, version).ok();
}

StatusOr<ModelConfigInfo> FakeBackend::Config(std::string_view name, std::string_view version) const {
  RETURN_IF_ERROR(Find(name, version).status());
  ModelConfigInfo config;
  config.max_batch_size = 8;
  config.max_queue_delay_us = 500;
  config.preferred_batch_sizes = {4};
  config.instance_count = 2;
  return config;
}

StatusOr<std::vector<ModelStatistics>> FakeBackend::Statistics(std::string_view name, std::string_view version) const {
  if (!name.empty()) RETURN_IF_ERROR(Find(name, version).status());
  std::vector<ModelStatistics> out;
  for (const char* v : {"1", "2"}) {
    if (!version.empty() && version != v) continue;
    ModelStatistics s;
    s.name = "doubler";
    s.version = v;
    const auto calls = static_cast<uint64_t>(infer_calls_.load());
    s.inference_count = calls;
    s.execution_count = calls;
    s.success = {calls, calls * 1000};
    s.queue = {calls, calls * 10};
    s.compute_infer = {calls, calls * 900};
    out.push_back(s);
  }
  return out;
}

InferResponse FakeBackend::Compute(const InferRequest& request) {
  const HostTensor& x = request.inputs.at(0);
  HostTensor y = HostTensor::Allocate("y", DType::kFloat32, x.shape);
  for (int64_t i = 0; i < x.NumElements(); ++i) y.mutable_data_as<float>()[i] = 2 * x.data_as<float>()[i];
  HostTensor rows = HostTensor::Allocate("rows", DType::kInt64, {1});
  rows.mutable_data_as<int64_t>()[0] = x.shape.at(0);
  InferResponse response;
  response.model_version = request.model_version;
  response.outputs = {std::move(y), std::move(rows)};
  return response;
}

void FakeBackend::Infer(InferRequest request, InferCallback done) {
  infer_calls_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_request_ = request;
  }
  switch (behavior_.load()) {
    case Behavior::kCompute: return done(Compute(request));
    case Behavior::kComputeOnWorker: {
      {
        std::lock_guard<std::mutex> lock(mu_);
        jobs_.push_back([request = std::move(request), done = std::move(done)] { done(Compute(request)); });
      }
      changed_.notify_all();
      return;
    }
    case Behavior::kHold: {
      {
        std::lock_guard<std::mutex> lock(mu_);
        held_.emplace_back(std::move(request), std::move(done));
      }
      changed_.notify_all();
      return;
    }
    case Behavior::kFailInference: return done(Status::InferenceFailed("the model raised: shape mismatch in layer 2"));
    case Behavior::kUnavailable: return done(Status::Unavailable("the queue is full; retry later"));
    case Behavior::kDeadline: return done(Status::DeadlineExceeded("the request waited longer than its deadline"));
    case Behavior::kInvalid: return done(Status::InvalidArgument("x must be non-negative"));
    case Behavior::kThrow: throw std::runtime_error("secret internal detail 0xdeadbeef");
    case Behavior::kDrop: return;  // `done` is destroyed here, never called
    case Behavior::kAnswerTwice: {
      done(Compute(request));
      done(Status::Internal("second answer"));
      return;
    }
    case Behavior::kWrongOutputSize: {
      InferResponse response = Compute(request);
      response.outputs[0].byte_size -= 4;
      return done(std::move(response));
    }
  }
}

bool FakeBackend::WaitForHeld(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return held_.size() >= count; });
}

void FakeBackend::Release() {
  std::vector<std::pair<InferRequest, InferCallback>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held.swap(held_);
  }
  for (auto& [request, done] : held) done(Compute(request));
}

std::optional<InferRequest> FakeBackend::last_request() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_request_;
}

}  // namespace mlship::serving::testing
