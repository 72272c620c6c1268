// Router: the routing table, resolution, and the Backend on top of them.
#include "mlship/deployment/router.h"

#include <algorithm>
#include <mutex>

#include "mlship/deployment/host_tensor_convert.h"
#include "version_statistics.h"

namespace mlship {
namespace {

// A name from a request, as quoted in messages: bounded, so a huge name is
// not echoed back.
std::string Shown(std::string_view name) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "'" + std::string(name.substr(0, kMaxShown));
  if (name.size() > kMaxShown) out += "...";
  return out + "'";
}

template <typename Map>
std::string JoinKeys(const Map& map, std::size_t limit = 20) {
  std::string out;
  std::size_t n = 0;
  for (const auto& [key, value] : map) {
    if (n == limit) return out + ", ...";
    out += (n++ ? ", " : "") + key;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

Router::Router(VersionLoader* loader, Clock* clock)
    : loader_(loader), clock_(clock != nullptr ? clock : SystemClock::Default()) {}

Router::~Router() = default;

const Router::ModelEntry* Router::FindLocked(std::string_view model) const {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : &it->second;
}

StatusOr<std::string> Router::ResolveLocked(std::string_view model, const ModelEntry& entry,
                                            std::string_view version_or_alias, bool use_fallback,
                                            std::string_view routing_key, bool use_split) const {
  if (version_or_alias.empty()) {
    if (use_fallback && entry.fallback && entry.fallback->active() && !entry.options.fallback_version.empty()) {
      return entry.options.fallback_version;
    }
    if (use_split && !entry.options.split.empty()) {
      const double u = routing_key.empty() ? TrafficSplit::RandomPoint() : TrafficSplit::PointOf(routing_key);
      const std::string& picked = entry.options.split.Pick(u);
      // A split naming a version that is not served falls back to the default.
      if (entry.versions.count(picked) != 0) return picked;
    }
    if (!entry.options.default_version.empty()) {
      return ResolveLocked(model, entry, entry.options.default_version, /*use_fallback=*/false);
    }
    // The newest served version that is not the fallback.
    for (auto it = entry.versions.rbegin(); it != entry.versions.rend(); ++it) {
      if (it->first != entry.options.fallback_version) return it->first;
    }
    return Status::Unavailable("model " + Shown(model) + " has no version being served yet; retry later");
  }
  const std::string key(version_or_alias);
  if (auto alias = entry.aliases.find(key); alias != entry.aliases.end()) return alias->second;
  if (entry.versions.count(key) != 0) return key;
  std::string message = "model " + Shown(model) + " has no version or alias " + Shown(version_or_alias) +
                        "; versions: " + JoinKeys(entry.versions);
  if (!entry.aliases.empty()) message += "; aliases: " + JoinKeys(entry.aliases);
  return Status::NotFound(message);
}

StatusOr<Resolution> Router::Resolve(std::string_view model, std::string_view version_or_alias,
                                     std::string_view routing_key) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  if (entry == nullptr) {
    return Status::NotFound("model " + Shown(model) + " is not served here; models: " + JoinKeys(models_));
  }
  ASSIGN_OR_RETURN(std::string version, ResolveLocked(model, *entry, version_or_alias, /*use_fallback=*/true,
                                                      routing_key, /*use_split=*/true));
  Resolution r;
  r.model = std::string(model);
  r.version = version;
  auto slot = entry->versions.find(version);
  if (slot == entry->versions.end()) {
    return Status::NotFound("model " + Shown(model) + " has no version " + Shown(version) +
                            " (an alias or the default points at it, but it is not served)");
  }
  // Under the shared lock: a version is retired only after it left the
  // table, so this cannot fail for a version still in it.
  if (slot->second.loaded && slot->second.loaded->Acquire()) r.handle = VersionHandle(slot->second.loaded);
  return r;
}

StatusOr<std::string> Router::DefaultVersion(std::string_view model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  if (entry == nullptr) return Status::NotFound("model " + Shown(model) + " is not served here");
  return ResolveLocked(model, *entry, "", /*use_fallback=*/false);
}

void Router::SetModel(const std::string& model, ModelOptions options) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  ModelEntry& entry = models_[model];
  entry.options = std::move(options);
  if (entry.options.shadow_version != entry.shadow_stats_version) {
    entry.shadow_stats_version = entry.options.shadow_version;
    entry.shadow_stats = entry.shadow_stats_version.empty() ? nullptr : std::make_shared<ShadowStats>();
  }
  if (entry.options.track_outcomes && !entry.outcomes) {
    // Options were validated: Create cannot fail here.
    entry.outcomes = std::shared_ptr<OutcomeStore>(OutcomeStore::Create(entry.options.outcomes, clock_).value().release());
  } else if (!entry.options.track_outcomes) {
    entry.outcomes.reset();
  }
}

std::shared_ptr<OutcomeStore> Router::Outcomes(std::string_view model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  return entry ? entry->outcomes : nullptr;
}

void Router::Predicted(std::string_view model, const std::string& id, const std::string& version,
                       const std::vector<at::Tensor>& outputs) const {
  if (id.empty() || outputs.empty()) return;
  std::shared_ptr<OutcomeStore> store = Outcomes(model);
  if (store) store->Predicted(id, version, outputs[0]);
}

StatusOr<serving::OutcomeCounts> Router::RecordOutcomes(std::string_view name, const std::vector<std::string>& ids,
                                                        const std::vector<std::vector<double>>& labels) {
  std::shared_ptr<OutcomeStore> store;
  {
    std::shared_lock<std::shared_mutex> lock(table_mu_);
    const ModelEntry* entry = FindLocked(name);
    if (entry == nullptr) return Status::NotFound("model " + Shown(name) + " is not served here");
    store = entry->outcomes;
  }
  if (!store) {
    return Status::FailedPrecondition("model " + Shown(name) +
                                      " does not track outcomes; serve it with track_outcomes=true to report them");
  }
  OutcomeCounts counts = store->Record(ids, labels);
  return serving::OutcomeCounts{counts.matched, counts.unknown};
}

std::optional<ShadowFigures> Router::Shadow(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  if (entry == nullptr || !entry->shadow_stats) return std::nullopt;
  return entry->shadow_stats->Snapshot();
}

namespace {

// Where a shadow copy's answer meets the primary's.
struct ShadowJoin {
  ShadowJoin(std::shared_ptr<ShadowStats> s, Clock::TimePoint t, std::optional<bool> c)
      : stats(std::move(s)), start(t), classifier(c) {}
  // Records once both sides have answered.
  void Primary(const StatusOr<std::vector<at::Tensor>>& result) {
    std::unique_lock<std::mutex> lock(mu);
    primary = result.ok() ? std::optional<std::vector<at::Tensor>>(*result) : std::optional<std::vector<at::Tensor>>();
    primary_done = true;
    Finish(lock);
  }
  void Shadow(StatusOr<std::vector<at::Tensor>> result, double seconds) {
    std::unique_lock<std::mutex> lock(mu);
    if (result.ok()) shadow = std::move(result).value();
    shadow_done = true;
    latency = seconds;
    Finish(lock);
  }
  void Finish(std::unique_lock<std::mutex>& lock) {
    if (!primary_done || !shadow_done) return;
    const bool primary_ok = primary.has_value();
    const bool shadow_ok = shadow.has_value();
    std::vector<at::Tensor> a = primary_ok ? std::move(*primary) : std::vector<at::Tensor>{};
    std::vector<at::Tensor> b = shadow_ok ? std::move(*shadow) : std::vector<at::Tensor>{};
    lock.unlock();
    if (!primary_ok) return;  // nothing to compare with
    if (!shadow_ok) {
      stats->Failed();
      return;
    }
    stats->Add(CompareShadow(a, b, classifier), latency);
  }

