// Rollout: the step-by-step state machine and its guard.
#include "mlship/deployment/rollout.h"

#include <algorithm>
#include <sstream>

namespace mlship {
namespace {

std::string Number(double x) {
  std::ostringstream out;
  out.precision(3);
  out << x;
  return out.str();
}

}  // namespace

Status RolloutOptions::Validate() const {
  if (to.empty()) return Status::InvalidArgument("a rollout needs the version to roll out (rollout_to)");
  if (!from.empty() && from == to) {
    return Status::InvalidArgument("a rollout moves traffic between two versions; from and to are both '" + to + "'");
  }
  if (steps.empty()) return Status::InvalidArgument("rollout_steps needs at least one step");
  double previous = 0;
  for (double s : steps) {
    if (!(s > previous) || s > 100) {
      return Status::InvalidArgument("rollout_steps must increase within (0, 100]; got " + Number(s) + " after " +
                                     Number(previous));
    }
    previous = s;
  }
  if (steps.back() != 100) return Status::InvalidArgument("rollout_steps must end at 100; the last is " + Number(steps.back()));
  if (hold.count() < 0) return Status::InvalidArgument("rollout_hold_s must be >= 0");
  const RolloutGuard& g = guard;
  if (!(g.max_error_rate >= 0 && g.max_error_rate <= 1)) return Status::InvalidArgument("guard_max_error_rate must be in [0, 1]");
  if (!(g.p99_seconds >= 0)) return Status::InvalidArgument("guard_p99_ms must be >= 0 (0: not checked)");
  if (!(g.max_divergence >= 0 && g.max_divergence <= 1)) return Status::InvalidArgument("guard_max_divergence must be in [0, 1]");
  if (!(g.min_accuracy >= 0 && g.min_accuracy <= 1)) return Status::InvalidArgument("guard_min_accuracy must be in [0, 1]");
  if (g.min_requests < 1) return Status::InvalidArgument("guard_min_requests must be >= 1");
  return Status::Ok();
}

std::string_view RolloutStateName(RolloutState state) {
  switch (state) {
    case RolloutState::kRunning: return "running";
    case RolloutState::kPaused: return "paused";
    case RolloutState::kSucceeded: return "succeeded";
    case RolloutState::kRolledBack: return "rolled_back";
    case RolloutState::kAborted: return "aborted";
  }
  return "unknown";
}

StatusOr<RolloutState> RolloutStateFromName(std::string_view name) {
  for (RolloutState s : {RolloutState::kRunning, RolloutState::kPaused, RolloutState::kSucceeded,
                         RolloutState::kRolledBack, RolloutState::kAborted}) {
    if (RolloutStateName(s) == name) return s;
  }
  return Status::InvalidArgument("unknown rollout state '" + std::string(name.substr(0, 40)) + "'");
}

Rollout::Rollout(RolloutOptions options, Clock* clock, int step, RolloutState state, std::string reason)
    : options_(std::move(options)),
      clock_(clock != nullptr ? clock : SystemClock::Default()),
      step_(std::clamp(step, 0, static_cast<int>(options_.steps.size()) - 1)),
      state_(state),
      step_started_(clock_->Now()),
      reason_(std::move(reason)) {}

double Rollout::weight() const {
  if (state_ == RolloutState::kRolledBack || state_ == RolloutState::kAborted) return 0.0;
  if (state_ == RolloutState::kSucceeded) return 100.0;
  return options_.steps[static_cast<std::size_t>(step_)];
}

std::optional<std::string> Rollout::Breach(const RolloutFigures& f) const {
  const RolloutGuard& g = options_.guard;
  const std::string who = "version '" + options_.to + "'";
  if (f.candidate.requests >= g.min_requests) {
    const double rate = static_cast<double>(f.candidate.server_failures) / static_cast<double>(f.candidate.requests);
    if (g.max_error_rate < 1.0 && rate > g.max_error_rate) {
      return who + ": error rate " + Number(rate) + " (" + std::to_string(f.candidate.server_failures) + " of " +
             std::to_string(f.candidate.requests) + " requests) at " + Number(weight()) + "% exceeds the guard's " +
             Number(g.max_error_rate);
    }
    if (g.p99_seconds > 0.0 && f.candidate.p99_seconds > g.p99_seconds) {
      return who + ": p99 latency " + Number(f.candidate.p99_seconds * 1000) + " ms at " + Number(weight()) +
             "% exceeds the guard's " + Number(g.p99_seconds * 1000) + " ms";
    }
  }
  if (g.max_divergence < 1.0 && f.shadow && f.shadow->rows >= g.min_requests &&
      f.shadow->divergence() > g.max_divergence) {
    return who + ": answers differ from the stable version's on " + Number(f.shadow->divergence() * 100) +
           "% of " + std::to_string(f.shadow->rows) + " shadowed rows, over the guard's " +
           Number(g.max_divergence * 100) + "%";
  }
  if (g.min_accuracy > 0.0 && f.accuracy && f.accuracy->candidate.rows >= g.min_requests &&
      f.accuracy->candidate.accuracy < g.min_accuracy && f.accuracy->p_value < 0.05) {
    return who + ": live accuracy " + Number(f.accuracy->candidate.accuracy) + " over " +
           std::to_string(f.accuracy->candidate.rows) + " outcomes is below the guard's " + Number(g.min_accuracy) +
           " and clearly below the stable version's " + Number(f.accuracy->stable.accuracy) + " (p = " +
           Number(f.accuracy->p_value) + ")";
  }
  return std::nullopt;
}

Rollout::Decision Rollout::Judge(const RolloutFigures& figures) {
  last_ = figures;
  if (!active()) return Decision::kHold;
  if (std::optional<std::string> breach = Breach(figures)) {
    reason_ = *breach;
    return Decision::kRollBack;
  }
  if (state_ == RolloutState::kPaused) return Decision::kHold;
  const bool held = clock_->Now() - step_started_ >= options_.hold;
  if (!held || figures.candidate.requests < options_.guard.min_requests) return Decision::kHold;
  // A divergence guard must have judged before the step ends: the shadow
  // compares a sample (copies run on spare capacity), which under load may
  // lag the requests. At 100% no stable traffic is left to copy.
  const bool compared = options_.guard.max_divergence >= 1.0 || weight() >= 100.0 ||
                        (figures.shadow && figures.shadow->rows >= options_.guard.min_requests);
  if (!compared) return Decision::kHold;
  return step_ + 1 < static_cast<int>(options_.steps.size()) ? Decision::kAdvance : Decision::kSucceed;
}

void Rollout::Advance() {
  if (step_ + 1 < static_cast<int>(options_.steps.size())) ++step_;
  step_started_ = clock_->Now();
}

void Rollout::Succeed() {
  state_ = RolloutState::kSucceeded;
  reason_ = "every step held within the guard";
}

void Rollout::RollBack(const std::string& why) {
  state_ = RolloutState::kRolledBack;
  reason_ = why;
}

Status Rollout::Pause() {
  if (state_ != RolloutState::kRunning) {
    return Status::FailedPrecondition("the rollout is " + std::string(RolloutStateName(state_)) + ", not running");
  }
  state_ = RolloutState::kPaused;
  reason_ = "paused by the operator";
  return Status::Ok();
}

Status Rollout::Resume() {
  if (state_ != RolloutState::kPaused) {
    return Status::FailedPrecondition("the rollout is " + std::string(RolloutStateName(state_)) + ", not paused");
  }
  state_ = RolloutState::kRunning;
  reason_.clear();
  step_started_ = clock_->Now();  // the step holds again in full
  return Status::Ok();
}

Status Rollout::Abort(const std::string& why) {
  if (!active()) {
    return Status::FailedPrecondition("the rollout is " + std::string(RolloutStateName(state_)) + " already");
  }
  state_ = RolloutState::kAborted;
  reason_ = why;
  return Status::Ok();
}

RolloutStatus Rollout::status() const {
  RolloutStatus s;
  s.options = options_;
  s.state = state_;
  s.step = step_;
  s.weight = weight();
  s.seconds_in_step = std::chrono::duration<double>(clock_->Now() - step_started_).count();
  s.reason = reason_;
  s.last = last_;
  return s;
}

}  // namespace mlship
