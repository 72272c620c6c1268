// ParseServerFlags, on Boost.Program_options.
#include "mlship/tools/server_flags.h"

#include <boost/program_options.hpp>
#include <algorithm>
#include <cmath>
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
  // Monitoring: reference, drift thresholds, fallback and its SLO.
  std::string classifier = "auto";
  bool reject_anomalies = false;
};

// The monitoring flags, as they came; applied by ApplyMonitorFlags.
struct RawMonitorFlags {
  std::optional<std::string> reference;
  std::optional<int64_t> drift_window;
  std::optional<int64_t> drift_min_samples;
  std::optional<double> drift_psi_threshold;
  std::optional<double> drift_ks_pvalue;
  std::optional<double> drift_ks_min_statistic;
  std::optional<double> drift_check_interval_s;
  std::optional<double> anomaly_tolerance;
  std::optional<std::string> fallback;
  std::optional<double> slo_max_error_rate;
  std::optional<double> slo_p99_ms;
  std::optional<int64_t> slo_window_s;
  std::optional<int64_t> slo_min_requests;
  std::optional<int64_t> slo_restore_after_s;
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
    ("io-threads", po::value<int>(), "network I/O threads (default 2)")
    ("reference", po::value<std::string>(), "a .npy file (float32/float64) shaped like the model's first input, e.g. a sample of the training data: live inputs (and a classifier's predicted classes) are compared with it for drift and anomalies")
    ("classifier", po::value(&f.classifier)->default_value(f.classifier), "watch the predicted-class mix for drift: auto (one float output [rows, classes >= 2]), true or false")
    ("drift-window", po::value<int64_t>(), "live rows kept for drift (default 5000)")
    ("drift-min-samples", po::value<int64_t>(), "rows needed before drift is judged (default 500)")
    ("drift-psi-threshold", po::value<double>(), "PSI at or above which a feature (or the class mix) drifted (default 0.2)")
    ("drift-ks-pvalue", po::value<double>(), "KS p-value below which a feature drifted, with a large enough D (default 0.01; 0: PSI only)")
    ("drift-ks-min-statistic", po::value<double>(), "smallest KS D that counts as drift (default 0.1)")
    ("drift-check-interval-s", po::value<double>(), "seconds between drift checks (default 10)")
    ("anomaly-tolerance", po::value<double>(), "reference ranges beyond min/max a value may lie before it is anomalous (default 1)")
    ("reject-anomalies", po::bool_switch(&f.reject_anomalies), "answer 400 to inputs with NaN, Inf or out-of-range values instead of only counting them")
    ("fallback", po::value<std::string>(), "a known-good model file taking the same inputs; traffic moves to it when the SLO is breached (needs --slo-max-error-rate or --slo-p99-ms)")
    ("slo-max-error-rate", po::value<double>(), "largest share (0..1) of server-side failures over the SLO window")
    ("slo-p99-ms", po::value<double>(), "largest p99 latency of successful requests over the SLO window, in ms")
    ("slo-window-s", po::value<int64_t>(), "seconds the SLO judgement looks back (default 30)")
    ("slo-min-requests", po::value<int64_t>(), "requests the SLO window needs before it is judged (default 20)")
    ("slo-restore-after-s", po::value<int64_t>(), "probation: seconds on the fallback before traffic moves back by itself (default: only by hand)");
  // clang-format on
  return d;
}

template <typename T>
void Take(const po::variables_map& vm, const char* key, std::optional<T>& out) {
  if (vm.count(key)) out = vm[key].as<T>();
}

RawMonitorFlags TakeMonitorFlags(const po::variables_map& vm) {
  RawMonitorFlags m;
  Take(vm, "reference", m.reference);
  Take(vm, "drift-window", m.drift_window);
  Take(vm, "drift-min-samples", m.drift_min_samples);
  Take(vm, "drift-psi-threshold", m.drift_psi_threshold);
  Take(vm, "drift-ks-pvalue", m.drift_ks_pvalue);
  Take(vm, "drift-ks-min-statistic", m.drift_ks_min_statistic);
  Take(vm, "drift-check-interval-s", m.drift_check_interval_s);
  Take(vm, "anomaly-tolerance", m.anomaly_tolerance);
  Take(vm, "fallback", m.fallback);
  Take(vm, "slo-max-error-rate", m.slo_max_error_rate);
  Take(vm, "slo-p99-ms", m.slo_p99_ms);
  Take(vm, "slo-window-s", m.slo_window_s);
  Take(vm, "slo-min-requests", m.slo_min_requests);
  Take(vm, "slo-restore-after-s", m.slo_restore_after_s);
  return m;
}

