// HealthPolicy: judges whether a model meets its service-level objective
// (error rate and p99 latency over a window), for automatic fallback.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mlship/status.h"

namespace mlship::monitor {

struct SloOptions {
  // --- Affects behaviour ---

  // Largest acceptable share of requests that fail on the server's side
  // (the model raised, an internal error, a missed deadline, an overloaded
  // queue) over the window; client mistakes (invalid inputs, rejected
  // anomalies) never count. Range 0..1. Default 1: not checked.
  double max_error_rate = 1.0;
  // Largest acceptable 99th-percentile latency of successful requests over
  // the window, in seconds. Default 0: not checked.
  double p99_seconds = 0.0;
  // How far back the judgement looks, in whole seconds. Range 1..3600.
  // Default 30: long enough that a handful of slow requests is not a breach.
  int64_t window_seconds = 30;
  // Requests the window must hold before it is judged at all, so one early
  // failure is not a 100% error rate. Range >= 1. Default 20.
  int64_t min_requests = 20;
  // After this many seconds on the fallback, traffic moves back to the
  // primary on its own (a probation; if it breaches again it falls back
  // again). Default 0: only an explicit Restore() moves it back.
  int64_t restore_after_seconds = 0;

  // True when at least one objective is checked.
  bool any() const { return max_error_rate < 1.0 || p99_seconds > 0.0; }
};

// Says which option is out of range, with its value.
Status ValidateSloOptions(const SloOptions& options);

// What happened over one window.
struct HealthWindow {
  // Requests that finished in the window, succeeded or failed.
  int64_t requests = 0;
  // Of those, server-side failures (see SloOptions::max_error_rate).
  int64_t server_failures = 0;
  // The p99 latency of successful requests in the window, in seconds.
  double p99_seconds = 0.0;
};

// Which version of a model serves, as a routing policy reports it (the
// policy lives in the deployment layer; the monitor and the dashboard only
// show it).
struct HealthState {
  // True while the fallback version serves.
  bool fallback_active = false;
  // Why the last switch happened ("" before any).
  std::string reason;
  // Seconds since the last switch (or since the start).
  double seconds_since_change = 0.0;
  // Switches to the fallback so far.
  int64_t fallback_switches = 0;
};

// The breach of `slo` in `window`, as a sentence naming the measured value
// and the objective ("error rate 0.45 over the last 30 s exceeds 0.05"), or
// nothing when the window meets the objective or holds too few requests.
std::optional<std::string> JudgeHealth(const SloOptions& slo, const HealthWindow& window);

}  // namespace mlship::monitor
