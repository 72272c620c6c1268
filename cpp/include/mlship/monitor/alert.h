// AlertEvent: what a deployment tells its operator when something needs
// attention (drift, a switch to the fallback model, a restore).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlship/monitor/drift_monitor.h"
#include "mlship/monitor/prediction_drift.h"

namespace mlship::monitor {

// One alert. Sent to the deployment's on_alert callback and logged as one
// line on stderr.
struct AlertEvent {
  // "drift": features entered drift; "prediction_drift": a classifier's
  // predicted-class mix moved away from the reference's; "fallback": traffic
  // moved to the fallback model; "restore": traffic moved back to the
  // primary.
  std::string kind;
  // The deployment's model name and version.
  std::string model;
  std::string version;
  // One human-readable line, e.g. "features 2, 5 drifted: ...".
  std::string message;
  // For "drift": the names of the features that just entered drift, in
  // column order; empty otherwise.
  std::vector<std::string> features;
  // For "drift": the statistics behind each of `features`, same order.
  std::vector<DriftEvent> drift;
  // For "prediction_drift": the verdict, with both class mixes.
  std::optional<PredictionDriftReport> prediction;
};

}  // namespace mlship::monitor
