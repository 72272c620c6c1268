// ServerMetrics: what a server reports about its versions' lives (loads,
// swaps, unloads, cold starts, memory) and about requests no model can be
// blamed for. Each model version's own metrics live in its monitor; /metrics
// serves both, merged (MergeFamilies).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/deployment/outcomes.h"
#include "mlship/deployment/shadow.h"
#include "mlship/monitor/registry.h"
#include "mlship/status.h"

namespace mlship {

// Why a version was unloaded, as a metric label.
enum class UnloadReason {
  kReplaced,  // a new load of the same version took its place
  kPolicy,    // the version policy no longer selects it (e.g. a newer one)
  kRequest,   // an explicit unload (API, CLI, repository endpoint)
  kRoom,      // least recently used, unloaded for max_loaded_versions / memory_budget_mb
  kStop,      // the server stopped
};
std::string_view UnloadReasonName(UnloadReason reason);

// Thread-safe.
class ServerMetrics {
 public:
  static StatusOr<std::unique_ptr<ServerMetrics>> Create();

  // A load of `model` `version` ended: result "ok", "failed" (it did not
  // load) or "check_failed" (it loaded but failed its golden check); it took
  // `seconds`. `cold` marks a load on demand, for a request that waited.
  void LoadFinished(const std::string& model, const std::string& version, std::string_view result, double seconds,
                    bool cold);
  // Traffic of `model` moved to `version` (a swap); from the moment the new
  // version was ready until the old one was drained and freed took `seconds`.
  void Swapped(const std::string& model, const std::string& version, double seconds);
  void Unloaded(const std::string& model, const std::string& version, UnloadReason reason);
  // Sets the loaded gauge (1/0) and the memory gauge of a version.
  void SetLoaded(const std::string& model, const std::string& version, bool loaded, int64_t memory_bytes);
  // An HTTP request refused before it reached any model.
  void RequestRefused(std::string_view reason);
  // A rollout of `model` to `version` was rolled back by its guard.
  void RolledBack(const std::string& model, const std::string& version);

  // The figures of the traffic policies, set at each scrape.
  // A rollout of `model` to `candidate`: its share (percent) and its state
  // (1 on the state's label, 0 on the others).
  void SetRollout(const std::string& model, const std::string& candidate, double weight_percent,
                  std::string_view state);
  // The shadow `version` of `model`, compared with the answering versions.
  void SetShadow(const std::string& model, const std::string& version, const ShadowFigures& figures);
  // Live figures of `version` from the outcomes joined so far.
  void SetOnline(const std::string& model, const std::string& version, const OnlineScore& score);

  monitor::MetricsRegistry& registry() { return registry_; }

 private:
  ServerMetrics() = default;
  monitor::MetricsRegistry registry_;
  monitor::MetricFamily<monitor::Counter>* loads_ = nullptr;
  monitor::MetricFamily<monitor::Histogram>* load_duration_ = nullptr;
  monitor::MetricFamily<monitor::Counter>* cold_starts_ = nullptr;
  monitor::MetricFamily<monitor::Histogram>* cold_start_duration_ = nullptr;
  monitor::MetricFamily<monitor::Counter>* swaps_ = nullptr;
  monitor::MetricFamily<monitor::Histogram>* swap_duration_ = nullptr;
  monitor::MetricFamily<monitor::Counter>* unloads_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* loaded_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* memory_ = nullptr;
  monitor::Gauge* loaded_total_ = nullptr;
  monitor::MetricFamily<monitor::Counter>* refused_ = nullptr;
  monitor::MetricFamily<monitor::Counter>* rollbacks_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* rollout_weight_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* rollout_state_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* shadow_rows_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* shadow_skipped_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* shadow_failed_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* shadow_agreement_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* shadow_max_diff_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* online_rows_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* online_accuracy_ = nullptr;
  monitor::MetricFamily<monitor::Gauge>* online_mse_ = nullptr;
};

// Families of several registries as one list for rendering: families with
// the same name and label names are joined (their samples concatenated),
// sorted by name.
std::vector<monitor::FamilySnapshot> MergeFamilies(const std::vector<std::vector<monitor::FamilySnapshot>>& parts);

}  // namespace mlship