  std::shared_ptr<ShadowStats> stats;
  Clock::TimePoint start;
  // The shadow version's classifier option: how answers are compared.
  std::optional<bool> classifier;
  std::mutex mu;
  bool primary_done = false;  // GUARDED_BY(mu)
  bool shadow_done = false;   // GUARDED_BY(mu)
  std::optional<std::vector<at::Tensor>> primary;  // GUARDED_BY(mu)
  std::optional<std::vector<at::Tensor>> shadow;   // GUARDED_BY(mu)
  double latency = 0.0;                            // GUARDED_BY(mu)
};

}  // namespace

Router::ShadowCopy Router::StartShadow(std::string_view model, const std::string& primary,
                                      const std::function<std::vector<at::Tensor>()>& inputs) {
  std::shared_ptr<ShadowStats> stats;
  VersionHandle shadow;
  {
    std::shared_lock<std::shared_mutex> lock(table_mu_);
    const ModelEntry* entry = FindLocked(model);
    if (entry == nullptr || !entry->shadow_stats || entry->options.shadow_version == primary) return {};
    stats = entry->shadow_stats;
    auto slot = entry->versions.find(entry->options.shadow_version);
    if (slot == entry->versions.end() || !slot->second.loaded) {
      stats->Skipped();
      return {};
    }
    if (entry->options.shadow_sample_rate < 1.0 && TrafficSplit::RandomPoint() >= entry->options.shadow_sample_rate) {
      stats->Skipped();
      return {};
    }
    // Only on spare capacity: the copy waits for no worker (it runs on the
    // idle-priority ShadowRunner, never on the pool the primary's requests
    // wait for), and is not made while the shadow's own queue or the pool is
    // busy, nor while the runner still has a copy (one at a time, so even a
    // shadow that hangs holds one copy and no live request).
    if (!slot->second.loaded->HasSpareCapacity() || !shadow_runner_.Idle()) {
      stats->Skipped();
      return {};
    }
    if (!stats->TryStart(1)) return {};
    if (!slot->second.loaded->Acquire()) {
      stats->Finished();
      stats->Skipped();
      return {};
    }
    shadow = VersionHandle(slot->second.loaded);
  }
  std::vector<at::Tensor> copies;
  for (const at::Tensor& t : inputs()) copies.push_back(t.clone());  // a model may write to its input
  Clock* clock = shadow->clock();
  auto join = std::make_shared<ShadowJoin>(std::move(stats), clock->Now(), shadow->options().monitor.classifier);
  auto handle = std::make_shared<VersionHandle>(std::move(shadow));
  ShadowCopy copy;
  copy.on_primary = [join](const StatusOr<std::vector<at::Tensor>>& result) { join->Primary(result); };
  copy.send = [this, join, handle, clock, copies = std::move(copies)]() mutable {
    const bool taken = shadow_runner_.TryRun([join, handle, clock, copies = std::move(copies)]() mutable {
      join->start = clock->Now();  // the shadow's latency counts from its own start
      StatusOr<std::vector<at::Tensor>> result = (*handle)->RunAlone(std::move(copies));
      const double seconds = std::chrono::duration<double>(clock->Now() - join->start).count();
      join->stats->Finished();
      join->Shadow(std::move(result), seconds);
      handle->Reset();
    });
    if (taken) return;
    // Another model's copy took the runner since this one was decided.
    join->stats->Finished();
    join->stats->Skipped();
    handle->Reset();
  };
  return copy;
}

std::vector<std::shared_ptr<ModelVersion>> Router::RemoveModel(const std::string& model) {
  std::vector<std::shared_ptr<ModelVersion>> loaded;
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return loaded;
  for (auto& [version, slot] : it->second.versions) {
    if (slot.loaded) loaded.push_back(std::move(slot.loaded));
  }
  models_.erase(it);
  return loaded;
}

Status Router::AddVersion(const std::string& model, const std::string& version, VersionSlot slot) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  VersionSlot& existing = it->second.versions[version];
  if (!existing.loaded) {
    slot.loaded = nullptr;
    existing = std::move(slot);
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<ModelVersion>> Router::Install(const std::string& model,
                                                        std::shared_ptr<ModelVersion> loaded, bool reloadable) {
  if (loaded == nullptr) return Status::InvalidArgument("nothing to install");
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  VersionSlot& slot = it->second.versions[loaded->id().version];
  slot.platform = loaded->platform();
  slot.signature = loaded->model().signature();
  slot.explain_methods = loaded->explain_methods();
  slot.reloadable = reloadable;
  slot.error.clear();
  std::shared_ptr<ModelVersion> previous = std::move(slot.loaded);
  slot.loaded = std::move(loaded);
  return previous;
}

StatusOr<std::shared_ptr<ModelVersion>> Router::Uninstall(const std::string& model, const std::string& version,
                                                          bool forget) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  auto slot = it->second.versions.find(version);
  if (slot == it->second.versions.end()) {
    return Status::NotFound("model " + Shown(model) + " has no version " + Shown(version));
  }
  std::shared_ptr<ModelVersion> loaded = std::move(slot->second.loaded);
  if (forget) {
    it->second.versions.erase(slot);
    for (auto a = it->second.aliases.begin(); a != it->second.aliases.end();) {
      a = a->second == version ? it->second.aliases.erase(a) : std::next(a);
    }
  }
  return loaded;
}

void Router::RecordLoadError(const std::string& model, const std::string& version, const std::string& error) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return;
  auto slot = it->second.versions.find(version);
  if (slot != it->second.versions.end()) slot->second.error = error;
}

