// Server: versions in and out, the loader and policy threads, requests.
#include "mlship/deployment/server.h"

#include <ATen/Parallel.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <iostream>
#include <set>

#include "mlship/deployment/golden_check.h"
#include "mlship/engine/npy_file.h"
#include "mlship/engine/npy_tensor.h"
#include "mlship/monitor/dashboard.h"
#include "mlship/monitor/prometheus.h"
#include "mlship/thread_name.h"

namespace mlship {
namespace {

// The process's resident set, in bytes (0 when /proc is unreadable).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

double Seconds(Clock::Duration d) { return std::chrono::duration<double>(d).count(); }

std::string Shown(const std::string& name) {
  constexpr std::size_t kMaxShown = 64;
  return "'" + name.substr(0, kMaxShown) + (name.size() > kMaxShown ? "..." : "") + "'";
}

// Reads the .npy files `paths` (inside `record`) as tensors.
StatusOr<std::vector<at::Tensor>> ReadTensors(const repository::VersionRecord& record,
                                              const std::vector<std::string>& paths, const std::string& role) {
  std::vector<at::Tensor> out;
  NpyReadOptions options;
  options.float_only = false;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    options.role = role + " " + std::to_string(i);
    ASSIGN_OR_RETURN(NpyArray array, ReadNpyFile(record.PathOf(paths[i]), options));
    out.push_back(NpyToTensor(array));
  }
  return out;
}

// A rollout compares and swaps the two versions' answers: their outputs must
// have the same names and types (shapes may differ only where one is dynamic).
Status SameOutputs(const Router& router, const std::string& model, const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(serving::ModelInfo a, router.Find(model, from));
  ASSIGN_OR_RETURN(serving::ModelInfo b, router.Find(model, to));
  auto describe = [](const Signature& s) {
    std::string out;
    for (const TensorSpec& t : s.outputs) out += (out.empty() ? "" : ", ") + t.ToString();
    return out;
  };
  bool same = a.signature.outputs.size() == b.signature.outputs.size();
  for (std::size_t i = 0; same && i < a.signature.outputs.size(); ++i) {
    same = a.signature.outputs[i].name == b.signature.outputs[i].name &&
           a.signature.outputs[i].dtype == b.signature.outputs[i].dtype;
  }
  if (same) return Status::Ok();
  return Status::InvalidArgument("version " + Shown(to) + " of " + Shown(model) + " has outputs " +
                                 describe(b.signature) + " but version " + Shown(from) + " has " +
                                 describe(a.signature) + "; a rollout needs the same outputs");
}

constexpr const char* kStableAlias = "stable";
constexpr const char* kCanaryAlias = "canary";

}  // namespace

boost::json::object RolloutJson(const std::string& model, const RolloutStatus& s) {
  namespace json = boost::json;
  ServingOptions holder;
  holder.rollout = s.options;
  json::object out = OptionValues(holder, {OptionScope::kRollout});
  out["model"] = model;
  out["state"] = std::string(RolloutStateName(s.state));
  out["step"] = s.step;
  out["weight"] = s.weight;
  out["seconds_in_step"] = s.seconds_in_step;
  out["reason"] = s.reason;
  json::object figures;
  figures["requests"] = s.last.candidate.requests;
  figures["server_failures"] = s.last.candidate.server_failures;
  figures["p99_ms"] = s.last.candidate.p99_seconds * 1000.0;
  if (s.last.shadow) {
    figures["shadow_rows"] = s.last.shadow->rows;
    figures["divergence"] = s.last.shadow->divergence();
  }
  if (s.last.accuracy) {
    figures["candidate_accuracy"] = s.last.accuracy->candidate.accuracy;
    figures["candidate_outcomes"] = s.last.accuracy->candidate.rows;
    figures["stable_accuracy"] = s.last.accuracy->stable.accuracy;
    figures["stable_outcomes"] = s.last.accuracy->stable.rows;
    figures["p_value"] = s.last.accuracy->p_value;
  }
  out["figures"] = std::move(figures);
  return out;
}

boost::json::object Server::TrafficJson(const std::string& model) const {
  namespace json = boost::json;
  json::object out;
  out["rollout"] = nullptr;
  if (std::shared_ptr<RolloutRecord> record = RolloutRecordOf(model)) {
    std::lock_guard<std::mutex> lock(record->mu);
    out["rollout"] = RolloutJson(model, record->rollout->status());
  }
  out["shadow"] = nullptr;
  if (std::optional<ShadowFigures> f = router_->Shadow(model)) {
    out["shadow"] = json::object{{"compared", f->compared},
                                 {"skipped", f->skipped},
                                 {"failed", f->failed},
                                 {"rows", f->rows},
                                 {"agreement", f->agreement()},
                                 {"max_abs_diff", f->max_abs_diff},
                                 {"mean_abs_diff", f->mean_abs_diff()},
                                 {"mean_latency_ms", f->mean_latency_seconds() * 1000.0}};
  }
  json::object online;
  if (std::shared_ptr<OutcomeStore> store = router_->Outcomes(model)) {
    for (const std::string& v : store->Versions()) {
      const OnlineScore score = store->Score(v);
      online[v] = json::object{{"rows", score.rows},
                               {"classifier", score.classifier},
                               {"accuracy", score.accuracy},
                               {"accuracy_low", score.accuracy_low},
                               {"accuracy_high", score.accuracy_high},
                               {"mse", score.mse},
                               {"mae", score.mae}};
    }
  }
  out["online"] = std::move(online);
  return out;
}

Server::Server(ServingOptions defaults)
    : defaults_(std::move(defaults)),
      clock_(defaults_.server.clock != nullptr ? defaults_.server.clock : SystemClock::Default()),
      policy_waiter_(clock_, &policy_mu_, &policy_cv_) {}

StatusOr<std::unique_ptr<Server>> Server::Create(ServingOptions defaults, std::string repository_root) {
  RETURN_IF_ERROR(ValidateServingOptions(defaults));
  std::unique_ptr<Server> server(new Server(std::move(defaults)));
  Server* raw = server.get();
  if (!repository_root.empty()) {
    ASSIGN_OR_RETURN(repository::Repository repo, repository::Repository::Open(repository_root));
    server->repository_.emplace(std::move(repo));
  }
  ASSIGN_OR_RETURN(server->metrics_, ServerMetrics::Create());
  ASSIGN_OR_RETURN(server->workers_, InstancePool::Create(server->defaults_.server.workers, [](int) {
                     // Each version sets its own intra-op count per run; one
                     // thread until it does.
                     at::set_num_threads(1);
                   }));
  server->router_ = std::make_unique<Router>(raw);
  server->router_->SetInstanceCount(server->defaults_.server.workers.instances);
  server->router_->SetUnattributedRefusalSink(
      [metrics = server->metrics_.get()](std::string_view reason) { metrics->RequestRefused(reason); });
  server->loader_ = std::thread([raw] { raw->LoaderLoop(); });
  NameThread(server->loader_, "mlship-loader");
  server->policy_thread_ = std::thread([raw] { raw->PolicyLoop(); });
  NameThread(server->policy_thread_, "mlship-policy");
  if (server->repository_) {
    for (const std::string& model : server->repository_->Models()) {
      Status loaded = server->Load(model);
      if (!loaded.ok()) std::cerr << "mlship: model '" << model << "' was not loaded: " << loaded.message() << std::endl;
    }
  }
  if (server->defaults_.server.serve_http) {
    // Rate limits and dashboard logins run on the server's clock.
    if (server->defaults_.server.http.clock == nullptr) server->defaults_.server.http.clock = server->clock_;
    ASSIGN_OR_RETURN(server->http_,
                     serving::HttpServer::Create(server->defaults_.server.http, server->router_.get(), raw));
    // /metrics and /dashboard, unless monitoring is off by default (a
    // measurement of what monitoring costs serves neither).
    if (server->defaults_.version_options.monitoring) RETURN_IF_ERROR(server->AddMonitoringRoutes());
    RETURN_IF_ERROR(server->http_->Start());
  }
  if (server->defaults_.server.grpc_port != 0) {
    // The same router, repository control, tokens and limits as HTTP.
    serving::GrpcServerOptions grpc;
    grpc.port = server->defaults_.server.grpc_port < 0 ? 0 : static_cast<uint16_t>(server->defaults_.server.grpc_port);
    grpc.common = server->defaults_.server.http;
    if (grpc.common.clock == nullptr) grpc.common.clock = server->clock_;
    // One in-flight byte budget and one audit log for both front ends.
    serving::FrontEndShared shared = server->http_ ? server->http_->shared() : serving::FrontEndShared{};
    ASSIGN_OR_RETURN(server->grpc_, serving::GrpcServer::Create(grpc, server->router_.get(), raw, std::move(shared)));
  }
  return server;
}

