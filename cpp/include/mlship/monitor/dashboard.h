// The live dashboard: a self-contained HTML page and the JSON it polls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlship/monitor/model_monitor.h"

namespace mlship::monitor {

// The page served at GET /dashboard (embedded at build time from
// cpp/src/monitor/dashboard/dashboard.html). It loads nothing from anywhere
// but GET /dashboard/data on the same server.
std::string_view DashboardHtml();

// The JSON served at GET /dashboard/data: model, version, uptime_s,
// counters {succeeded, failed, inferences, executions}, queue_depth,
// inflight, recent {p50_ms, p90_ms, p99_ms, throughput_rps} over the last
// `recent_seconds`, health {serving, reason}, and drift [{feature, psi,
// ks_statistic, drifted}] from the latest drift check.
std::string DashboardJson(const ModelMonitor& monitor, int64_t recent_seconds = 5);

}  // namespace mlship::monitor