Status Router::SetAlias(const std::string& model, const std::string& alias, const std::string& version) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  if (version.empty()) {
    it->second.aliases.erase(alias);
    return Status::Ok();
  }
  if (it->second.versions.count(alias) != 0) {
    return Status::InvalidArgument("alias " + Shown(alias) + " would hide version " + Shown(alias) + " of model " +
                                   Shown(model) + "; choose another name");
  }
  if (it->second.versions.count(version) == 0) {
    return Status::NotFound("model " + Shown(model) + " has no served version " + Shown(version) + " for alias " +
                            Shown(alias) + "; versions: " + JoinKeys(it->second.versions));
  }
  it->second.aliases[alias] = version;
  return Status::Ok();
}

Status Router::SetAliases(const std::string& model, std::map<std::string, std::string> aliases) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  it->second.aliases = std::move(aliases);
  return Status::Ok();
}

Status Router::SetDefault(const std::string& model, const std::string& version_or_alias) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return Status::NotFound("model " + Shown(model) + " is not served here");
  if (!version_or_alias.empty()) {
    RETURN_IF_ERROR(ResolveLocked(model, it->second, version_or_alias, false).status());
  }
  it->second.options.default_version = version_or_alias;
  return Status::Ok();
}

std::vector<std::string> Router::ModelNames() const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : models_) names.push_back(name);
  return names;
}