Server::~Server() { Stop(/*drain=*/true); }

int Server::port() const { return http_ ? http_->port() : 0; }
int Server::grpc_port() const { return grpc_ ? grpc_->port() : 0; }

Status Server::ReloadTokens() {
  if (!http_ && !grpc_) {
    return Status::FailedPrecondition("this server serves neither HTTP nor gRPC, so it has no tokens to reload");
  }
  // Both front ends read the same file; a bad file leaves both as they were.
  if (http_) RETURN_IF_ERROR(http_->ReloadTokens());
  if (grpc_) RETURN_IF_ERROR(grpc_->ReloadTokens());
  return Status::Ok();
}

Status Server::ReloadTls() {
  if (!http_) return Status::FailedPrecondition("this server does not serve HTTP, so it has no TLS certificate to reload");
  RETURN_IF_ERROR(http_->ReloadTls());
  // The gRPC front end speaks TLS from the same files exactly when HTTP does.
  if (grpc_ && http_->serves_tls()) RETURN_IF_ERROR(grpc_->ReloadTls());
  return Status::Ok();
}

Status Server::Reload(std::string* done) {
  if (!http_) return Status::FailedPrecondition("this server does not serve HTTP, so it has nothing to reload");
  RETURN_IF_ERROR(http_->Reload(done));
  // What HTTP reloaded (TLS files, token file), gRPC reloads too.
  if (grpc_) {
    if (http_->serves_tls()) RETURN_IF_ERROR(grpc_->ReloadTls());
    if (!defaults_.server.http.token_file.empty()) RETURN_IF_ERROR(grpc_->ReloadTokens());
  }
  return Status::Ok();
}

bool Server::serves_tls() const { return http_ && http_->serves_tls(); }

// ---- Models from memory ----

Status Server::AddModel(const std::string& model, ModelOptions options) {
  RETURN_IF_ERROR(repository::ValidateName("model name", model));
  RETURN_IF_ERROR(options.Validate());
  std::lock_guard<std::mutex> lock(change_mu_);
  std::shared_ptr<FallbackPolicy> policy;
  if (options.slo && options.slo->any() && !options.fallback_version.empty()) {
    policy = std::make_shared<FallbackPolicy>(*options.slo, clock_);
  }
  router_->SetModel(model, std::move(options));
  router_->SetFallback(model, std::move(policy));
  return Status::Ok();
}

StatusOr<std::shared_ptr<ModelVersion>> Server::Bring(const std::string& model, const std::string& version,
                                                      VersionSource source, bool reloadable, bool cold,
                                                      int64_t load_memory_bytes, Clock::TimePoint started) {
  const int64_t before = ResidentBytes();
  const std::optional<ModelOptions> model_options = router_->Options(model);
  if (!model_options) return Status::NotFound("model " + Shown(model) + " is not served here");
  const int64_t health_window = model_options->slo ? model_options->slo->window_seconds : 0;
  auto failed = [&](Status status, std::string_view result) {
    metrics_->LoadFinished(model, version, result, Seconds(clock_->Now() - started), cold);
    return status;
  };
  StatusOr<std::shared_ptr<ModelVersion>> created =
      ModelVersion::Create({model, version}, source.model, std::move(source.options), workers_.get(), clock_,
                           health_window);
  if (!created.ok()) return failed(created.status(), "failed");
  std::shared_ptr<ModelVersion> v = std::move(created).value();
  if (source.reference) {
    Status profiled = v->SetReference(*source.reference);
    if (!profiled.ok()) return failed(profiled, "failed");
  }
  if (source.golden) {
    Status checked = CheckGolden(*v, *source.golden);
    if (!checked.ok()) {
      v->Stop(/*drain=*/false);
      return failed(checked, "check_failed");
    }
  }
  v->set_memory_bytes(load_memory_bytes + std::max<int64_t>(0, ResidentBytes() - before));
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> previous, router_->Install(model, v, reloadable));
  metrics_->LoadFinished(model, version, "ok", Seconds(clock_->Now() - started), cold);
  metrics_->SetLoaded(model, version, true, v->memory_bytes());
  return previous;
}

Status Server::Deploy(const std::string& model, const std::string& version, VersionSource source, bool make_default) {
  RETURN_IF_ERROR(repository::ValidateName("version", version));
  if (source.model == nullptr) return Status::InvalidArgument("Deploy needs a model; got none");
  std::shared_ptr<ModelVersion> previous;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    if (!router_->Options(model)) return Status::NotFound("model " + Shown(model) + " is not registered; add it first");
    ASSIGN_OR_RETURN(previous, Bring(model, version, std::move(source), /*reloadable=*/false, /*cold=*/false,
                                     /*load_memory_bytes=*/0, clock_->Now()));
    if (make_default) RETURN_IF_ERROR(router_->SetDefault(model, version));
  }
  if (previous) Retire(std::move(previous), UnloadReason::kReplaced);
  EnforceBounds(nullptr);
  return Status::Ok();
}

Status Server::Swap(const std::string& model, const std::string& version, VersionSource source) {
  RETURN_IF_ERROR(repository::ValidateName("version", version));
  if (source.model == nullptr) return Status::InvalidArgument("Swap needs a model; got none");
  std::shared_ptr<ModelVersion> previous;
  std::shared_ptr<ModelVersion> old_default;
  Clock::TimePoint ready;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    if (!router_->Options(model)) return Status::NotFound("model " + Shown(model) + " is not registered; add it first");
    StatusOr<std::string> was = router_->DefaultVersion(model);
    ASSIGN_OR_RETURN(previous, Bring(model, version, std::move(source), /*reloadable=*/false, /*cold=*/false, 0,
                                     clock_->Now()));
    ready = clock_->Now();
    // The switch: one update of the routing table.
    RETURN_IF_ERROR(router_->SetDefault(model, version));
    if (was.ok() && *was != version) {
      StatusOr<std::shared_ptr<ModelVersion>> out = router_->Uninstall(model, *was, /*forget=*/true);
      if (out.ok()) old_default = std::move(out).value();
    }
  }
  if (previous) Retire(std::move(previous), UnloadReason::kReplaced);
  if (old_default) Retire(std::move(old_default), UnloadReason::kReplaced);
  metrics_->Swapped(model, version, Seconds(clock_->Now() - ready));
  return Status::Ok();
}

// ---- Versions out ----

