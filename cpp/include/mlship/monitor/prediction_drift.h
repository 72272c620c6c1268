// Prediction drift: whether a classifier's mix of predicted classes has moved
// away from the mix it predicted on the reference.
#pragma once

#include <cstdint>
#include <vector>

#include "mlship/monitor/class_profile.h"
#include "mlship/monitor/drift_statistics.h"

namespace mlship::monitor {

// Thresholds for judging the predicted-class distribution.
struct PredictionDriftOptions {
  // Predictions the live window needs before it is judged at all. Default
  // 500: the PSI of a few dozen predictions is mostly sampling noise.
  int64_t min_samples = 500;
  // PSI of the class shares at or above which predictions have drifted.
  // Default 0.2 (significant shift; see drift_statistics.h). Must be > 0.
  double psi_threshold = kDefaultPsiThreshold;
  // Floor for class shares in PSI, so an unseen class does not make it
  // infinite. Default 1e-4.
  double psi_epsilon = kDefaultPsiEpsilon;
};

// One judgement of the live class mix against the reference's.
struct PredictionDriftReport {
  // Predictions in the live window.
  int64_t window_rows = 0;
  // PSI of the live class shares against the reference's (0 before judged).
  double psi = 0.0;
  // Whether the window held min_samples predictions.
  bool judged = false;
  // Judged and psi >= psi_threshold.
  bool drifted = false;
  // Share of each class on the reference and in the live window.
  std::vector<double> reference_shares;
  std::vector<double> live_shares;
};

// Judges `live` against `reference` (same class count; the caller makes
// both). Never fails: an unjudgeable window is reported as not judged.
PredictionDriftReport JudgePredictionDrift(const ClassProfile& reference, const ClassProfile& live,
                                           const PredictionDriftOptions& options);

}  // namespace mlship::monitor
