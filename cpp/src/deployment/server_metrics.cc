// ServerMetrics: the lifecycle families and the merge of registries.
#include "mlship/deployment/server_metrics.h"

#include <map>

#include "mlship/monitor/buckets.h"

namespace mlship {

std::string_view UnloadReasonName(UnloadReason reason) {
  switch (reason) {
    case UnloadReason::kReplaced: return "replaced";
    case UnloadReason::kPolicy: return "policy";
    case UnloadReason::kRequest: return "request";
    case UnloadReason::kRoom: return "room";
    case UnloadReason::kStop: return "stop";
  }
  return "unknown";
}

StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create() {
  std::unique_ptr<ServerMetrics> m(new ServerMetrics());
  auto& r = m->registry_;
  const std::vector<std::string> mv = {"model", "version"};
  // Loads and swaps take from milliseconds (a small TorchScript file) to
  // minutes (a compiled package).
  const std::vector<double> slow = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  ASSIGN_OR_RETURN(m->loads_, r.AddCounter({"mlship_version_loads_total",
                                            "Loads of a model version, by result: ok, failed (did not load), "
                                            "check_failed (failed its golden check; never took traffic).",
                                            {"model", "version", "result"}}));
  ASSIGN_OR_RETURN(m->load_duration_, r.AddHistogram({"mlship_version_load_duration_seconds",
                                                      "Time to load, warm up and check a version.", mv},
                                                     slow));
  ASSIGN_OR_RETURN(m->cold_starts_, r.AddCounter({"mlship_cold_starts_total",
                                                  "Loads of an unloaded version for a request that waited for it.",
                                                  mv}));
  ASSIGN_OR_RETURN(m->cold_start_duration_, r.AddHistogram({"mlship_cold_start_duration_seconds",
                                                            "How long cold-start loads took.", mv},
                                                           slow));
  ASSIGN_OR_RETURN(m->swaps_, r.AddCounter({"mlship_swaps_total",
                                            "Times the traffic of a model moved to this version (hot swaps).", mv}));
  ASSIGN_OR_RETURN(m->swap_duration_,
                   r.AddHistogram({"mlship_swap_duration_seconds",
                                   "From the new version ready to the old one drained and freed.", mv},
                                  slow));
  ASSIGN_OR_RETURN(m->unloads_, r.AddCounter({"mlship_version_unloads_total",
                                              "Unloads of a version, by reason: replaced, policy, request, room "
                                              "(least recently used, for max_loaded_versions/memory_budget_mb), stop.",
                                              {"model", "version", "reason"}}));
  ASSIGN_OR_RETURN(m->loaded_, r.AddGauge({"mlship_version_loaded", "1 while the version is loaded, else 0.", mv}));
  ASSIGN_OR_RETURN(m->memory_, r.AddGauge({"mlship_version_memory_bytes",
                                           "Memory the version added when it loaded (resident set growth).", mv}));
  ASSIGN_OR_RETURN(auto* total, r.AddGauge({"mlship_loaded_versions", "Versions loaded now, all models.", {}}));
  ASSIGN_OR_RETURN(m->loaded_total_, total->WithLabels({}));
  ASSIGN_OR_RETURN(m->refused_, r.AddCounter({"mlship_http_requests_refused_total",
                                              "HTTP requests the server refused that were not inference requests for "
                                              "the labelled model (unknown model or endpoint, malformed HTTP, "
                                              "oversized headers, connection limit, wrong token elsewhere), by reason.",
                                              {"model", "version", "reason"}}));
  ASSIGN_OR_RETURN(m->rollbacks_, r.AddCounter({"mlship_rollout_rollbacks_total",
                                                "Rollouts of a model to this version that its guard rolled back.",
                                                mv}));
  ASSIGN_OR_RETURN(m->rollout_weight_, r.AddGauge({"mlship_rollout_weight_percent",
                                                   "The share of a model's traffic its rollout gives this candidate "
                                                   "version now, in percent.",
                                                   mv}));
  ASSIGN_OR_RETURN(m->rollout_state_, r.AddGauge({"mlship_rollout_state",
                                                  "1 on the state the rollout to this version is in (running, paused, "
                                                  "succeeded, rolled_back, aborted), 0 on the others.",
                                                  {"model", "version", "state"}}));
  ASSIGN_OR_RETURN(m->shadow_rows_, r.AddGauge({"mlship_shadow_rows",
                                                "Rows this shadow version answered and had compared with the version "
                                                "that answered the request, since it became the shadow.",
                                                mv}));
  ASSIGN_OR_RETURN(m->shadow_skipped_, r.AddGauge({"mlship_shadow_skipped_requests",
                                                   "Requests not copied to the shadow: sampled out, or the shadow was "
                                                   "busy (a shadow never delays live traffic).",
                                                   mv}));
  ASSIGN_OR_RETURN(m->shadow_failed_, r.AddGauge({"mlship_shadow_failed_requests",
                                                  "Copies the shadow failed on while the live version answered.", mv}));
  ASSIGN_OR_RETURN(m->shadow_agreement_, r.AddGauge({"mlship_shadow_agreement",
                                                     "Share (0..1) of compared rows where the shadow agreed (same "
                                                     "class; all values within 1e-5 for a regressor).",
                                                     mv}));
  ASSIGN_OR_RETURN(m->shadow_max_diff_, r.AddGauge({"mlship_shadow_max_abs_diff",
                                                    "Largest absolute difference between the shadow's first output "
                                                    "and the live one's.",
                                                    mv}));
  ASSIGN_OR_RETURN(m->online_rows_, r.AddGauge({"mlship_online_outcomes",
                                                "Outcomes joined to this version's predictions in the live window.",
                                                mv}));
  ASSIGN_OR_RETURN(m->online_accuracy_, r.AddGauge({"mlship_online_accuracy",
                                                    "Accuracy of this version (a classifier) on the outcomes reported "
                                                    "for its predictions, over the live window.",
                                                    mv}));
  ASSIGN_OR_RETURN(m->online_mse_, r.AddGauge({"mlship_online_mse",
                                               "Mean squared error of this version (a regressor) on the outcomes "
                                               "reported for its predictions, over the live window.",
                                               mv}));
  return m;
}

void ServerMetrics::SetRollout(const std::string& model, const std::string& candidate, double weight_percent,
                               std::string_view state) {
  if (auto g = rollout_weight_->WithLabels({model, candidate}); g.ok()) (*g)->Set(weight_percent);
  for (std::string_view s : {"running", "paused", "succeeded", "rolled_back", "aborted"}) {
    if (auto g = rollout_state_->WithLabels({model, candidate, std::string(s)}); g.ok()) (*g)->Set(s == state ? 1 : 0);
  }
}

void ServerMetrics::SetShadow(const std::string& model, const std::string& version, const ShadowFigures& f) {
  const std::vector<std::string> labels = {model, version};
  if (auto g = shadow_rows_->WithLabels(labels); g.ok()) (*g)->Set(static_cast<double>(f.rows));
  if (auto g = shadow_skipped_->WithLabels(labels); g.ok()) (*g)->Set(static_cast<double>(f.skipped));
  if (auto g = shadow_failed_->WithLabels(labels); g.ok()) (*g)->Set(static_cast<double>(f.failed));
  if (auto g = shadow_agreement_->WithLabels(labels); g.ok()) (*g)->Set(f.agreement());
  if (auto g = shadow_max_diff_->WithLabels(labels); g.ok()) (*g)->Set(f.max_abs_diff);
}

void ServerMetrics::SetOnline(const std::string& model, const std::string& version, const OnlineScore& score) {
  const std::vector<std::string> labels = {model, version};
  if (auto g = online_rows_->WithLabels(labels); g.ok()) (*g)->Set(static_cast<double>(score.rows));
  auto& family = score.classifier ? online_accuracy_ : online_mse_;
  if (auto g = family->WithLabels(labels); g.ok()) (*g)->Set(score.classifier ? score.accuracy : score.mse);
}

void ServerMetrics::RolledBack(const std::string& model, const std::string& version) {
  if (auto c = rollbacks_->WithLabels({model, version}); c.ok()) (*c)->Increment();
}

void ServerMetrics::LoadFinished(const std::string& model, const std::string& version, std::string_view result,
                                 double seconds, bool cold) {
  if (auto c = loads_->WithLabels({model, version, std::string(result)}); c.ok()) (*c)->Increment();
  if (auto h = load_duration_->WithLabels({model, version}); h.ok()) (*h)->Observe(seconds);
  if (!cold) return;
  if (auto c = cold_starts_->WithLabels({model, version}); c.ok()) (*c)->Increment();
  if (auto h = cold_start_duration_->WithLabels({model, version}); h.ok()) (*h)->Observe(seconds);
}

void ServerMetrics::Swapped(const std::string& model, const std::string& version, double seconds) {
  if (auto c = swaps_->WithLabels({model, version}); c.ok()) (*c)->Increment();
  if (auto h = swap_duration_->WithLabels({model, version}); h.ok()) (*h)->Observe(seconds);
}

void ServerMetrics::Unloaded(const std::string& model, const std::string& version, UnloadReason reason) {
  if (auto c = unloads_->WithLabels({model, version, std::string(UnloadReasonName(reason))}); c.ok()) {
    (*c)->Increment();
  }
}

void ServerMetrics::SetLoaded(const std::string& model, const std::string& version, bool loaded,
                              int64_t memory_bytes) {
  auto gauge = loaded_->WithLabels({model, version});
  if (!gauge.ok()) return;
  const bool was = (*gauge)->Value() > 0.5;
  (*gauge)->Set(loaded ? 1.0 : 0.0);
  if (auto m = memory_->WithLabels({model, version}); m.ok()) {
    (*m)->Set(loaded ? static_cast<double>(memory_bytes) : 0.0);
  }
  if (was != loaded) loaded_total_->Increment(loaded ? 1.0 : -1.0);
}

void ServerMetrics::RequestRefused(std::string_view reason) {
  if (auto c = refused_->WithLabels({"", "", std::string(reason)}); c.ok()) (*c)->Increment();
}

std::vector<monitor::FamilySnapshot> MergeFamilies(const std::vector<std::vector<monitor::FamilySnapshot>>& parts) {
  std::map<std::string, monitor::FamilySnapshot> merged;
  for (const auto& part : parts) {
    for (const auto& family : part) {
      auto [it, fresh] = merged.emplace(family.name, family);
      if (fresh) continue;
      // Same name: the same family from another version (or the server).
      if (it->second.label_names != family.label_names || it->second.type != family.type) continue;
      it->second.samples.insert(it->second.samples.end(), family.samples.begin(), family.samples.end());
    }
  }
  std::vector<monitor::FamilySnapshot> out;
  out.reserve(merged.size());
  for (auto& [name, family] : merged) out.push_back(std::move(family));
  return out;
}

}  // namespace mlship