std::vector<std::string> Router::Versions(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<std::string> out;
  if (const ModelEntry* entry = FindLocked(model)) {
    for (const auto& [version, slot] : entry->versions) out.push_back(version);
  }
  return out;
}

std::map<std::string, std::string> Router::Aliases(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  return entry ? entry->aliases : std::map<std::string, std::string>{};
}

std::optional<ModelOptions> Router::Options(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  if (entry == nullptr) return std::nullopt;
  return entry->options;
}

std::optional<VersionSlot> Router::Slot(const std::string& model, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  if (entry == nullptr) return std::nullopt;
  auto slot = entry->versions.find(version);
  if (slot == entry->versions.end()) return std::nullopt;
  return slot->second;
}

std::vector<std::shared_ptr<ModelVersion>> Router::LoadedVersions() const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<std::shared_ptr<ModelVersion>> out;
  for (const auto& [name, entry] : models_) {
    for (const auto& [version, slot] : entry.versions) {
      if (slot.loaded) out.push_back(slot.loaded);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Router::PinnedVersions() const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, entry] : models_) {
    StatusOr<std::string> def = ResolveLocked(name, entry, "", /*use_fallback=*/false);
    if (def.ok()) out.emplace_back(name, *def);
    for (const auto& [alias, version] : entry.aliases) out.emplace_back(name, version);
    if (!entry.options.fallback_version.empty()) out.emplace_back(name, entry.options.fallback_version);
  }
  return out;
}

