// DriftMonitor: compares a sliding window of live inputs with a
// ReferenceProfile, feature by feature, and raises an alert when one drifts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlship/monitor/drift_statistics.h"
#include "mlship/monitor/reference_profile.h"
#include "mlship/status.h"

namespace mlship::monitor {

// Sent when a feature moves from "not drifted" into "drifted".
struct DriftEvent {
  // The feature's column index.
  int64_t feature = 0;
  // Its PSI against the reference.
  double psi = 0.0;
  // Its KS D statistic and p-value against the reference sample.
  double ks_statistic = 0.0;
  double ks_pvalue = 1.0;
  // Whether PSI, the KS test, or both crossed their thresholds.
  bool psi_exceeded = false;
  bool ks_exceeded = false;
  // Finite live values of this feature the verdict is based on.
  int64_t live_count = 0;

  // "feature 2 drifted: psi 0.53 (>= 0.2), ks D 0.31 p 1e-40 (< 0.01)".
  std::string ToString() const;
};

struct DriftMonitorOptions {
  // --- Affects behaviour ---

  // Live rows kept in the sliding window; older rows fall out. Range
  // 1..10'000'000. Default 5000: large enough that PSI over 10 bins and KS
  // are stable, small enough to notice a shift within minutes at modest
  // traffic. Memory: window_size × features × 4 bytes.
  int64_t window_size = 5000;

  // Finite live values a feature needs before it is judged at all; below it,
  // Compute() reports drifted = false. Range 1..window_size. Default 500:
  // PSI on fewer rows is dominated by sampling noise.
  int64_t min_samples = 500;

  // PSI at or above which a feature is drifted. Default 0.2 (significant
  // shift; see drift_statistics.h). Must be > 0.
  double psi_threshold = kDefaultPsiThreshold;

  // KS drift needs p-value < ks_pvalue_threshold AND D >= ks_min_statistic
  // (see drift_statistics.h for why both). Defaults 0.01 and 0.1. Set
  // ks_pvalue_threshold to 0 to judge on PSI alone. The p-value counts the
  // reference side as its kept sample (ReferenceProfileOptions::
  // max_sample_size, default 2000), not the full reference.
  double ks_pvalue_threshold = kDefaultKsPValueThreshold;
  double ks_min_statistic = kDefaultKsMinStatistic;

  // Called once when a feature enters drift, not again while it stays
  // drifted; if it recovers and drifts again, it is called again. Runs on the
  // thread that ran Compute() (the monitor's own timer thread for periodic
  // checks), without the monitor's locks held; keep it quick. May be empty.
  std::function<void(const DriftEvent&)> on_drift;

  // How often the monitor's own thread runs Compute(). Zero (the default)
  // starts no thread: the owner calls Compute() when it wants, e.g. from its
  // own timer or from a metrics scrape. Must not be negative.
  std::chrono::milliseconds check_interval{0};

  // --- Affects numerics; most users should leave these alone ---

  // Floor for bin proportions in PSI. Default 1e-4; see drift_statistics.h.
  double psi_epsilon = kDefaultPsiEpsilon;
};

// One feature's verdict.
struct FeatureDrift {
  // Column index.
  int64_t feature = 0;
  // Finite live values in the window.
  int64_t live_count = 0;
  // PSI of the live bin shares against the reference's.
  double psi = 0.0;
  // KS D and its p-value, live window against the reference sample.
  double ks_statistic = 0.0;
  double ks_pvalue = 1.0;
  // Whether the feature was judged (live_count >= min_samples).
  bool judged = false;
  // Judged, and PSI or KS beyond its threshold.
  bool drifted = false;
};

// The outcome of one Compute().
struct DriftReport {
  // Rows in the window when the report was computed.
  int64_t window_rows = 0;
  // One entry per feature, in column order.
  std::vector<FeatureDrift> features;
  // Indices of drifted features, ascending.
  std::vector<int64_t> drifted_features;
};

// Watches live inputs for distribution drift against a reference profile.
//
// Observe() is for the request path: it copies rows into a ring buffer under
// one short mutex. Compute() does the statistics (O(window × features) plus a
// sort per feature) on a copy of the window, so it never blocks Observe() for
// long; run it off the request path, or let the monitor's own thread run it
// every check_interval.
//
// Thread-safe: all methods may be called concurrently. The destructor stops
// and joins the timer thread (waking it through a condition variable).
class DriftMonitor {
 public:
  // Validates `options` against the profile; says which field is wrong and
  // its value. Starts the timer thread when check_interval > 0.
  static StatusOr<std::unique_ptr<DriftMonitor>> Create(ReferenceProfile profile, DriftMonitorOptions options = {});

  ~DriftMonitor();
  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;

  // Appends `n` rows of `features` floats (row-major) to the window. When n
  // exceeds window_size only the last window_size rows are kept.
  // InvalidArgument when `features` differs from the profile's.
  Status Observe(const float* rows, int64_t n, int64_t features);

  // Judges every feature on the current window, fires on_drift for features
  // that have just entered drift, and returns (and remembers) the report.
  DriftReport Compute();

  // The report of the most recent Compute(); empty before the first.
  DriftReport LastReport() const;

  // Rows currently in the window.
  int64_t window_rows() const;

  // The reference the window is compared with.
  const ReferenceProfile& profile() const { return profile_; }

 private:
  DriftMonitor(ReferenceProfile profile, DriftMonitorOptions options);

  // Runs Compute() every check_interval until stopping_ is set.
  void TimerLoop();

  // The reference; immutable.
  const ReferenceProfile profile_;
  // Validated options; immutable.
  const DriftMonitorOptions options_;
  // Features per row (profile_.num_features()); immutable.
  const int64_t num_features_;

  // Guards the ring buffer below. Held only to copy rows in or out.
  mutable std::mutex window_mu_;
  // window_size × num_features_ floats, row-major. GUARDED_BY(window_mu_)
  std::vector<float> window_;
  // The row slot the next observed row goes to. GUARDED_BY(window_mu_)
  int64_t next_row_ = 0;
  // Rows held, up to window_size. GUARDED_BY(window_mu_)
  int64_t rows_held_ = 0;

  // Serialises Compute() so drift transitions are judged in order.
  std::mutex compute_mu_;
  // Each feature's drifted flag at the last Compute(). GUARDED_BY(compute_mu_)
  std::vector<bool> was_drifted_;

  // Guards last_report_.
  mutable std::mutex report_mu_;
  // The latest Compute() result. GUARDED_BY(report_mu_)
  DriftReport last_report_;

  // Guards stopping_; timer_cv_ wakes the timer thread early to stop it.
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  // Set by the destructor. GUARDED_BY(timer_mu_)
  bool stopping_ = false;
  // Runs TimerLoop() when check_interval > 0; not joinable otherwise.
  std::thread timer_;
};

}  // namespace mlship::monitor
