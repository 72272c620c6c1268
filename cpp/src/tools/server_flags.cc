// ParseServerFlags, on Boost.Program_options.
#include "mlship/tools/server_flags.h"

#include <boost/program_options.hpp>
#include <optional>
#include <sstream>

namespace mlship {
namespace po = boost::program_options;

namespace {

// Options whose absence means "use the library's default" are optional<>,
// so the defaults stay documented in one place: the options structs.
struct RawFlags {
  std::string model;
  std::string name = "model";
  std::string version = "1";
  std::string host = "127.0.0.1";
  int port = 8000;
  int64_t max_batch_size = 32;
  double max_delay_ms = 0.0;
  int64_t max_queue_size = 1024;
  double timeout_ms = 0;
  std::optional<int> instances;
  std::optional<int> intra_op_threads;
  std::optional<std::string> token;
  bool insecure = false;
  std::optional<int64_t> max_body_bytes;
  std::optional<int64_t> max_connections;
  std::optional<int> io_threads;
};

po::options_description Describe(RawFlags& f) {
  po::options_description d("mlship-server MODEL [options]");
  // clang-format off
  d.add_options()
    ("help,h", "print this help and exit")
    ("name", po::value(&f.name)->default_value(f.name), "model name in URLs: /v2/models/NAME")
    ("model-version", po::value(&f.version)->default_value(f.version), "version served")
    ("host", po::value(&f.host)->default_value(f.host), "address to listen on; non-loopback needs a token or --insecure")
    ("port", po::value(&f.port)->default_value(f.port), "TCP port; 0 picks a free one")
    ("max-batch-size", po::value(&f.max_batch_size)->default_value(f.max_batch_size), "most rows in one forward pass")
    ("max-delay-ms", po::value(&f.max_delay_ms)->default_value(f.max_delay_ms), "how long the oldest request may wait for company")
    ("max-queue-size", po::value(&f.max_queue_size)->default_value(f.max_queue_size), "requests that may wait; beyond it 503")
    ("timeout-ms", po::value(&f.timeout_ms)->default_value(f.timeout_ms), "queued longer than this: 504, never run; 0 = none")
    ("instances", po::value<int>(), "worker threads running batches (default: half the cores)")
    ("intra-op-threads", po::value<int>(), "torch threads per worker (default: 1)")
    ("token", po::value<std::string>(), "bearer token (prefer the MLSHIP_TOKEN environment variable)")
    ("insecure", po::bool_switch(&f.insecure), "allow a non-loopback host without a token")
    ("max-body-bytes", po::value<int64_t>(), "largest request body (default 64 MiB)")
    ("max-connections", po::value<int64_t>(), "most open connections (default 1024)")
    ("io-threads", po::value<int>(), "network I/O threads (default 2)");
  // clang-format on
  return d;
}

template <typename T>
void Take(const po::variables_map& vm, const char* key, std::optional<T>& out) {
  if (vm.count(key)) out = vm[key].as<T>();
}

}  // namespace

StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args, const std::string& env_token) {
  RawFlags f;
  po::options_description described = Describe(f);
  po::options_description all;
  all.add(described).add_options()("model", po::value(&f.model));
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
  if (f.model.empty()) return Status::InvalidArgument("expected a model file: mlship-server MODEL [options]");
  Take(vm, "instances", f.instances);
  Take(vm, "intra-op-threads", f.intra_op_threads);
  Take(vm, "token", f.token);
  Take(vm, "max-body-bytes", f.max_body_bytes);
  Take(vm, "max-connections", f.max_connections);
  Take(vm, "io-threads", f.io_threads);
  if (f.port < 0 || f.port > 65535) {
    return Status::InvalidArgument("--port must be in 0..65535; was " + std::to_string(f.port));
  }
  if (f.max_delay_ms < 0 || f.timeout_ms < 0) {
    return Status::InvalidArgument("--max-delay-ms and --timeout-ms must be >= 0");
  }
  for (auto [flag, value] : {std::pair{"--max-body-bytes", f.max_body_bytes}, {"--max-connections", f.max_connections}}) {
    if (value && *value < 1) return Status::InvalidArgument(std::string(flag) + " must be >= 1; was " + std::to_string(*value));
  }

  out.model_path = f.model;
  DeploymentOptions& d = out.deployment;
  d.name = f.name;
  d.version = f.version;
  d.http.host = f.host;
  d.http.port = static_cast<uint16_t>(f.port);
  d.http.token = f.token.value_or(env_token);
  d.http.allow_insecure_public_bind = f.insecure;
  d.batcher.max_batch_size = f.max_batch_size;
  d.batcher.max_queue_delay = std::chrono::microseconds(static_cast<int64_t>(f.max_delay_ms * 1000));
  d.batcher.max_queue_size = f.max_queue_size;
  d.batcher.default_timeout = std::chrono::microseconds(static_cast<int64_t>(f.timeout_ms * 1000));
  d.http.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d.batcher.default_timeout);
  if (f.instances) d.pool.instances = *f.instances;
  if (f.intra_op_threads) d.pool.intra_op_threads = *f.intra_op_threads;
  if (f.max_body_bytes) d.http.max_body_bytes = static_cast<std::size_t>(*f.max_body_bytes);
  if (f.max_connections) d.http.max_connections = static_cast<std::size_t>(*f.max_connections);
  if (f.io_threads) d.http.io_threads = *f.io_threads;
  return out;
}

}  // namespace mlship
