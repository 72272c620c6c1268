// The live dashboard: a self-contained HTML page and the JSON it polls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/monitor/model_monitor.h"

namespace mlship::monitor {

// The page served at GET /dashboard (embedded at build time from
// cpp/src/monitor/dashboard/dashboard.html). It loads nothing from anywhere
// but GET /dashboard/data on the same server.
std::string_view DashboardHtml();

// The JSON served at GET /dashboard/data: model, version, uptime_s,
// counters {succeeded, failed, inferences, executions}, queue_depth,
// inflight, recent {p50_ms, p90_ms, p99_ms, throughput_rps} over the last
// `recent_seconds`, health {serving, reason} from `health` (the model's
// routing state), drift [{feature, psi, ks_statistic, drifted}] from the
// latest drift check, and `models`: every model the server serves, so the
// page can offer the others. A non-empty `traffic_json` (the model's
// rollout, shadow and online accuracy, as JSON) is added as "traffic"; a
// non-empty `importance_json` (FeatureImportance::ToJson) as "importance".
std::string DashboardJson(const ModelMonitor& monitor, const HealthState& health,
                          const std::vector<std::string>& models = {}, int64_t recent_seconds = 5,
                          std::string_view traffic_json = {}, std::string_view importance_json = {});

}  // namespace mlship::monitor
