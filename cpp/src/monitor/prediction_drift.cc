// Judging a classifier's predicted-class mix against the reference's.
#include "mlship/monitor/prediction_drift.h"

namespace mlship::monitor {

PredictionDriftReport JudgePredictionDrift(const ClassProfile& reference, const ClassProfile& live,
                                           const PredictionDriftOptions& options) {
  PredictionDriftReport report;
  report.window_rows = live.total;
  report.reference_shares = reference.proportions;
  report.live_shares = live.proportions;
  if (live.total < options.min_samples) return report;
  StatusOr<double> psi = ClassDistributionPsi(reference, live, options.psi_epsilon);
  if (!psi.ok()) return report;  // mismatched or empty profiles: nothing to judge
  report.judged = true;
  report.psi = *psi;
  report.drifted = *psi >= options.psi_threshold;
  return report;
}

}  // namespace mlship::monitor
