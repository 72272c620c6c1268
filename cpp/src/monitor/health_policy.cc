// Judging a window against an SLO.
#include "mlship/monitor/health_policy.h"

#include <cmath>
#include <sstream>

namespace mlship::monitor {

Status ValidateSloOptions(const SloOptions& o) {
  auto text = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  if (!(o.max_error_rate >= 0.0 && o.max_error_rate <= 1.0)) {
    return Status::InvalidArgument("slo max_error_rate must be in 0..1; was " + text(o.max_error_rate));
  }
  if (!(o.p99_seconds >= 0.0) || std::isinf(o.p99_seconds)) {
    return Status::InvalidArgument("slo p99 must be a finite time >= 0 (0 = not checked); was " +
                                   text(o.p99_seconds) + " s");
  }
  if (o.window_seconds < 1 || o.window_seconds > 3600) {
    return Status::InvalidArgument("slo window_s must be in 1..3600 seconds; was " + std::to_string(o.window_seconds));
  }
  if (o.min_requests < 1) {
    return Status::InvalidArgument("slo min_requests must be >= 1; was " + std::to_string(o.min_requests));
  }
  if (o.restore_after_seconds < 0) {
    return Status::InvalidArgument("slo restore_after_s must be >= 0 (0 = only explicit restore); was " +
                                   std::to_string(o.restore_after_seconds));
  }
  return Status::Ok();
}

std::optional<std::string> JudgeHealth(const SloOptions& slo, const HealthWindow& window) {
  if (window.requests < slo.min_requests || window.requests <= 0) return std::nullopt;
  std::ostringstream out;
  out.precision(3);
  const double error_rate = static_cast<double>(window.server_failures) / static_cast<double>(window.requests);
  if (slo.max_error_rate < 1.0 && error_rate > slo.max_error_rate) {
    out << "error rate " << error_rate << " (" << window.server_failures << " of " << window.requests
        << " requests) over the last " << slo.window_seconds << " s exceeds the SLO's " << slo.max_error_rate;
    return out.str();
  }
  if (slo.p99_seconds > 0.0 && window.p99_seconds > slo.p99_seconds) {
    out << "p99 latency " << window.p99_seconds * 1000.0 << " ms over the last " << slo.window_seconds
        << " s exceeds the SLO's " << slo.p99_seconds * 1000.0 << " ms";
    return out.str();
  }
  return std::nullopt;
}

}  // namespace mlship::monitor
