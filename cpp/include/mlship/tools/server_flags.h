// ServerFlags: the command line of `mlship-server`, the standalone server.
//
// Every option flag is generated from the options schema
// (deployment/options_schema.h), the same table `mlship serve` builds its
// flags from, so the two servers cannot drift apart. The tokens are read
// from MLSHIP_TOKEN and MLSHIP_ADMIN_TOKEN by default, because a --token
// flag is visible to every user of the machine in `ps`.
#pragma once

#include <string>
#include <vector>

#include "mlship/deployment/options_schema.h"
#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship {

struct ServerFlags {
  // The model file (TorchScript or .pt2) to serve alone; empty with
  // --repository.
  std::string model_path;
  // --repository DIR: serve every model in it; empty without.
  std::string repository;
  // Everything from the schema: the server, the model, its versions.
  ServingOptions options;
  // --reference: a .npy file to profile (see npy_file.h); empty without one.
  std::string reference_path;
  // --fallback: a model file to move traffic to on an SLO breach
  // (options.model.slo is then set); empty without one.
  std::string fallback_path;
  // --input / --output NAME:DTYPE:DIMS: the signature of a plain
  // torch.jit.save file that carries none.
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  // --help was asked for: print help_text and exit 0.
  bool show_help = false;
  std::string help_text;
};

// Parses argv (args excludes the program name) plus the MLSHIP_TOKEN and
// MLSHIP_ADMIN_TOKEN values (empty when unset). Errors: InvalidArgument
// naming the flag and the value that came.
StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args, const std::string& env_token,
                                       const std::string& env_admin_token = "");

// The signature --input/--output declare, or nullopt when neither was given.
// InvalidArgument when only one of them was.
StatusOr<std::optional<Signature>> DeclaredSignature(const ServerFlags& flags);

}  // namespace mlship