// Fills the monitoring options and the reference and fallback paths, then
// validates them all, so a bad value is refused before any model loads.
Status ApplyMonitorFlags(const RawFlags& f, const RawMonitorFlags& m, ServerFlags& out) {
  monitor::ModelMonitorOptions& o = out.deployment.monitor;
  if (f.classifier == "true") {
    o.classifier = true;
  } else if (f.classifier == "false") {
    o.classifier = false;
  } else if (f.classifier != "auto") {
    return Status::InvalidArgument("--classifier must be auto, true or false; was '" + f.classifier + "'");
  }
  if (m.drift_window) o.drift.window_size = *m.drift_window;
  if (m.drift_min_samples) o.drift.min_samples = *m.drift_min_samples;
  if (m.drift_psi_threshold) o.drift.psi_threshold = *m.drift_psi_threshold;
  if (m.drift_ks_pvalue) o.drift.ks_pvalue_threshold = *m.drift_ks_pvalue;
  if (m.drift_ks_min_statistic) o.drift.ks_min_statistic = *m.drift_ks_min_statistic;
  if (m.drift_check_interval_s) {
    // Same rounding as DriftOptions.check_interval_s in Python.
    if (!(*m.drift_check_interval_s > 0) || *m.drift_check_interval_s > 86'400) {
      return Status::InvalidArgument("--drift-check-interval-s must be in (0, 86400] seconds; was " +
                                     std::to_string(*m.drift_check_interval_s));
    }
    o.drift_check_interval = std::chrono::milliseconds(
        std::max<int64_t>(1, std::llround(*m.drift_check_interval_s * 1000)));
  }
  if (m.anomaly_tolerance) o.anomalies.range_tolerance = *m.anomaly_tolerance;
  o.anomalies.reject_anomalies = f.reject_anomalies;
  const bool any_slo = m.slo_max_error_rate || m.slo_p99_ms || m.slo_window_s || m.slo_min_requests ||
                       m.slo_restore_after_s;
  if (m.fallback && !m.slo_max_error_rate && !m.slo_p99_ms) {
    return Status::InvalidArgument("--fallback needs --slo-max-error-rate or --slo-p99-ms (or both): the SLO "
                                   "decides when traffic moves to it");
  }
  if (any_slo && !m.fallback) {
    return Status::InvalidArgument("the --slo-* flags need --fallback MODEL: a breached SLO moves traffic to it");
  }
  if (m.fallback) {
    monitor::SloOptions slo;
    if (m.slo_max_error_rate) slo.max_error_rate = *m.slo_max_error_rate;
    if (m.slo_p99_ms) {
      if (!(*m.slo_p99_ms > 0) || !std::isfinite(*m.slo_p99_ms)) {
        return Status::InvalidArgument("--slo-p99-ms must be a positive number of milliseconds; was " +
                                       std::to_string(*m.slo_p99_ms));
      }
      slo.p99_seconds = *m.slo_p99_ms / 1000.0;
    }
    if (m.slo_window_s) slo.window_seconds = *m.slo_window_s;
    if (m.slo_min_requests) slo.min_requests = *m.slo_min_requests;
    if (m.slo_restore_after_s) {
      if (*m.slo_restore_after_s < 1) {
        return Status::InvalidArgument("--slo-restore-after-s must be >= 1; was " +
                                       std::to_string(*m.slo_restore_after_s));
      }
      slo.restore_after_seconds = *m.slo_restore_after_s;
    }
    o.slo = slo;
    out.fallback_path = *m.fallback;
  }
  out.reference_path = m.reference.value_or("");
  Status valid = monitor::ValidateModelMonitorOptions(o);
  if (!valid.ok()) return Status::InvalidArgument("bad monitoring flag: " + valid.message());
  return Status::Ok();
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
  RETURN_IF_ERROR(ApplyMonitorFlags(f, TakeMonitorFlags(vm), out));
  return out;
}

}  // namespace mlship