void Server::Retire(std::shared_ptr<ModelVersion> version, UnloadReason reason) {
  if (version == nullptr) return;
  // Requests that hold a handle finish first (bounded by drain_timeout, so a
  // stuck request cannot hold an unload forever; the stop below still
  // answers everything the version accepted).
  version->RetireAndWait(defaults_.server.http.drain_timeout);
  version->Stop(/*drain=*/true);
  metrics_->Unloaded(version->id().model, version->id().version, reason);
  metrics_->SetLoaded(version->id().model, version->id().version, false, 0);
}

void Server::EnforceBounds(const ModelVersion* keep) {
  const int max_versions = defaults_.server.max_loaded_versions;
  const int64_t budget = defaults_.server.memory_budget_mb * (int64_t{1} << 20);
  if (max_versions == 0 && budget == 0) return;
  std::vector<std::shared_ptr<ModelVersion>> evicted;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    std::vector<std::shared_ptr<ModelVersion>> loaded = router_->LoadedVersions();
    const auto pinned = router_->PinnedVersions();
    int64_t memory = 0;
    for (const auto& v : loaded) memory += v->memory_bytes();
    auto count = static_cast<int>(loaded.size());
    std::vector<std::shared_ptr<ModelVersion>> candidates;
    for (const auto& v : loaded) {
      const bool is_pinned = std::find(pinned.begin(), pinned.end(), std::make_pair(v->id().model, v->id().version)) !=
                             pinned.end();
      const std::optional<VersionSlot> slot = router_->Slot(v->id().model, v->id().version);
      if (v.get() == keep || is_pinned || !slot || !slot->reloadable) continue;
      candidates.push_back(v);
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const auto& a, const auto& b) { return a->last_used() < b->last_used(); });
    for (const auto& v : candidates) {
      const bool over = (max_versions > 0 && count > max_versions) || (budget > 0 && memory > budget);
      if (!over) break;
      StatusOr<std::shared_ptr<ModelVersion>> out = router_->Uninstall(v->id().model, v->id().version, false);
      if (!out.ok() || *out == nullptr) continue;
      --count;
      memory -= v->memory_bytes();
      evicted.push_back(std::move(out).value());
    }
  }
  for (auto& v : evicted) Retire(std::move(v), UnloadReason::kRoom);
}

Status Server::Unload(const std::string& model, const std::string& version) {
  RETURN_IF_ERROR(repository::ValidateName("model name", model));
  std::vector<std::shared_ptr<ModelVersion>> out;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    if (!router_->Options(model)) return Status::NotFound("model " + Shown(model) + " is not served here");
    if (version.empty()) {
      out = router_->RemoveModel(model);
      from_repository_.erase(model);
      extra_versions_.erase(model);
    } else {
      ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> v, router_->Uninstall(model, version, /*forget=*/true));
      if (v) out.push_back(std::move(v));
      auto& extra = extra_versions_[model];
      extra.erase(std::remove(extra.begin(), extra.end(), version), extra.end());
    }
  }
  for (auto& v : out) Retire(std::move(v), UnloadReason::kRequest);
  return Status::Ok();
}

// ---- Models from the repository ----

StatusOr<ServingOptions> Server::RepositoryModelOptions(const std::string& model) const {
  ServingOptions options = defaults_;
  options.name = model;
  ASSIGN_OR_RETURN(repository::ModelConfig config, repository_->Config(model));
  RETURN_IF_ERROR(ApplyOptions(config.settings, {OptionScope::kModel, OptionScope::kVersion},
                               repository_->root() + "/" + model + "/mlship-model.json", options));
  return options;
}

Status Server::LoadFromRepository(const std::string& model, const std::string& version, bool cold) {
  const Clock::TimePoint started = clock_->Now();
  auto failed = [&](Status status) {
    metrics_->LoadFinished(model, version, "failed", Seconds(clock_->Now() - started), cold);
    return status;
  };
  StatusOr<repository::VersionRecord> record = repository_->Get(model, version, /*verify=*/true);
  if (!record.ok()) return failed(record.status());
  StatusOr<ServingOptions> options = RepositoryModelOptions(model);
  if (!options.ok()) return failed(options.status());
  Status settings = ApplyOptions(record->manifest.settings, {OptionScope::kVersion},
                                 record->PathOf(std::string(repository::kManifestFile)), *options);
  if (!settings.ok()) return failed(settings);
  LoadOptions load;
  load.signature = record->manifest.signature;
  load.intra_op_threads = options->version_options.intra_op_threads;
  const int64_t before = ResidentBytes();
  StatusOr<std::shared_ptr<Model>> engine = ::mlship::LoadModel(record->PathOf(record->manifest.model), load);
  if (!engine.ok()) return failed(engine.status());
  const int64_t load_memory = std::max<int64_t>(0, ResidentBytes() - before);
  VersionSource source;
  source.model = std::move(engine).value();
  source.options = options->version_options;
  if (const auto& g = record->manifest.golden) {
    GoldenData golden;
    StatusOr<std::vector<at::Tensor>> inputs = ReadTensors(*record, g->inputs, "golden input");
    if (!inputs.ok()) return failed(inputs.status());
    StatusOr<std::vector<at::Tensor>> outputs = ReadTensors(*record, g->outputs, "golden output");
    if (!outputs.ok()) return failed(outputs.status());
    golden.inputs = std::move(inputs).value();
    golden.outputs = std::move(outputs).value();
    golden.rtol = g->rtol;
    golden.atol = g->atol;
    source.golden = std::move(golden);
  }
  if (!record->manifest.reference.empty()) {
    NpyReadOptions npy;
    npy.role = "reference";
    StatusOr<NpyArray> reference = ReadNpyFile(record->PathOf(record->manifest.reference), npy);
    if (!reference.ok()) return failed(reference.status());
    source.reference = NpyToTensor(*reference);
  }
  // Bring records the outcome from here on.
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> previous,
                   Bring(model, version, std::move(source), /*reloadable=*/true, cold, load_memory, started));
  if (previous) Retire(std::move(previous), UnloadReason::kReplaced);
  return Status::Ok();
}

Status Server::Load(const std::string& model, const std::string& version) {
  RETURN_IF_ERROR(repository::ValidateName("model name", model));
  if (!version.empty()) RETURN_IF_ERROR(repository::ValidateName("version", version));
  if (!repository_) {
    return Status::FailedPrecondition("this server has no repository to load " + Shown(model) +
                                      " from; serve one with --repository DIR (serve(repository=...))");
  }
  return LoadAndWait(model, version, /*cold=*/false);
}

Status Server::SetAlias(const std::string& model, const std::string& alias, const std::string& version) {
  RETURN_IF_ERROR(repository::ValidateName("alias", alias));
  if (!version.empty()) RETURN_IF_ERROR(repository::ValidateName("version", version));
  bool persisted = false;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    if (!router_->Options(model)) return Status::NotFound("model " + Shown(model) + " is not served here");
    if (repository_ && from_repository_.count(model) != 0) {
      RETURN_IF_ERROR(repository_->SetAlias(model, alias, version));
      persisted = true;
    }
  }
  // An aliased version is served (and pinned): load it when it is not.
  if (persisted && !version.empty() && !router_->Slot(model, version)) {
    RETURN_IF_ERROR(LoadAndWait(model, "", /*cold=*/false));
  }
  std::lock_guard<std::mutex> lock(change_mu_);
  return router_->SetAlias(model, alias, version);
}

