// AlertEvent: what a deployment tells its operator when something needs
// attention (drift, a switch to the fallback model, a restore).
#pragma once

#include <string>
#include <vector>

#include "mlship/monitor/drift_monitor.h"

namespace mlship::monitor {

// One alert. Sent to the deployment's on_alert callback and logged as one
// line on stderr.
struct AlertEvent {
  // "drift": features entered drift; "fallback": traffic moved to the
  // fallback model; "restore": traffic moved back to the primary.
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
};

}  // namespace mlship::monitor