std::shared_ptr<FallbackPolicy> Router::Fallback(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(model);
  return entry ? entry->fallback : nullptr;
}

void Router::SetFallback(const std::string& model, std::shared_ptr<FallbackPolicy> policy) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  auto it = models_.find(model);
  if (it != models_.end()) it->second.fallback = std::move(policy);
}

void Router::SetUnattributedRefusalSink(std::function<void(std::string_view)> sink) {
  std::unique_lock<std::shared_mutex> lock(table_mu_);
  refusal_sink_ = std::move(sink);
}

bool Router::Ready() const { return !draining_.load(); }

serving::ModelInfo Router::InfoLocked(std::string_view model, const ModelEntry& entry,
                                      const std::string& version) const {
  serving::ModelInfo info;
  info.name = std::string(model);
  info.version = version;
  for (const auto& [v, slot] : entry.versions) info.versions.push_back(v);
  if (auto slot = entry.versions.find(version); slot != entry.versions.end()) {
    info.platform = slot->second.platform;
    info.signature = slot->second.signature;
    info.explain_methods = slot->second.explain_methods;
  }
  return info;
}

std::vector<serving::ModelInfo> Router::Models() const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<serving::ModelInfo> out;
  for (const auto& [name, entry] : models_) {
    StatusOr<std::string> version = ResolveLocked(name, entry, "", /*use_fallback=*/true);
    if (version.ok()) out.push_back(InfoLocked(name, entry, *version));
  }
  return out;
}

StatusOr<serving::ModelInfo> Router::Find(std::string_view name, std::string_view version) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(name);
  if (entry == nullptr) {
    return Status::NotFound("model " + Shown(name) + " is not served here; models: " + JoinKeys(models_));
  }
  ASSIGN_OR_RETURN(std::string resolved, ResolveLocked(name, *entry, version, /*use_fallback=*/true));
  if (entry->versions.count(resolved) == 0) {
    return Status::NotFound("model " + Shown(name) + " has no version " + Shown(resolved));
  }
  return InfoLocked(name, *entry, resolved);
}

bool Router::ModelReady(std::string_view name, std::string_view version) const {
  if (draining_.load()) return false;
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(name);
  if (entry == nullptr) return false;
  StatusOr<std::string> resolved = ResolveLocked(name, *entry, version, /*use_fallback=*/true);
  if (!resolved.ok()) return false;
  auto slot = entry->versions.find(*resolved);
  // An unloaded version that can load again still takes requests: they wait
  // for the cold start, or (on_unloaded "reject") start it and get 503.
  return slot != entry->versions.end() &&
         (slot->second.loaded != nullptr || (slot->second.reloadable && loader_ != nullptr));
}