Status Server::Configure(const std::string& model, const boost::json::object& settings) {
  if (std::shared_ptr<RolloutRecord> record = RolloutRecordOf(model)) {
    std::lock_guard<std::mutex> lock(record->mu);
    if (record->rollout->active()) {
      for (std::string_view key : {"traffic_split", "shadow_version", "shadow_sample_rate", "default_version"}) {
        if (settings.contains(key)) {
          return Status::FailedPrecondition("model " + Shown(model) + " has a rollout running, which sets '" +
                                            std::string(key) + "'; pause or abort it first");
        }
      }
    }
  }
  std::lock_guard<std::mutex> lock(change_mu_);
  std::optional<ModelOptions> current = router_->Options(model);
  if (!current) return Status::NotFound("model " + Shown(model) + " is not served here");
  ServingOptions holder = defaults_;
  holder.name = model;
  holder.model = *current;
  RETURN_IF_ERROR(ApplyOptions(settings, {OptionScope::kModel}, "the settings of model " + Shown(model), holder));
  if (repository_ && from_repository_.count(model) != 0) {
    ASSIGN_OR_RETURN(repository::ModelConfig config, repository_->Config(model));
    for (const auto& [key, value] : settings) config.settings[key] = value;
    RETURN_IF_ERROR(repository_->SetModelSettings(model, config.settings));
  }
  // The fallback policy restarts only when its own settings change.
  bool policy_changed = false;
  for (const auto& [key, value] : settings) {
    policy_changed = policy_changed || key.starts_with("slo_") || key == "fallback_version";
  }
  if (policy_changed) {
    std::shared_ptr<FallbackPolicy> policy;
    if (holder.model.slo && holder.model.slo->any() && !holder.model.fallback_version.empty()) {
      policy = std::make_shared<FallbackPolicy>(*holder.model.slo, clock_);
    }
    router_->SetFallback(model, std::move(policy));
  }
  router_->SetModel(model, std::move(holder.model));
  return Status::Ok();
}

Status Server::SetDefault(const std::string& model, const std::string& version_or_alias) {
  std::lock_guard<std::mutex> lock(change_mu_);
  ASSIGN_OR_RETURN(std::string before, router_->DefaultVersion(model));
  RETURN_IF_ERROR(router_->SetDefault(model, version_or_alias));
  ASSIGN_OR_RETURN(std::string after, router_->DefaultVersion(model));
  if (after != before) metrics_->Swapped(model, after, 0.0);
  return Status::Ok();
}

// ---- The loader thread ----

Status Server::LoadAndWait(const std::string& model, const std::string& version, bool cold) {
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  {
    std::lock_guard<std::mutex> lock(loader_mu_);
    if (loader_stopping_) return Status::Unavailable("the server is shutting down");
    LoadJob job;
    job.kind = cold ? LoadJob::Kind::kColdStart : LoadJob::Kind::kLoadModel;
    job.model = model;
    job.version = version;
    job.done.push_back([done](Status s) { done->set_value(std::move(s)); });
    load_jobs_.push_back(std::move(job));
  }
  loader_cv_.notify_one();
  return result.get();
}

void Server::LoadInBackground(const std::string& model, const std::string& version, std::function<void(Status)> done) {
  {
    std::lock_guard<std::mutex> lock(loader_mu_);
    if (loader_stopping_) {
      if (done) done(Status::Unavailable("the server is shutting down"));
      return;
    }
    // One load per version, however many requests wait for it.
    for (LoadJob& job : load_jobs_) {
      if (job.kind == LoadJob::Kind::kColdStart && job.model == model && job.version == version) {
        if (done) job.done.push_back(std::move(done));
        return;
      }
    }
    LoadJob job;
    job.kind = LoadJob::Kind::kColdStart;
    job.model = model;
    job.version = version;
    if (done) job.done.push_back(std::move(done));
    load_jobs_.push_back(std::move(job));
  }
  loader_cv_.notify_one();
}

void Server::LoaderLoop() {
  while (true) {
    LoadJob job;
    {
      std::unique_lock<std::mutex> lock(loader_mu_);
      loader_cv_.wait(lock, [this] { return loader_stopping_ || !load_jobs_.empty(); });
      if (loader_stopping_) {
        for (LoadJob& left : load_jobs_) {
          for (auto& done : left.done) done(Status::Unavailable("the server stopped before this load ran"));
          if (left.rollout_done) left.rollout_done(Status::Unavailable("the server stopped before the rollout began"));
        }
        load_jobs_.clear();
        return;
      }
      job = std::move(load_jobs_.front());
      load_jobs_.pop_front();
    }
    Status result = Status::Ok();
    switch (job.kind) {
      case LoadJob::Kind::kColdStart: {
        // A request waits for this version; it may have been loaded since.
        std::optional<VersionSlot> slot = router_->Slot(job.model, job.version);
        if (!slot || !slot->loaded) {
          std::lock_guard<std::mutex> lock(change_mu_);
          result = LoadFromRepository(job.model, job.version, /*cold=*/true);
          RecordLoadResult(job.model, job.version, result);
        }
        if (result.ok()) {
          // The version a request waits for is spared, or it would be
          // unloaded before the request could use it.
          slot = router_->Slot(job.model, job.version);
          EnforceBounds(slot ? slot->loaded.get() : nullptr);
        }
        break;
      }
      case LoadJob::Kind::kLoadModel: result = LoadModelNow(job.model, job.version); break;
      case LoadJob::Kind::kUnload: result = Unload(job.model, job.version); break;
      case LoadJob::Kind::kRollout: {
        StatusOr<RolloutStatus> started = StartRollout(job.model, job.rollout);
        if (job.rollout_done) {
          job.rollout_done(started.ok() ? StatusOr<std::string>(boost::json::serialize(RolloutJson(job.model, *started)))
                                        : StatusOr<std::string>(started.status()));
        }
        continue;
      }
    }
    for (auto& done : job.done) done(result);
  }
}

Status Server::LoadModelNow(const std::string& model, const std::string& version) {
  ASSIGN_OR_RETURN(std::vector<std::string> available, repository_->Versions(model));
  ASSIGN_OR_RETURN(ServingOptions options, RepositoryModelOptions(model));
  ASSIGN_OR_RETURN(repository::ModelConfig config, repository_->Config(model));
  std::vector<std::shared_ptr<ModelVersion>> dropped;
  Status first_error = Status::Ok();
  std::string default_before;
  std::string default_after;
  Clock::TimePoint switched;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    std::vector<std::string>& extra = extra_versions_[model];
    if (!version.empty()) {
      if (std::find(available.begin(), available.end(), version) == available.end()) {
        return Status::NotFound("the repository has no version " + Shown(version) + " of model " + Shown(model));
      }
      if (std::find(extra.begin(), extra.end(), version) == extra.end()) extra.push_back(version);
    }
    std::set<std::string, VersionLess> wanted;
    for (const std::string& v : options.model.version_policy.Select(available)) wanted.insert(v);
    for (const std::string& v : extra) wanted.insert(v);
    for (const auto& [alias, v] : config.aliases) wanted.insert(v);
    if (!options.model.fallback_version.empty()) wanted.insert(options.model.fallback_version);
    if (StatusOr<std::string> d = router_->DefaultVersion(model); d.ok()) default_before = *d;
    router_->SetModel(model, options.model);
    std::shared_ptr<FallbackPolicy> policy;
    if (options.model.slo && options.model.slo->any() && !options.model.fallback_version.empty()) {
      policy = router_->Fallback(model);
      if (!policy) policy = std::make_shared<FallbackPolicy>(*options.model.slo, clock_);
    }
    router_->SetFallback(model, policy);
    from_repository_[model] = true;
    // Oldest first, so the newest (the default) switches in last, and only
    // once it is loaded, warmed up and checked.
    for (const std::string& v : wanted) {
      std::optional<VersionSlot> slot = router_->Slot(model, v);
      if (slot && slot->loaded) continue;
      Status loaded = LoadFromRepository(model, v, /*cold=*/false);
      RecordLoadResult(model, v, loaded);
      if (loaded.ok()) continue;
      std::cerr << "mlship: version '" << v << "' of model '" << model << "' was not loaded: " << loaded.message()
                << std::endl;
      if (first_error.ok()) first_error = loaded;
    }
    std::map<std::string, std::string> aliases;
    for (const auto& [alias, v] : config.aliases) {
      if (router_->Slot(model, v)) aliases[alias] = v;
    }
    RETURN_IF_ERROR(router_->SetAliases(model, std::move(aliases)));
    if (StatusOr<std::string> d = router_->DefaultVersion(model); d.ok()) default_after = *d;
    switched = clock_->Now();
    for (const std::string& v : router_->Versions(model)) {
      // A version that failed to load leaves the ones it would replace
      // serving: never fewer versions than before because of a bad one.
      if (wanted.count(v) != 0 || !first_error.ok()) continue;
      StatusOr<std::shared_ptr<ModelVersion>> out = router_->Uninstall(model, v, /*forget=*/true);
      if (out.ok() && *out) dropped.push_back(std::move(out).value());
    }
  }
  for (auto& v : dropped) Retire(std::move(v), UnloadReason::kPolicy);
  // The model's options were just read from the repository: a rollout in
  // progress sets its traffic again (or, at a first load, resumes).
  if (std::shared_ptr<RolloutRecord> record = RolloutRecordOf(model)) {
    std::lock_guard<std::mutex> lock(record->mu);
    Status applied = ApplyRollout(model, *record->rollout);
    if (!applied.ok()) std::cerr << "mlship: the rollout of '" << model << "': " << applied.message() << std::endl;
  } else if (!config.rollout.empty()) {
    // A running or paused rollout goes on; a finished one stays on record
    // (its status answers) and keeps the aliases it left.
    ResumeRollout(model, config.rollout);
  }
  if (!default_before.empty() && !default_after.empty() && default_after != default_before) {
    metrics_->Swapped(model, default_after, Seconds(clock_->Now() - switched));
  }
  EnforceBounds(nullptr);
  return first_error;
}

