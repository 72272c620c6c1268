// ServerFlags: the command line of `mlship-server`, the standalone server.
//
// The flags are the same as `mlship serve` (python/mlship/_cli.py), so a
// model can move between the Python and the Python-free server unchanged.
// The token is read from MLSHIP_TOKEN by default, because a --token flag is
// visible to every user of the machine in `ps`.
#pragma once

#include <string>
#include <vector>

#include "mlship/deployment/deployment.h"
#include "mlship/status.h"

namespace mlship {

struct ServerFlags {
  // The model file (TorchScript or .pt2), as saved by mlship.
  std::string model_path;
  // Everything else: batching, workers, HTTP options and limits, and the
  // monitoring options (drift thresholds, classifier, SLO).
  DeploymentOptions deployment;
  // --reference: a .npy file to profile (see npy_file.h); empty without one.
  std::string reference_path;
  // --fallback: a model file to move traffic to on an SLO breach
  // (deployment.monitor.slo is then set); empty without one.
  std::string fallback_path;
  // --help was asked for: print help_text and exit 0.
  bool show_help = false;
  std::string help_text;
};

// Parses argv (args excludes the program name) plus the MLSHIP_TOKEN value
// (`env_token`, empty when unset). Errors: InvalidArgument naming the flag
// and the value that came.
StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args, const std::string& env_token);

}  // namespace mlship