void Router::Infer(serving::InferRequest request, serving::InferCallback done) {
  if (draining_.load()) {
    done(Status::Unavailable("the server is shutting down"));
    return;
  }
  StatusOr<Resolution> resolved = Resolve(request.model_name, request.model_version, request.routing_key);
  if (!resolved.ok()) {
    done(resolved.status());
    return;
  }
  if (resolved->handle) {
    // Requests routed by policy (naming no version) may be copied to the
    // model's shadow.
    ShadowCopy copy;
    if (request.model_version.empty()) {
      copy = StartShadow(request.model_name, resolved->version, [&request] {
        std::vector<at::Tensor> inputs;
        inputs.reserve(request.inputs.size());
        for (const auto& host : request.inputs) inputs.push_back(ToTensor(host));
        return inputs;
      });
    }
    std::function<void(const StatusOr<std::vector<at::Tensor>>&)> shadow = std::move(copy.on_primary);
    // The handle lives until the answer: the version cannot be retired
    // (drained and freed) under a request it accepted.
    auto handle = std::make_shared<VersionHandle>(std::move(resolved->handle));
    // The answer may come on a worker, and release the handle, before Infer
    // returns here (a retiring version is then freed): this reference keeps
    // it alive until Infer has returned.
    const std::shared_ptr<ModelVersion> entered = handle->shared();
    ModelVersion& version = *entered;
    std::shared_ptr<OutcomeStore> track = request.id.empty() ? nullptr : Outcomes(request.model_name);
    std::string id = request.id;
    version.Infer(std::move(request), [handle, done = std::move(done), shadow = std::move(shadow),
                                       send = std::move(copy.send), track = std::move(track), id = std::move(id)](
                                          StatusOr<serving::InferResponse> r) mutable {
      // The outcome record goes before the answer (a client may post the
      // outcome as soon as it has the answer); the shadow comparison after
      // it, so it never delays it. The outputs' bytes are shared: keeping
      // them is cheap.
      const bool ok = r.ok();
      StatusOr<std::vector<at::Tensor>> outputs = Status::Internal("not answered");
      auto convert = [&outputs](const std::vector<serving::HostTensor>& hosts) {
        std::vector<at::Tensor> tensors;
        for (const auto& host : hosts) tensors.push_back(ToTensor(host));
        outputs = std::move(tensors);
      };
      if (track && ok) {
        convert(r->outputs);
        track->Predicted(id, (*handle)->id().version, (*outputs)[0], (*handle)->options().monitor.classifier);
      }
      std::vector<serving::HostTensor> kept;
      if (shadow && ok && !track) kept = r->outputs;
      done(std::move(r));
      // The copy goes once the primary has answered: it never runs ahead of
      // the request it copies, nor beside it on the other core.
      if (send) send();
      if (!kept.empty()) convert(kept);
      if (shadow) shadow(outputs);
      handle->Reset();
    });
    return;
  }
  const std::optional<VersionSlot> slot = Slot(resolved->model, resolved->version);
  if (loader_ == nullptr || !slot || !slot->reloadable) {
    done(Status::Unavailable("model " + Shown(resolved->model) + " version " + Shown(resolved->version) +
                             " is not loaded" + (slot && !slot->error.empty() ? ": " + slot->error : "") +
                             "; retry later"));
    return;
  }
  const std::string model = resolved->model;
  const std::string version = resolved->version;
  if (loader_->on_unloaded() == UnloadedVersionAction::kReject) {
    loader_->LoadInBackground(model, version, nullptr);
    done(Status::Unavailable("model " + Shown(model) + " version " + Shown(version) +
                             " is being loaded; retry in a moment"));
    return;
  }
  // Waits for the cold start, then runs as usual. The request names the
  // concrete version so it cannot be re-routed meanwhile.
  request.model_version = version;
  loader_->LoadInBackground(model, version,
                            [this, request = std::move(request), done = std::move(done)](Status loaded) mutable {
                              if (!loaded.ok()) {
                                done(std::move(loaded));
                                return;
                              }
                              Infer(std::move(request), std::move(done));
                            });
}

