// FallbackPolicy: the SLO fallback as a routing policy. While a model's
// default version meets its SLO it takes the model's traffic; when it
// breaches it, traffic moves to the fallback version until an operator
// restores it or a probation ends. The default version's monitor only
// reports health (ModelMonitor::JudgeSlo); this policy decides.
//
// Thread-safety: active() is a lock-free read for the request path; the rest
// are safe for concurrent use.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "mlship/clock.h"
#include "mlship/monitor/health_policy.h"
#include "mlship/monitor/model_monitor.h"
#include "mlship/status.h"

namespace mlship {

class FallbackPolicy {
 public:
  // `slo` must have an objective (SloOptions::any()); `clock` is not owned.
  FallbackPolicy(monitor::SloOptions slo, Clock* clock);

  // Judges the default version (`primary`'s monitor) now: moves traffic to
  // the fallback on a breach, or back when the probation
  // (restore_after_seconds) has run out. Called on every policy tick.
  void Tick(monitor::ModelMonitor& primary);
  // Moves traffic back to the default version. FailedPrecondition when it
  // already serves.
  Status Restore(monitor::ModelMonitor& primary, const std::string& why);

  // Whether the fallback serves requests that name no version.
  bool active() const { return active_.load(std::memory_order_acquire); }
  // Which serves, why, since when, and how many switches so far.
  monitor::HealthState state() const;
  const monitor::SloOptions& slo() const { return slo_; }

 private:
  // Switches (when not already there), publishes it on `primary`'s metrics
  // and raises the alert.
  void SwitchTo(bool fallback, const std::string& why, monitor::ModelMonitor& primary);

  const monitor::SloOptions slo_;
  Clock* const clock_;
  std::atomic<bool> active_{false};
  // Guards the fields below.
  mutable std::mutex mu_;
  std::string reason_;                   // GUARDED_BY(mu_)
  Clock::TimePoint last_switch_;         // GUARDED_BY(mu_)
  int64_t switches_ = 0;                 // GUARDED_BY(mu_)
};

}  // namespace mlship
