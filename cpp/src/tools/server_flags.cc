// ParseServerFlags: the schema's options as Boost.Program_options flags,
// plus the few flags that name files.
#include "mlship/tools/server_flags.h"

#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>

#include <sstream>

namespace mlship {
namespace po = boost::program_options;
namespace json = boost::json;

namespace {

// A flag's default as help shows it: "(default: 32)".
std::string DefaultText(const OptionSpec& spec, const ServingOptions& defaults) {
  const json::value v = spec.get(defaults);
  if (spec.key == "token" || spec.key == "admin_token") return "";
  if (v.is_string() && v.get_string().empty()) return "";
  if (v.is_array() && v.get_array().empty()) return "";
  std::string text = v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  if (spec.key == "instances") text = "half the cores";
  return " (default: " + text + ")";
}

// A bool flag defaulting to true is offered as its negation (--no-monitoring).
bool OfferedNegated(const OptionSpec& spec, const ServingOptions& defaults) {
  return spec.type == OptionType::kBool && spec.get(defaults).get_bool();
}

po::options_description Describe() {
  const ServingOptions defaults;
  po::options_description d("mlship-server (MODEL | --repository DIR) [options]");
  // clang-format off
  d.add_options()
    ("help,h", "print this help and exit")
    ("repository", po::value<std::string>(), "serve every model in this repository folder (mlship repo add ...) instead of one MODEL")
    ("reference", po::value<std::string>(), "a .npy file (float32/float64) shaped like the model's first input, e.g. a sample of the training data: live inputs (and a classifier's predicted classes) are compared with it for drift and anomalies")
    ("fallback", po::value<std::string>(), "a known-good model file taking the same inputs; traffic moves to it when the SLO is breached (needs --slo-max-error-rate or --slo-p99-ms)")
    ("input", po::value<std::vector<std::string>>()->composing(), "declare an input of a file without a signature, NAME:DTYPE:DIMS (e.g. x:FP32:-1,64); repeat per input")
    ("output", po::value<std::vector<std::string>>()->composing(), "declare an output the same way; repeat per output")
    ("tune", po::value<std::string>(), "off (the only value here): mlship-server serves the settings it is given or a repository holds and never measures; mlship serve (--tune auto, its default) and mlship tune NAME --repository DIR measure and store them (docs/serving.md, Self-tuning)");
  // clang-format on
  for (const OptionSpec& spec : OptionSchema()) {
    if (spec.flag.empty() || spec.scope == OptionScope::kRollout) continue;  // rollouts: `mlship rollout`
    const std::string help = spec.help + DefaultText(spec, defaults);
    if (spec.type == OptionType::kBool) {
      const std::string flag = OfferedNegated(spec, defaults) ? "no-" + spec.flag : spec.flag;
      d.add_options()(flag.c_str(), po::bool_switch(), help.c_str());
    } else {
      d.add_options()(spec.flag.c_str(), po::value<std::string>(), help.c_str());
    }
  }
  return d;
}

}  // namespace

StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args, const std::string& env_token,
                                       const std::string& env_admin_token) {
  po::options_description described = Describe();
  std::string model;
  po::options_description all;
  all.add(described).add_options()("model", po::value(&model));
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  try {
    // No guessing: "--max-batch" must not silently mean "--max-batch-size".
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(all).positional(positional).style(style).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(std::string(e.what()) + " (see mlship-server --help)");
  }
  ServerFlags out;
  if (vm.count("help")) {
    std::ostringstream text;
    text << described;
    out.show_help = true;
    out.help_text = text.str();
    return out;
  }
  if (vm.count("repository")) out.repository = vm["repository"].as<std::string>();
  if (model.empty() == out.repository.empty()) {
    return Status::InvalidArgument(model.empty() ? "expected a model file or --repository DIR: mlship-server MODEL "
                                                   "[options] or mlship-server --repository DIR [options]"
                                                 : "give a model file or --repository DIR, not both");
  }
  out.model_path = model;
  if (vm.count("reference")) out.reference_path = vm["reference"].as<std::string>();
  if (vm.count("fallback")) out.fallback_path = vm["fallback"].as<std::string>();
  if (!out.repository.empty() && (!out.reference_path.empty() || !out.fallback_path.empty())) {
    return Status::InvalidArgument("--reference and --fallback apply to one MODEL; with --repository, give them in "
                                   "each version's manifest (mlship repo add --reference ..., fallback_version)");
  }
  // Taken so that a command line moves between mlship serve and mlship-server unchanged.
  if (vm.count("tune") && vm["tune"].as<std::string>() != "off") {
    return Status::InvalidArgument("--tune " + vm["tune"].as<std::string>() +
                                   ": mlship-server never measures; expected off. Tune with mlship serve --tune auto "
                                   "or mlship tune NAME --repository DIR, which store the result in the repository");
  }
  for (const char* flag : {"input", "output"}) {
    if (!vm.count(flag)) continue;
    for (const std::string& text : vm[flag].as<std::vector<std::string>>()) {
      ASSIGN_OR_RETURN(TensorSpec spec, ParseTensorSpec(text, std::string("--") + flag));
      (std::string(flag) == "input" ? out.inputs : out.outputs).push_back(std::move(spec));
    }
  }

  // Every schema flag given, as the JSON object the schema reads.
  const ServingOptions defaults;
  json::object given;
  for (const OptionSpec& spec : OptionSchema()) {
    if (spec.flag.empty() || spec.scope == OptionScope::kRollout) continue;
    if (spec.type == OptionType::kBool) {
      const bool negated = OfferedNegated(spec, defaults);
      const std::string flag = negated ? "no-" + spec.flag : spec.flag;
      if (vm.count(flag) && vm[flag].as<bool>()) given[spec.key] = !negated;
      continue;
    }
    if (!vm.count(spec.flag)) continue;
    ASSIGN_OR_RETURN(json::value value, ParseOptionText(spec, vm[spec.flag].as<std::string>()));
    given[spec.key] = std::move(value);
  }
  if (!given.contains("token") && !env_token.empty()) given["token"] = env_token;
  if (!given.contains("admin_token") && !env_admin_token.empty()) given["admin_token"] = env_admin_token;
  if (!out.fallback_path.empty()) given["fallback_version"] = "fallback";
  Status applied = ApplyOptions(given, {OptionScope::kServer, OptionScope::kModel, OptionScope::kVersion},
                                "the command line", out.options);
  if (!applied.ok()) return Status::InvalidArgument("bad flag: " + applied.message());
  return out;
}

StatusOr<std::optional<Signature>> DeclaredSignature(const ServerFlags& flags) {
  if (flags.inputs.empty() && flags.outputs.empty()) return std::optional<Signature>();
  if (flags.inputs.empty() || flags.outputs.empty()) {
    return Status::InvalidArgument("declare both the inputs (--input) and the outputs (--output) of the model, or "
                                   "neither");
  }
  Signature sig;
  sig.inputs = flags.inputs;
  sig.outputs = flags.outputs;
  sig.output_kind = flags.outputs.size() == 1 ? OutputKind::kTensor : OutputKind::kTuple;
  return std::optional<Signature>(std::move(sig));
}

}  // namespace mlship