void Router::Explain(serving::ExplainRequest request, serving::ExplainCallback done) {
  if (draining_.load()) {
    done(Status::Unavailable("the server is shutting down"));
    return;
  }
  const serving::InferRequest& r = request.request;
  StatusOr<Resolution> resolved = Resolve(r.model_name, r.model_version, r.routing_key);
  if (!resolved.ok()) {
    done(resolved.status());
    return;
  }
  if (!resolved->handle) {
    done(Status::Unavailable("model " + Shown(resolved->model) + " version " + Shown(resolved->version) +
                             " is not loaded (explanations start no load: an infer request does); retry later"));
    return;
  }
  // The handle keeps the version from being retired under the explanation.
  auto handle = std::make_shared<VersionHandle>(std::move(resolved->handle));
  const std::shared_ptr<ModelVersion> entered = handle->shared();
  entered->Explain(std::move(request), [handle, done = std::move(done)](StatusOr<serving::ExplainResponse> result) {
    done(std::move(result));
    handle->Reset();
  });
}

void Router::RequestRefused(const serving::RefusedRequest& refused) {
  std::function<void(std::string_view)> sink;
  std::shared_ptr<ModelVersion> target;
  {
    std::shared_lock<std::shared_mutex> lock(table_mu_);
    sink = refusal_sink_;
    if (!refused.model.empty()) {
      if (const ModelEntry* entry = FindLocked(refused.model)) {
        StatusOr<std::string> version = ResolveLocked(refused.model, *entry, "", /*use_fallback=*/false);
        if (version.ok()) {
          auto slot = entry->versions.find(*version);
          if (slot != entry->versions.end()) target = slot->second.loaded;
        }
      }
    }
  }
  if (target && target->monitor() != nullptr) {
    target->monitor()->RequestRefused(refused.reason);
    return;
  }
  if (sink) sink(refused.reason);
}

StatusOr<serving::ModelConfigInfo> Router::Config(std::string_view name, std::string_view version) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  const ModelEntry* entry = FindLocked(name);
  if (entry == nullptr) {
    return Status::NotFound("model " + Shown(name) + " is not served here; models: " + JoinKeys(models_));
  }
  ASSIGN_OR_RETURN(std::string resolved, ResolveLocked(name, *entry, version, /*use_fallback=*/true));
  const auto slot = entry->versions.find(resolved);
  if (slot == entry->versions.end()) return Status::NotFound("model " + Shown(name) + " has no version " + Shown(resolved));
  if (slot->second.loaded == nullptr) {
    return Status::Unavailable("model " + Shown(name) + " version " + Shown(resolved) +
                               " is unloaded; its configuration is known once it loads again");
  }
  return internal::ConfigOf(*slot->second.loaded, instance_count_.load());
}

StatusOr<std::vector<serving::ModelStatistics>> Router::Statistics(std::string_view name,
                                                                  std::string_view version) const {
  std::shared_lock<std::shared_mutex> lock(table_mu_);
  std::vector<serving::ModelStatistics> out;
  if (name.empty()) {
    if (!version.empty()) return Status::InvalidArgument("statistics of a version need the model's name");
    for (const auto& [model, entry] : models_) {
      for (const auto& [v, slot] : entry.versions) {
        if (slot.loaded != nullptr) out.push_back(internal::StatisticsOf(*slot.loaded));
      }
    }
    return out;
  }
  const ModelEntry* entry = FindLocked(name);
  if (entry == nullptr) {
    return Status::NotFound("model " + Shown(name) + " is not served here; models: " + JoinKeys(models_));
  }
  if (!version.empty()) {
    ASSIGN_OR_RETURN(std::string resolved, ResolveLocked(name, *entry, version, /*use_fallback=*/false));
    const auto slot = entry->versions.find(resolved);
    if (slot == entry->versions.end()) {
      return Status::NotFound("model " + Shown(name) + " has no version " + Shown(resolved));
    }
    if (slot->second.loaded != nullptr) out.push_back(internal::StatisticsOf(*slot->second.loaded));
    return out;
  }
  for (const auto& [v, slot] : entry->versions) {
    if (slot.loaded != nullptr) out.push_back(internal::StatisticsOf(*slot.loaded));
  }
  return out;
}

}  // namespace mlship
