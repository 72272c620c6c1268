// The dashboard's JSON.
#include <charconv>
#include <cmath>

#include "mlship/monitor/dashboard.h"

namespace mlship::monitor {
namespace {

// A JSON number; non-finite values (which JSON cannot hold) become 0.
std::string Number(double value) {
  if (!std::isfinite(value)) return "0";
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// A JSON string literal.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char* kHex = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::string DashboardJson(const ModelMonitor& monitor, const HealthState& h, const std::vector<std::string>& models,
                          int64_t recent_seconds, std::string_view traffic_json, std::string_view importance_json) {
  const MonitorSnapshot s = monitor.Snapshot(recent_seconds);
  std::string j = "{\"model\":" + Quoted(monitor.options().model) + ",\"version\":" + Quoted(monitor.options().version);
  j += ",\"uptime_s\":" + Number(s.uptime_seconds);
  j += ",\"counters\":{\"succeeded\":" + Number(s.succeeded) + ",\"failed\":" + Number(s.failed) +
       ",\"inferences\":" + Number(s.inferences) + ",\"executions\":" + Number(s.executions) + "}";
  j += ",\"queue_depth\":" + Number(s.queue_depth) + ",\"inflight\":" + Number(s.inflight);
  j += ",\"recent\":{\"p50_ms\":" + Number(s.recent.p50_seconds * 1000) + ",\"p90_ms\":" +
       Number(s.recent.p90_seconds * 1000) + ",\"p99_ms\":" + Number(s.recent.p99_seconds * 1000) +
       ",\"throughput_rps\":" + Number(s.recent.throughput_per_second) + "}";
  j += ",\"health\":{\"serving\":" + Quoted(h.fallback_active ? "fallback" : "primary") +
       ",\"reason\":" + Quoted(h.reason) + "}";
  j += ",\"drift\":[";
  const DriftReport report = monitor.LastDriftReport();
  const std::vector<std::string> names = monitor.FeatureNames();
  bool first = true;
  for (const FeatureDrift& f : report.features) {
    const auto i = static_cast<std::size_t>(f.feature);
    if (i >= names.size()) continue;
    j += first ? "" : ",";
    first = false;
    j += "{\"feature\":" + Quoted(names[i]) + ",\"psi\":" + Number(f.psi) + ",\"ks_statistic\":" +
         Number(f.ks_statistic) + ",\"drifted\":" + (f.drifted ? "true" : "false") + "}";
  }
  j += "]";
  const std::optional<PredictionDriftReport> prediction = monitor.LastPredictionDrift();
  if (prediction) {
    j += ",\"prediction\":{\"psi\":" + Number(prediction->psi) + ",\"judged\":" +
         (prediction->judged ? "true" : "false") + ",\"drifted\":" + (prediction->drifted ? "true" : "false") +
         ",\"window_rows\":" + Number(static_cast<double>(prediction->window_rows)) + "}";
  } else {
    j += ",\"prediction\":null";
  }
  j += ",\"models\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i > 0) j += ',';
    j += Quoted(models[i]);
  }
  j += "]";
  if (!traffic_json.empty()) j += ",\"traffic\":" + std::string(traffic_json);
  if (!importance_json.empty()) j += ",\"importance\":" + std::string(importance_json);
  return j + "}";
}

}  // namespace mlship::monitor
