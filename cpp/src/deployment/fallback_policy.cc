// FallbackPolicy: judge, switch, restore.
#include "mlship/deployment/fallback_policy.h"

namespace mlship {

FallbackPolicy::FallbackPolicy(monitor::SloOptions slo, Clock* clock)
    : slo_(std::move(slo)), clock_(clock != nullptr ? clock : SystemClock::Default()), last_switch_(clock_->Now()) {}

void FallbackPolicy::Tick(monitor::ModelMonitor& primary) {
  Clock::TimePoint since;
  {
    std::lock_guard<std::mutex> lock(mu_);
    since = last_switch_;
  }
  if (!active()) {
    // Judged only on what happened since the last switch, so failures from
    // before a restore cannot trigger an immediate second fallback.
    if (std::optional<std::string> breach = primary.JudgeSlo(slo_, since)) SwitchTo(true, *breach, primary);
    return;
  }
  if (slo_.restore_after_seconds > 0 && clock_->Now() - since >= std::chrono::seconds(slo_.restore_after_seconds)) {
    SwitchTo(false,
             "the fallback's probation of " + std::to_string(slo_.restore_after_seconds) +
                 " s ended; the default version gets traffic again",
             primary);
  }
}

Status FallbackPolicy::Restore(monitor::ModelMonitor& primary, const std::string& why) {
  if (!active()) return Status::FailedPrecondition("the default version already serves; there is nothing to restore");
  SwitchTo(false, why, primary);
  return Status::Ok();
}

monitor::HealthState FallbackPolicy::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  monitor::HealthState h;
  h.fallback_active = active();
  h.reason = reason_;
  h.seconds_since_change = std::chrono::duration<double>(clock_->Now() - last_switch_).count();
  h.fallback_switches = switches_;
  return h;
}

void FallbackPolicy::SwitchTo(bool fallback, const std::string& why, monitor::ModelMonitor& primary) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (active() == fallback) return;
    active_.store(fallback, std::memory_order_release);
    reason_ = why;
    last_switch_ = clock_->Now();
    if (fallback) ++switches_;
  }
  primary.RecordFallbackState(fallback, fallback);
  monitor::AlertEvent alert;
  alert.kind = fallback ? "fallback" : "restore";
  alert.message = fallback ? "traffic moved to the fallback version: " + why
                           : "traffic moved back to the default version: " + why;
  primary.RaiseAlert(std::move(alert));
}

}  // namespace mlship