void Server::RecordLoadResult(const std::string& model, const std::string& version, const Status& result) {
  std::lock_guard<std::mutex> lock(errors_mu_);
  if (result.ok()) {
    load_errors_[model].erase(version);
  } else {
    load_errors_[model][version] = result.message();
  }
}

// ---- Rollouts ----

std::shared_ptr<Server::RolloutRecord> Server::RolloutRecordOf(const std::string& model) const {
  std::lock_guard<std::mutex> lock(rollouts_mu_);
  auto it = rollouts_.find(model);
  return it == rollouts_.end() ? nullptr : it->second;
}

Status Server::ApplyRollout(const std::string& model, const mlship::Rollout& rollout) {
  std::optional<ModelOptions> options = router_->Options(model);
  if (!options) return Status::NotFound("model " + Shown(model) + " is not served here");
  const RolloutOptions& o = rollout.options();
  std::map<std::string, std::string> aliases = router_->Aliases(model);
  options->default_version = kStableAlias;
  options->split = TrafficSplit{};
  options->shadow_version.clear();
  aliases.erase(kCanaryAlias);
  switch (rollout.state()) {
    case RolloutState::kRunning:
    case RolloutState::kPaused: {
      const double w = rollout.weight();
      options->split.weights = {{o.from, 100.0 - w}, {o.to, w}};
      // Divergence is judged on copies of the stable version's requests.
      if (o.guard.max_divergence < 1.0) {
        options->shadow_version = o.to;
        options->shadow_sample_rate = 1.0;
      }
      aliases[kStableAlias] = o.from;
      aliases[kCanaryAlias] = o.to;
      break;
    }
    case RolloutState::kSucceeded: aliases[kStableAlias] = o.to; break;
    case RolloutState::kRolledBack:
    case RolloutState::kAborted: aliases[kStableAlias] = o.from; break;
  }
  // Aliases first: the default names one of them.
  RETURN_IF_ERROR(router_->SetAliases(model, aliases));
  router_->SetModel(model, *options);
  return Status::Ok();
}

void Server::SaveRollout(const std::string& model, const mlship::Rollout& rollout) {
  bool persisted = false;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    persisted = repository_ && from_repository_.count(model) != 0;
  }
  if (!persisted) return;
  boost::json::object saved = RolloutJson(model, rollout.status());
  saved.erase("figures");
  saved.erase("seconds_in_step");
  saved.erase("weight");
  saved.erase("model");
  Status written = repository_->SetRollout(model, saved, router_->Aliases(model), kStableAlias);
  if (!written.ok()) std::cerr << "mlship: cannot record the rollout of '" << model << "': " << written.message() << std::endl;
}

void Server::ResumeRollout(const std::string& model, const boost::json::object& saved) {
  ServingOptions holder;
  boost::json::object keys;
  for (const auto& [key, value] : saved) {
    if (key != "step" && key != "state" && key != "reason") keys[key] = value;
  }
  Status parsed = ApplyOptions(keys, {OptionScope::kRollout}, "the recorded rollout of '" + model + "'", holder);
  const boost::json::value* step = saved.if_contains("step");
  const boost::json::value* state = saved.if_contains("state");
  StatusOr<RolloutState> s = state && state->is_string() ? RolloutStateFromName(state->get_string())
                                                         : StatusOr<RolloutState>(Status::InvalidArgument("no state"));
  if (!parsed.ok() || !s.ok() || step == nullptr || !step->is_int64()) {
    std::cerr << "mlship: the recorded rollout of '" << model << "' cannot be resumed: "
              << (parsed.ok() ? s.status().message() : parsed.message()) << std::endl;
    return;
  }
  auto record = std::make_shared<RolloutRecord>();
  std::lock_guard<std::mutex> lock(record->mu);
  const boost::json::value* reason = saved.if_contains("reason");
  record->rollout = std::make_unique<mlship::Rollout>(holder.rollout, clock_, static_cast<int>(step->get_int64()), *s,
                                                      reason && reason->is_string() ? std::string(reason->get_string())
                                                                                    : std::string());
  if (std::optional<ShadowFigures> shadow = router_->Shadow(model)) record->shadow_at_step = *shadow;
  Status applied = ApplyRollout(model, *record->rollout);
  if (!applied.ok()) return;
  std::lock_guard<std::mutex> all(rollouts_mu_);
  rollouts_[model] = record;
}

