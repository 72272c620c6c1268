// Deployment: one model on a Server, updated and rolled back in place.
#include "mlship/deployment/deployment.h"

#include <charconv>

namespace mlship {
namespace {

constexpr const char* kFallbackVersion = "fallback";

// The version after every integer version in `history`.
std::string NextVersion(const std::vector<std::string>& history) {
  uint64_t next = 1;
  for (const std::string& v : history) {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && end == v.data() + v.size()) next = std::max(next, n + 1);
  }
  return std::to_string(next);
}

}  // namespace

StatusOr<std::unique_ptr<Deployment>> Deployment::Create(std::shared_ptr<Model> model, ServingOptions options,
                                                        std::shared_ptr<Model> fallback) {
  if (model == nullptr) return Status::InvalidArgument("a deployment needs a model; got none");
  RETURN_IF_ERROR(repository::ValidateName("the model name", options.name));
  RETURN_IF_ERROR(repository::ValidateName("the model version", options.version));
  if (fallback != nullptr) {
    if (fallback->signature().inputs != model->signature().inputs ||
        fallback->signature().outputs.size() != model->signature().outputs.size()) {
      return Status::InvalidArgument("the fallback model must take the same inputs and give as many outputs as the "
                                     "model; the model's signature is " + model->signature().ToJson() +
                                     ", the fallback's " + fallback->signature().ToJson());
    }
    options.model.fallback_version = kFallbackVersion;
  }
  std::unique_ptr<Deployment> dep(new Deployment(options));
  ASSIGN_OR_RETURN(dep->server_, Server::Create(options));
  RETURN_IF_ERROR(dep->server_->AddModel(options.name, options.model));
  if (fallback != nullptr) {
    VersionSource source;
    source.model = std::move(fallback);
    source.options = options.version_options;
    RETURN_IF_ERROR(dep->server_->Deploy(options.name, kFallbackVersion, std::move(source), /*make_default=*/false));
  }
  VersionSource source;
  source.model = model;
  source.options = options.version_options;
  RETURN_IF_ERROR(dep->server_->Deploy(options.name, options.version, std::move(source), /*make_default=*/true));
  dep->history_.push_back({options.version, std::move(model)});
  return dep;
}

Deployment::~Deployment() { Stop(/*drain=*/true); }

void Deployment::Stop(bool drain) {
  if (server_) server_->Stop(drain);
}

void Deployment::Submit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done) {
  server_->Submit(options_.name, std::move(inputs), RequestOptions{.deadline = deadline}, std::move(done));
}

StatusOr<std::vector<at::Tensor>> Deployment::Predict(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline,
                                                     PredictCallers callers) {
  return server_->Predict(options_.name, std::move(inputs), RequestOptions{.deadline = deadline}, callers);
}

std::shared_ptr<Model> Deployment::model() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_.back().model;
}

std::string Deployment::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_.back().version;
}

std::vector<std::string> Deployment::history() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const Served& s : history_) out.push_back(s.version);
  return out;
}

monitor::ModelMonitor* Deployment::monitor() const {
  StatusOr<VersionHandle> v = server_->Version(options_.name, version());
  return v.ok() ? (*v)->monitor() : nullptr;
}

Status Deployment::SwapTo(const Served& served, std::optional<GoldenData> golden) {
  if (served.model->signature().inputs != model()->signature().inputs) {
    return Status::InvalidArgument("the new model must take the same inputs as the one it replaces; it takes " +
                                   served.model->signature().ToJson() + ", the current one " +
                                   model()->signature().ToJson());
  }
  VersionSource source;
  source.model = served.model;
  source.options = options_.version_options;
  source.golden = std::move(golden);
  {
    std::lock_guard<std::mutex> lock(mu_);
    source.reference = reference_;
  }
  RETURN_IF_ERROR(server_->Swap(options_.name, served.version, std::move(source)));
  std::lock_guard<std::mutex> lock(mu_);
  history_.push_back(served);
  return Status::Ok();
}

Status Deployment::Update(std::shared_ptr<Model> model, std::optional<GoldenData> golden, std::string version) {
  if (model == nullptr) return Status::InvalidArgument("update() needs a model; got none");
  std::lock_guard<std::mutex> serial(update_mu_);
  const std::vector<std::string> served = history();
  if (version.empty()) version = NextVersion(served);
  RETURN_IF_ERROR(repository::ValidateName("the model version", version));
  if (version == served.back() || version == kFallbackVersion) {
    return Status::InvalidArgument("version '" + version + "' is serving now (or names the fallback); give the new "
                                   "model another version");
  }
  return SwapTo({version, std::move(model)}, std::move(golden));
}

Status Deployment::Rollback() {
  std::lock_guard<std::mutex> serial(update_mu_);
  Served previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (history_.size() < 2) {
      return Status::FailedPrecondition("there is no earlier version to roll back to; update() first");
    }
    previous = history_[history_.size() - 2];
  }
  RETURN_IF_ERROR(SwapTo(previous, std::nullopt));
  // The rolled-back version leaves the history: a second rollback goes one
  // further back, not forth again.
  std::lock_guard<std::mutex> lock(mu_);
  history_.erase(history_.end() - 3, history_.end() - 1);
  return Status::Ok();
}

Status Deployment::SetReference(const at::Tensor& reference) {
  ASSIGN_OR_RETURN(VersionHandle v, server_->Version(options_.name, version()));
  RETURN_IF_ERROR(v->SetReference(reference));
  std::lock_guard<std::mutex> lock(mu_);
  reference_ = reference;
  return Status::Ok();
}

Status Deployment::Restore() { return server_->Restore(options_.name); }

}  // namespace mlship
