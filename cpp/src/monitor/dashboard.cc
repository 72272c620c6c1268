// The dashboard's JSON.
#include "mlship/monitor/dashboard.h"

#include "json_out.h"

namespace mlship::monitor {

std::string DashboardJson(const ModelMonitor& monitor, const HealthState& h, const std::vector<std::string>& models,
                          int64_t recent_seconds, std::string_view traffic_json, std::string_view importance_json) {
  const MonitorSnapshot s = monitor.Snapshot(recent_seconds);
  std::string j = "{\"model\":" + JsonQuoted(monitor.options().model) + ",\"version\":" + JsonQuoted(monitor.options().version);
  j += ",\"uptime_s\":" + JsonNumber(s.uptime_seconds);
  j += ",\"counters\":{\"succeeded\":" + JsonNumber(s.succeeded) + ",\"failed\":" + JsonNumber(s.failed) +
       ",\"inferences\":" + JsonNumber(s.inferences) + ",\"executions\":" + JsonNumber(s.executions) + "}";
  j += ",\"queue_depth\":" + JsonNumber(s.queue_depth) + ",\"inflight\":" + JsonNumber(s.inflight);
  j += ",\"recent\":{\"p50_ms\":" + JsonNumber(s.recent.p50_seconds * 1000) + ",\"p90_ms\":" +
       JsonNumber(s.recent.p90_seconds * 1000) + ",\"p99_ms\":" + JsonNumber(s.recent.p99_seconds * 1000) +
       ",\"throughput_rps\":" + JsonNumber(s.recent.throughput_per_second) + "}";
  j += ",\"health\":{\"serving\":" + JsonQuoted(h.fallback_active ? "fallback" : "primary") +
       ",\"reason\":" + JsonQuoted(h.reason) + "}";
  j += ",\"drift\":[";
  const DriftReport report = monitor.LastDriftReport();
  const std::vector<std::string> names = monitor.FeatureNames();
  bool first = true;
  for (const FeatureDrift& f : report.features) {
    const auto i = static_cast<std::size_t>(f.feature);
    if (i >= names.size()) continue;
    j += first ? "" : ",";
    first = false;
    j += "{\"feature\":" + JsonQuoted(names[i]) + ",\"psi\":" + JsonNumber(f.psi) + ",\"ks_statistic\":" +
         JsonNumber(f.ks_statistic) + ",\"drifted\":" + (f.drifted ? "true" : "false") + "}";
  }
  j += "]";
  const std::optional<PredictionDriftReport> prediction = monitor.LastPredictionDrift();
  if (prediction) {
    j += ",\"prediction\":{\"psi\":" + JsonNumber(prediction->psi) + ",\"judged\":" +
         (prediction->judged ? "true" : "false") + ",\"drifted\":" + (prediction->drifted ? "true" : "false") +
         ",\"window_rows\":" + JsonNumber(static_cast<double>(prediction->window_rows)) + "}";
  } else {
    j += ",\"prediction\":null";
  }
  j += ",\"models\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i > 0) j += ',';
    j += JsonQuoted(models[i]);
  }
  j += "]";
  if (!traffic_json.empty()) j += ",\"traffic\":" + std::string(traffic_json);
  if (!importance_json.empty()) j += ",\"importance\":" + std::string(importance_json);
  return j + "}";
}

}  // namespace mlship::monitor