StatusOr<RolloutStatus> Server::StartRollout(const std::string& model, RolloutOptions options) {
  if (!router_->Options(model)) return Status::NotFound("model " + Shown(model) + " is not served here");
  if (options.from.empty()) {
    ASSIGN_OR_RETURN(options.from, router_->DefaultVersion(model));
  }
  RETURN_IF_ERROR(options.Validate());
  if (auto existing = RolloutRecordOf(model)) {
    std::lock_guard<std::mutex> lock(existing->mu);
    if (existing->rollout->active()) {
      return Status::FailedPrecondition("model " + Shown(model) + " has a rollout " +
                                        std::string(RolloutStateName(existing->rollout->state())) + " (to version '" +
                                        existing->rollout->options().to + "'); abort it first");
    }
  }
  if (options.guard.min_accuracy > 0 && !router_->Outcomes(model)) {
    return Status::FailedPrecondition("guard_min_accuracy judges outcomes, but model " + Shown(model) +
                                      " does not track them; serve it with track_outcomes=true");
  }
  bool repository_model = false;
  {
    std::lock_guard<std::mutex> lock(change_mu_);
    repository_model = repository_ && from_repository_.count(model) != 0;
  }
  if (std::optional<VersionSlot> slot = router_->Slot(model, options.to); !repository_model && (!slot || !slot->loaded)) {
    return Status::NotFound("model " + Shown(model) + " has no loaded version " + Shown(options.to) +
                            " to roll out; deploy it first (default=False)");
  }
  // The default stays on the stable version while the candidate loads: its
  // aliases and the default are pinned first (and recorded, for a
  // repository model, so the load below keeps them).
  auto aliases = router_->Aliases(model);
  aliases[kStableAlias] = options.from;
  RETURN_IF_ERROR(router_->SetAliases(model, aliases));
  {
    std::optional<ModelOptions> pinned = router_->Options(model);
    pinned->default_version = kStableAlias;
    router_->SetModel(model, *pinned);
  }
  if (repository_model) {
    StatusOr<repository::ModelConfig> config = repository_->Config(model);
    RETURN_IF_ERROR(repository_->SetRollout(model, config.ok() ? config->rollout : boost::json::object{}, aliases,
                                            kStableAlias));
  }
  if (std::optional<VersionSlot> slot = router_->Slot(model, options.to); !slot || !slot->loaded) {
    RETURN_IF_ERROR(LoadModelNow(model, options.to));
  }
  if (std::optional<VersionSlot> from = router_->Slot(model, options.from); !from || !from->loaded) {
    return Status::NotFound("model " + Shown(model) + " has no loaded version " + Shown(options.from) +
                            " to roll out from");
  }
  RETURN_IF_ERROR(SameOutputs(*router_, model, options.from, options.to));
  auto record = std::make_shared<RolloutRecord>();
  std::lock_guard<std::mutex> lock(record->mu);
  record->rollout = std::make_unique<mlship::Rollout>(options, clock_);
  if (auto candidate = router_->Resolve(model, options.to); candidate.ok() && candidate->handle &&
                                                             candidate->handle->monitor() != nullptr) {
    candidate->handle->monitor()->KeepHistory(options.hold.count() + 5);
    candidate->handle->monitor()->Checkpoint();
  }
  RETURN_IF_ERROR(ApplyRollout(model, *record->rollout));
  if (std::optional<ShadowFigures> shadow = router_->Shadow(model)) record->shadow_at_step = *shadow;
  SaveRollout(model, *record->rollout);
  {
    std::lock_guard<std::mutex> all(rollouts_mu_);
    rollouts_[model] = record;
  }
  return record->rollout->status();
}

StatusOr<RolloutStatus> Server::RolloutAction(const std::string& model, const std::string& action) {
  std::shared_ptr<RolloutRecord> record = RolloutRecordOf(model);
  if (!record) return Status::NotFound("model " + Shown(model) + " has no rollout");
  std::lock_guard<std::mutex> lock(record->mu);
  mlship::Rollout& rollout = *record->rollout;
  if (action == "status") return rollout.status();
  if (action == "pause") {
    RETURN_IF_ERROR(rollout.Pause());
  } else if (action == "resume") {
    RETURN_IF_ERROR(rollout.Resume());
  } else if (action == "abort") {
    RETURN_IF_ERROR(rollout.Abort("aborted by the operator"));
    RETURN_IF_ERROR(ApplyRollout(model, rollout));
  } else {
    return Status::InvalidArgument("unknown rollout action '" + action.substr(0, 20) +
                                   "'; expected status, pause, resume or abort");
  }
  SaveRollout(model, rollout);
  return rollout.status();
}

void Server::TickRollout(const std::string& model, RolloutRecord& record) {
  std::lock_guard<std::mutex> lock(record.mu);
  mlship::Rollout& rollout = *record.rollout;
  if (!rollout.active()) return;
  const RolloutOptions& o = rollout.options();
  StatusOr<Resolution> candidate = router_->Resolve(model, o.to);
  if (!candidate.ok() || !candidate->handle) return;  // unloaded meanwhile: judged once it is back
  RolloutFigures figures;
  monitor::ModelMonitor* monitor = candidate->handle->monitor();
  if (monitor != nullptr) figures.candidate = monitor->WindowSince(rollout.step_started());
  if (std::optional<ShadowFigures> shadow = router_->Shadow(model)) figures.shadow = shadow->Since(record.shadow_at_step);
  if (std::shared_ptr<OutcomeStore> outcomes = router_->Outcomes(model)) figures.accuracy = outcomes->Compare(o.to, o.from);
  const mlship::Rollout::Decision decision = rollout.Judge(figures);
  if (decision == mlship::Rollout::Decision::kHold) return;
  monitor::AlertEvent alert;
  switch (decision) {
    case mlship::Rollout::Decision::kAdvance:
      rollout.Advance();
      if (monitor != nullptr) monitor->Checkpoint();
      alert.kind = "rollout";
      alert.message = "version '" + o.to + "' now takes " + std::to_string(static_cast<int>(rollout.weight())) +
                      "% of the traffic";
      break;
    case mlship::Rollout::Decision::kSucceed:
      rollout.Succeed();
      alert.kind = "rollout";
      alert.message = "version '" + o.to + "' takes all the traffic: the rollout succeeded";
      break;
    case mlship::Rollout::Decision::kRollBack:
      rollout.RollBack(rollout.status().reason);
      metrics_->RolledBack(model, o.to);
      alert.kind = "rollback";
      alert.message = "traffic moved back to version '" + o.from + "': " + rollout.status().reason;
      break;
    case mlship::Rollout::Decision::kHold: break;
  }
  if (std::optional<ShadowFigures> shadow = router_->Shadow(model)) record.shadow_at_step = *shadow;
  Status applied = ApplyRollout(model, rollout);
  if (!applied.ok()) std::cerr << "mlship: the rollout of '" << model << "' could not move: " << applied.message() << std::endl;
  SaveRollout(model, rollout);
  if (monitor != nullptr) {
    monitor->RaiseAlert(std::move(alert));
  } else {
    std::cerr << "mlship alert [" << model << "] " << alert.kind << ": " << alert.message << std::endl;
  }
}

StatusOr<OutcomeCounts> Server::RecordOutcomes(const std::string& model, const std::vector<std::string>& ids,
                                               const std::vector<std::vector<double>>& labels) {
  ASSIGN_OR_RETURN(serving::OutcomeCounts counts, router_->RecordOutcomes(model, ids, labels));
  return OutcomeCounts{counts.matched, counts.unknown};
}

void Server::Rollout(std::string name, std::string action, std::string body,
                     std::function<void(StatusOr<std::string>)> done) {
  Status valid = repository::ValidateName("model name", name);
  if (!valid.ok()) return done(valid);
  if (action != "start") {
    StatusOr<RolloutStatus> status = RolloutAction(name, action);
    if (!status.ok()) return done(status.status());
    return done(boost::json::serialize(RolloutJson(name, *status)));
  }
  boost::json::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) {
    return done(Status::InvalidArgument("a rollout's body must be a JSON object of rollout options such as "
                                        "{\"rollout_to\": \"4\", \"guard_max_error_rate\": 0.05}"));
  }
  ServingOptions holder;
  Status applied = ApplyOptions(parsed.get_object(), {OptionScope::kRollout}, "the rollout request", holder);
  if (!applied.ok()) return done(applied);
  // Starting may load the candidate: on the loader thread, never an I/O one.
  std::lock_guard<std::mutex> lock(loader_mu_);
  if (loader_stopping_) return done(Status::Unavailable("the server is shutting down"));
  LoadJob job;
  job.kind = LoadJob::Kind::kRollout;
  job.model = std::move(name);
  job.rollout = holder.rollout;
  job.rollout_done = std::move(done);
  load_jobs_.push_back(std::move(job));
  loader_cv_.notify_one();
}

// ---- The policy thread ----

