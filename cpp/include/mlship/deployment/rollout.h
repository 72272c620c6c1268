// Rollout: moving a model's traffic from its stable version to a candidate
// step by step (1% -> 5% -> 25% -> 50% -> 100% by default), holding each
// step while the candidate's own figures stay within a guard, and pulling it
// back at the first breach. A state machine on an injected clock: it
// decides; the Server changes the traffic and measures the figures.
//
// Thread-safety: not thread-safe; the Server guards each Rollout with a
// mutex of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlship/clock.h"
#include "mlship/deployment/outcomes.h"
#include "mlship/deployment/shadow.h"
#include "mlship/monitor/health_policy.h"
#include "mlship/status.h"

namespace mlship {

// What the candidate must stay within, measured over each step.
struct RolloutGuard {
  // Largest share (0..1) of the candidate's requests that fail on the
  // server's side. Default 1: not checked.
  double max_error_rate = 1.0;
  // Largest p99 latency of the candidate's successful requests, in
  // seconds. Default 0: not checked.
  double p99_seconds = 0.0;
  // Largest share (0..1) of rows on which the candidate, run as a shadow of
  // the stable version on the same requests, answers differently (another
  // argmax for a classifier; another value beyond 1e-5 otherwise). Default
  // 1: not checked (no shadow runs).
  double max_divergence = 1.0;
  // The candidate breaches when its live accuracy (from outcomes) is below
  // this AND below the stable version's on the outcomes each received, with
  // the difference statistically clear (one-sided two-proportion z-test,
  // p < 0.05). Default 0: not checked. Needs the model to track outcomes.
  double min_accuracy = 0.0;
  // Requests (or compared rows, or outcomes) the candidate needs in a step
  // before it is judged, and before the step may end; with a divergence
  // guard a step below 100% also needs that many compared rows. Default 100.
  int64_t min_requests = 100;
};

struct RolloutOptions {
  // The candidate version (required).
  std::string to;
  // The stable version; empty (the default): the model's default when the
  // rollout starts.
  std::string from;
  // The candidate's share of the traffic at each step, in percent:
  // increasing, in (0, 100], the last one 100. Default 1, 5, 25, 50, 100.
  std::vector<double> steps{1, 5, 25, 50, 100};
  // How long each step holds before the next (given enough requests).
  // Default 60 s.
  std::chrono::seconds hold{60};
  RolloutGuard guard;

  Status Validate() const;
};

enum class RolloutState {
  kRunning,     // moving step by step
  kPaused,      // holding its step (breaches still roll it back)
  kSucceeded,   // the candidate takes all the traffic
  kRolledBack,  // a breach sent the traffic back to the stable version
  kAborted,     // an operator sent it back
};
std::string_view RolloutStateName(RolloutState state);
StatusOr<RolloutState> RolloutStateFromName(std::string_view name);

// The candidate's figures since its step began.
struct RolloutFigures {
  monitor::HealthWindow candidate;
  // Against the stable version on the same requests, when a shadow runs.
  std::optional<ShadowFigures> shadow;
  // From outcomes, when the model tracks them.
  std::optional<AccuracyComparison> accuracy;
};

struct RolloutStatus {
  RolloutOptions options;
  RolloutState state = RolloutState::kRunning;
  // Index into options.steps.
  int step = 0;
  // The candidate's share now, in percent (0 once rolled back or aborted).
  double weight = 0.0;
  double seconds_in_step = 0.0;
  // Why it is in its state ("" while running).
  std::string reason;
  // The figures of the last judgement.
  RolloutFigures last;
};

class Rollout {
 public:
  enum class Decision {
    kHold,      // stay at this step
    kAdvance,   // move to the next step
    kSucceed,   // the last step held: the candidate becomes stable
    kRollBack,  // a breach: back to the stable version
  };

  // `options` must be valid (Validate) with `from` filled in; starts at
  // `step`, now, in `state` with `reason` (a resumed rollout's record).
  // `clock` is not owned.
  Rollout(RolloutOptions options, Clock* clock, int step = 0, RolloutState state = RolloutState::kRunning,
          std::string reason = "");

  // Judges `figures` (measured since the step began): a breach rolls back
  // (also while paused); a step that held for `hold` with enough requests
  // advances, or succeeds after the last. Only judges while running or
  // paused. Sets the reason of a breach.
  Decision Judge(const RolloutFigures& figures);
  // The breach in `figures`, as a sentence, or nothing.
  std::optional<std::string> Breach(const RolloutFigures& figures) const;

  // State changes (the caller changes the traffic to match).
  void Advance();
  void Succeed();
  void RollBack(const std::string& why);
  Status Pause();
  Status Resume();
  Status Abort(const std::string& why);

  RolloutState state() const { return state_; }
  bool active() const { return state_ == RolloutState::kRunning || state_ == RolloutState::kPaused; }
  const RolloutOptions& options() const { return options_; }
  int step() const { return step_; }
  // The candidate's share now, in percent.
  double weight() const;
  Clock::TimePoint step_started() const { return step_started_; }
  RolloutStatus status() const;

 private:
  RolloutOptions options_;
  Clock* clock_;
  int step_;
  RolloutState state_;
  Clock::TimePoint step_started_;
  std::string reason_;
  RolloutFigures last_;
};

}  // namespace mlship
