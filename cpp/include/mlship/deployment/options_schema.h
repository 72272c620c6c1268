// The options schema: every setting a user can write, in one table, read by
// deploy() and serve() in Python, by `mlship serve` and `mlship-server` (their
// flags are generated from it), and by the repository's manifests. Each entry
// names its key, its type, what it applies to and its help; values are
// checked here once, and an unknown key is an error that names it.
//
//   deploy(model, max_batch_size=16)           {"max_batch_size": 16}
//   mlship-server ... --max-batch-size 16      the same key, dashes for '_'
//   <root>/digits/3/mlship.json                "settings": {"max_batch_size": 16}
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/deployment/rollout.h"
#include "mlship/deployment/server_options.h"
#include "mlship/deployment/version_options.h"
#include "mlship/status.h"

namespace mlship {

// Everything one deploy() or serve command sets.
struct ServingOptions {
  // The whole server: network, tokens, limits, shared workers, memory.
  ServerOptions server;
  // The model being deployed (deploy(), `mlship serve MODEL`): its name in
  // URLs (default "model") and the version it is served as (default "1").
  std::string name = "model";
  std::string version = "1";
  // Its routing: default version, version policy, fallback SLO.
  ModelOptions model;
  // How each of its versions is batched, run and watched.
  VersionOptions version_options;
  // A rollout's steps and guard (server.rollout, mlship rollout, POST
  // /v2/repository/models/{name}/rollout).
  RolloutOptions rollout;
};

// What an option applies to. A manifest may only hold kVersion and kModel
// options; the server's own come from deploy()/serve() or the command line;
// kRollout ones describe one rollout.
enum class OptionScope { kServer, kModel, kVersion, kRollout };

enum class OptionType {
  kBool,      // JSON true/false; a switch on the command line
  kInt,       // JSON integer
  kFloat,     // JSON number
  kString,    // JSON string
  kIntList,   // JSON array of integers; "8,16,32" on the command line
  kAutoBool,  // null/"auto", true or false; "auto|true|false" on the command line
};

struct OptionSpec {
  // snake_case key, as in deploy() keywords and manifests.
  std::string key;
  OptionScope scope;
  OptionType type;
  // One line for --help and the docs, with the unit.
  std::string help;
  // The command-line flag without the leading dashes; defaults to the key
  // with '-' for '_'. Empty when the option is not on the command line.
  std::string flag;
  // Sets the option from a JSON value of the right type (already checked),
  // saying what is wrong with an out-of-range value.
  std::function<Status(const boost::json::value&, ServingOptions&)> set;
  // The option's current value (defaults when read from ServingOptions{}).
  std::function<boost::json::value(const ServingOptions&)> get;
};

// Every option, in the order help and docs list them.
const std::vector<OptionSpec>& OptionSchema();
// The option `key`, or null.
const OptionSpec* FindOption(std::string_view key);

// Sets `given` onto `options` (which holds the defaults, or settings to
// layer on), then validates the result as a whole. Errors (InvalidArgument):
// an unknown key (naming it and the closest known key), a key whose scope is
// not in `allowed` (naming where it belongs), a value of the wrong type or
// out of range (naming the key and the value). `where` says where the
// options came from, for messages ("deploy()", "models/digits/3/mlship.json").
Status ApplyOptions(const boost::json::object& given, const std::vector<OptionScope>& allowed,
                    std::string_view where, ServingOptions& options);

// Checks every part of `options` for consistency (each struct's Validate,
// plus rules across them). ApplyOptions calls it.
Status ValidateServingOptions(const ServingOptions& options);

// The JSON value of command-line text for `spec` ("16" -> 16, "8,16" ->
// [8, 16], "auto" -> null). InvalidArgument naming the flag and the text.
StatusOr<boost::json::value> ParseOptionText(const OptionSpec& spec, std::string_view text);

// The current value of every option of the given scopes, by key (for
// Deployment.settings and `mlship repo show`).
boost::json::object OptionValues(const ServingOptions& options, const std::vector<OptionScope>& scopes);

// The schema as JSON (key, scope, type, help, flag, default), for the Python
// CLI and the docs.
std::string OptionSchemaJson();

}  // namespace mlship