void Server::TickPolicies() {
  std::vector<std::pair<std::string, std::shared_ptr<RolloutRecord>>> rollouts;
  {
    std::lock_guard<std::mutex> lock(rollouts_mu_);
    rollouts.assign(rollouts_.begin(), rollouts_.end());
  }
  for (auto& [model, record] : rollouts) TickRollout(model, *record);
  for (const std::string& model : router_->ModelNames()) {
    std::shared_ptr<FallbackPolicy> policy = router_->Fallback(model);
    if (!policy) continue;
    StatusOr<std::string> primary = router_->DefaultVersion(model);
    if (!primary.ok()) continue;
    StatusOr<Resolution> r = router_->Resolve(model, *primary);
    if (!r.ok() || !r->handle || r->handle->monitor() == nullptr) continue;
    policy->Tick(*r->handle->monitor());
  }
}

void Server::PolicyLoop() {
  auto next = clock_->Now() + defaults_.server.policy_tick_interval;
  std::unique_lock<std::mutex> lock(policy_mu_);
  while (!policy_stopping_) {
    policy_waiter_.WaitUntil(lock, next);
    if (policy_stopping_) break;
    const auto now = clock_->Now();
    if (now < next) continue;
    next = now + defaults_.server.policy_tick_interval;
    lock.unlock();
    TickPolicies();
    lock.lock();
  }
}

monitor::HealthState Server::Health(const std::string& model) const {
  std::shared_ptr<FallbackPolicy> policy = router_->Fallback(model);
  return policy ? policy->state() : monitor::HealthState{};
}

Status Server::Restore(const std::string& model) {
  std::shared_ptr<FallbackPolicy> policy = router_->Fallback(model);
  if (!policy) return Status::FailedPrecondition("model " + Shown(model) + " has no fallback version to restore from");
  ASSIGN_OR_RETURN(std::string primary, router_->DefaultVersion(model));
  ASSIGN_OR_RETURN(Resolution r, router_->Resolve(model, primary));
  if (!r.handle || r.handle->monitor() == nullptr) {
    return Status::Unavailable("the default version of " + Shown(model) + " is not loaded; retry later");
  }
  return policy->Restore(*r.handle->monitor(), "restored by the operator");
}

// ---- Requests ----

StatusOr<VersionHandle> Server::Version(const std::string& model, const std::string& version_or_alias) const {
  ASSIGN_OR_RETURN(Resolution r, router_->Resolve(model, version_or_alias));
  if (!r.handle) {
    return Status::Unavailable("model " + Shown(model) + " version " + Shown(r.version) + " is not loaded");
  }
  return std::move(r.handle);
}

StatusOr<Resolution> Server::ResolveForRequest(const std::string& model, const RequestOptions& request) {
  if (draining_.load()) return Status::Unavailable("the server is shutting down and accepts no new requests");
  ASSIGN_OR_RETURN(Resolution r, router_->Resolve(model, request.version, request.routing_key));
  if (r.handle) return r;
  const std::optional<VersionSlot> slot = router_->Slot(r.model, r.version);
  if (!slot || !slot->reloadable) {
    return Status::Unavailable("model " + Shown(model) + " version " + Shown(r.version) + " is not loaded");
  }
  if (on_unloaded() == UnloadedVersionAction::kReject) {
    LoadInBackground(r.model, r.version, nullptr);
    return Status::Unavailable("model " + Shown(model) + " version " + Shown(r.version) +
                               " is being loaded; retry in a moment");
  }
  auto loaded = std::make_shared<std::promise<Status>>();
  std::future<Status> wait = loaded->get_future();
  LoadInBackground(r.model, r.version, [loaded](Status s) { loaded->set_value(std::move(s)); });
  RETURN_IF_ERROR(wait.get());
  return router_->Resolve(r.model, r.version);
}

TensorCallback Server::Observed(const std::string& model, const RequestOptions& request, const std::string& version,
                                const ModelVersion& answering, const std::vector<at::Tensor>& inputs,
                                TensorCallback done) {
  // Policy-routed requests may be copied to the model's shadow; tracked
  // models remember the prediction for the outcome to come.
  std::function<void(const StatusOr<std::vector<at::Tensor>>&)> shadow;
  std::function<void()> send;
  if (request.version.empty()) {
    Router::ShadowCopy copy = router_->StartShadow(model, version, [&inputs] { return inputs; });
    shadow = std::move(copy.on_primary);
    send = std::move(copy.send);
  }
  std::shared_ptr<OutcomeStore> track = request.request_id.empty() ? nullptr : router_->Outcomes(model);
  if (!shadow && !track) return done;
  return [done = std::move(done), shadow = std::move(shadow), send = std::move(send), track = std::move(track),
          id = request.request_id, version,
          classifier = answering.options().monitor.classifier](StatusOr<std::vector<at::Tensor>> result) mutable {
    if (track && result.ok() && !result->empty()) track->Predicted(id, version, (*result)[0], classifier);
    std::optional<StatusOr<std::vector<at::Tensor>>> copy;
    if (shadow) copy = result;
    done(std::move(result));  // the answer first: the comparison never delays it
    // The copy goes once the primary has answered (see Router::Infer).
    if (send) send();
    if (shadow) shadow(*copy);
  };
}

void Server::Submit(const std::string& model, std::vector<at::Tensor> inputs, const RequestOptions& request,
                    TensorCallback done) {
  StatusOr<Resolution> r = ResolveForRequest(model, request);
  if (!r.ok() || !r->handle) {
    done(r.ok() ? Status::Unavailable("model " + Shown(model) + " is not loaded") : r.status());
    return;
  }
  done = Observed(model, request, r->version, *r->handle, inputs, std::move(done));
  auto handle = std::make_shared<VersionHandle>(std::move(r->handle));
  // The answer may release the handle on a worker before Enter returns: this
  // reference keeps the version alive until then (see Router::Infer).
  const std::shared_ptr<ModelVersion> entered = handle->shared();
  entered->Enter(std::move(inputs), request.deadline,
          [handle, done = std::move(done)](StatusOr<std::vector<at::Tensor>> result) {
            done(std::move(result));
            handle->Reset();
          },
          /*run_here=*/false);
}

StatusOr<std::vector<at::Tensor>> Server::Predict(const std::string& model, std::vector<at::Tensor> inputs,
                                                  const RequestOptions& request, PredictCallers callers,
                                                  std::string* answered_by) {
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
  ASSIGN_OR_RETURN(Resolution r, ResolveForRequest(model, request));
  if (!r.handle) return Status::Unavailable("model " + Shown(model) + " is not loaded");
  if (answered_by != nullptr) *answered_by = r.version;
  VersionHandle handle = std::move(r.handle);
  const bool observed = request.version.empty() || !request.request_id.empty();
  if (callers == PredictCallers::kShareALock) {
    std::call_once(baton_once_, [this] { baton_ = WakeupBaton::Create(defaults_.server.caller_wakeup).value(); });
    struct Call {
      WakeupBaton::Waiter waiter;
      StatusOr<std::vector<at::Tensor>> result = Status::Internal("no answer");
      std::thread::id caller = std::this_thread::get_id();
      bool answered_here = false;
    };
    auto call = std::make_shared<Call>();
    std::shared_ptr<WakeupBaton> baton = baton_;  // outlives the Wait below
    TensorCallback answer = [baton, call](StatusOr<std::vector<at::Tensor>> result) {
      call->result = std::move(result);
      if (std::this_thread::get_id() == call->caller) {
        call->answered_here = true;  // awake already: no place in line
        return;
      }
      baton->Answered(std::shared_ptr<WakeupBaton::Waiter>(call, &call->waiter));
    };
    if (observed) answer = Observed(model, request, r.version, *handle, inputs, std::move(answer));
    handle->Enter(std::move(inputs), request.deadline, std::move(answer), /*run_here=*/alone);
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
  auto promise = std::make_shared<std::promise<StatusOr<std::vector<at::Tensor>>>>();
  std::future<StatusOr<std::vector<at::Tensor>>> future = promise->get_future();
  TensorCallback answer = [promise](StatusOr<std::vector<at::Tensor>> result) {
    promise->set_value(std::move(result));
  };
  if (observed) answer = Observed(model, request, r.version, *handle, inputs, std::move(answer));
  handle->Enter(std::move(inputs), request.deadline, std::move(answer), /*run_here=*/alone);
  return future.get();
}

// ---- Observation ----

void Server::RefreshPolicyGauges() const {
  std::vector<std::pair<std::string, std::shared_ptr<RolloutRecord>>> rollouts;
  {
    std::lock_guard<std::mutex> lock(rollouts_mu_);
    rollouts.assign(rollouts_.begin(), rollouts_.end());
  }
  for (const auto& [model, record] : rollouts) {
    std::lock_guard<std::mutex> lock(record->mu);
    const mlship::Rollout& r = *record->rollout;
    metrics_->SetRollout(model, r.options().to, r.weight(), RolloutStateName(r.state()));
  }
  for (const std::string& model : router_->ModelNames()) {
    const std::optional<ModelOptions> options = router_->Options(model);
    if (!options) continue;
    if (std::optional<ShadowFigures> shadow = router_->Shadow(model)) {
      metrics_->SetShadow(model, options->shadow_version, *shadow);
    }
    if (std::shared_ptr<OutcomeStore> outcomes = router_->Outcomes(model)) {
      for (const std::string& version : outcomes->Versions()) metrics_->SetOnline(model, version, outcomes->Score(version));
    }
  }
}

std::vector<monitor::FamilySnapshot> Server::MetricFamilies() const {
  RefreshPolicyGauges();
  std::vector<std::vector<monitor::FamilySnapshot>> parts;
  parts.push_back(metrics_->registry().Snapshot());
  for (const auto& v : router_->LoadedVersions()) {
    if (v->monitor() == nullptr) continue;
    v->RefreshGauges();
    parts.push_back(v->monitor()->registry().Snapshot());
  }
  return MergeFamilies(parts);
}

std::string Server::MetricsText() const { return monitor::RenderPrometheusText(MetricFamilies()); }

Status Server::AddMonitoringRoutes() {
  RETURN_IF_ERROR(http_->AddQueryRoute("/metrics", [this](std::string_view) -> StatusOr<serving::HttpContent> {
    return serving::HttpContent{MetricsText(), std::string(monitor::kPrometheusContentType)};
  }));
  RETURN_IF_ERROR(http_->AddQueryRoute("/dashboard", [](std::string_view) -> StatusOr<serving::HttpContent> {
    return serving::HttpContent{std::string(monitor::DashboardHtml()), "text/html; charset=utf-8"};
  }));
  return http_->AddQueryRoute("/dashboard/data", [this](std::string_view query) -> StatusOr<serving::HttpContent> {
    // ?model=NAME picks the model; the first one otherwise.
    const std::vector<std::string> models = router_->ModelNames();
    std::string model = models.empty() ? "" : models.front();
    if (const std::size_t at = query.find("model="); at != std::string_view::npos) {
      const std::string_view value = query.substr(at + 6, query.find('&', at) - (at + 6));
      if (std::find(models.begin(), models.end(), value) == models.end()) {
        return Status::NotFound("no model " + Shown(std::string(value)) + " is served here");
      }
      model = std::string(value);
    }
    StatusOr<VersionHandle> v = Version(model, "");
    if (!v.ok()) return v.status();
    if ((*v)->monitor() == nullptr) {
      return Status::FailedPrecondition("monitoring is off for model " + Shown(model));
    }
    (*v)->RefreshGauges();
    return serving::HttpContent{
        monitor::DashboardJson(*(*v)->monitor(), Health(model), models, 5, boost::json::serialize(TrafficJson(model)),
                               (*v)->ImportanceJson()),
        "application/json"};
  });
}

std::vector<serving::RepositoryIndexEntry> Server::RepositoryIndex(bool ready_only) const {
  std::vector<serving::RepositoryIndexEntry> out;
  std::set<std::string> listed;
  for (const std::string& model : router_->ModelNames()) {
    listed.insert(model);
    for (const std::string& version : router_->Versions(model)) {
      const std::optional<VersionSlot> slot = router_->Slot(model, version);
      if (!slot) continue;
      const bool ready = slot->loaded != nullptr;
      if (ready_only && !ready) continue;
      out.push_back({model, version, ready ? "READY" : "UNAVAILABLE",
                     ready ? "" : "unloaded to make room; loads again on the next request"});
    }
  }
  if (!ready_only) {
    std::lock_guard<std::mutex> lock(errors_mu_);
    for (const auto& [model, errors] : load_errors_) {
      for (const auto& [version, error] : errors) {
        if (!router_->Slot(model, version)) out.push_back({model, version, "UNAVAILABLE", error});
      }
    }
  }
  if (repository_ && !ready_only) {
    for (const std::string& model : repository_->Models()) {
      if (listed.count(model) != 0) continue;
      out.push_back({model, "", "UNAVAILABLE", "not loaded"});
    }
  }
  return out;
}

void Server::LoadModel(std::string name, std::function<void(Status)> done) {
  Status valid = repository::ValidateName("model name", name);
  if (!valid.ok()) return done(valid);
  if (!repository_) {
    return done(Status::FailedPrecondition("this server has no repository; it serves only the models it was given"));
  }
  if (!repository_->Versions(name).ok()) return done(Status::NotFound("the repository has no model " + Shown(name)));
  std::lock_guard<std::mutex> lock(loader_mu_);
  if (loader_stopping_) return done(Status::Unavailable("the server is shutting down"));
  LoadJob job;
  job.kind = LoadJob::Kind::kLoadModel;
  job.model = std::move(name);
  job.done.push_back(std::move(done));
  load_jobs_.push_back(std::move(job));
  loader_cv_.notify_one();
}

void Server::UnloadModel(std::string name, std::function<void(Status)> done) {
  Status valid = repository::ValidateName("model name", name);
  if (!valid.ok()) return done(valid);
  // Unloading waits for requests in flight: on the loader thread, never on
  // an I/O thread.
  std::lock_guard<std::mutex> lock(loader_mu_);
  if (loader_stopping_) return done(Status::Unavailable("the server is shutting down"));
  LoadJob job;
  job.kind = LoadJob::Kind::kUnload;
  job.model = std::move(name);
  job.done.push_back(std::move(done));
  load_jobs_.push_back(std::move(job));
  loader_cv_.notify_one();
}

// ---- Stop ----

void Server::Stop(bool drain) {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  draining_ = true;
  router_->StartDraining();
  // The HTTP server answers every request it accepted; those need the
  // versions and the workers, which keep running until it is done.
  if (http_) http_->Stop();
  if (grpc_) grpc_->Stop();
  {
    std::lock_guard<std::mutex> loader(loader_mu_);
    loader_stopping_ = true;
  }
  loader_cv_.notify_all();
  if (loader_.joinable()) loader_.join();
  {
    std::lock_guard<std::mutex> policy(policy_mu_);
    policy_stopping_ = true;
    policy_cv_.notify_all();
  }
  if (policy_thread_.joinable()) policy_thread_.join();
  // The versions stay in the table (readers still see what was served);
  // the router refuses requests from now on.
  for (auto& v : router_->LoadedVersions()) {
    v->Stop(drain);
    metrics_->Unloaded(v->id().model, v->id().version, UnloadReason::kStop);
  }
  workers_->Shutdown();
}

}  // namespace mlship
