// The options schema: one table of every user-facing setting.
#include "mlship/deployment/options_schema.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <charconv>
#include <limits>
#include <type_traits>

namespace mlship {
namespace json = boost::json;

namespace {

std::string FlagFor(std::string_view key) {
  std::string flag(key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string Quoted(const json::value& v) {
  std::string text = json::serialize(v);
  constexpr std::size_t kMaxShown = 80;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

std::string ScopeName(OptionScope scope) {
  switch (scope) {
    case OptionScope::kServer: return "the whole server";
    case OptionScope::kModel: return "a model";
    case OptionScope::kVersion: return "a model version";
    case OptionScope::kRollout: return "a rollout";
  }
  return "?";
}

std::string TypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "bool";
    case OptionType::kInt: return "int";
    case OptionType::kFloat: return "float";
    case OptionType::kString: return "string";
    case OptionType::kIntList: return "int_list";
    case OptionType::kAutoBool: return "auto_bool";
  }
  return "?";
}

// The integer in `v`, when it holds one (a JSON integer, or an unsigned one
// that fits).
std::optional<int64_t> IntegerIn(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

std::optional<double> NumberIn(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// Checks that `v` has the JSON type `spec` expects.
Status CheckType(const OptionSpec& spec, const json::value& v, std::string_view where) {
  bool fits = false;
  std::string want;
  switch (spec.type) {
    case OptionType::kBool:
      fits = v.is_bool();
      want = "true or false";
      break;
    case OptionType::kInt:
      fits = IntegerIn(v).has_value();
      want = "an integer";
      break;
    case OptionType::kFloat:
      fits = NumberIn(v).has_value() && std::isfinite(*NumberIn(v));
      want = "a finite number";
      break;
    case OptionType::kString:
      fits = v.is_string();
      want = "a string";
      break;
    case OptionType::kIntList:
      fits = v.is_array() && std::all_of(v.get_array().begin(), v.get_array().end(),
                                         [](const json::value& x) { return IntegerIn(x).has_value(); });
      want = "a list of integers";
      break;
    case OptionType::kAutoBool:
      fits = v.is_null() || v.is_bool() || (v.is_string() && v.get_string() == "auto");
      want = "true, false or \"auto\" (null)";
      break;
  }
  if (fits) return Status::Ok();
  return Status::InvalidArgument("option '" + spec.key + "' (" + std::string(where) + ") must be " + want + "; got " +
                                 Quoted(v));
}

// Out-of-range message naming the key.
Status OutOfRange(const std::string& key, const std::string& range, const std::string& got) {
  return Status::InvalidArgument(key + " must be " + range + "; was " + got);
}

std::string Number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

// An integer option stored in a field of any integer type, within [min, max].
template <typename Access>
OptionSpec IntOption(std::string key, OptionScope scope, std::string help, Access access, int64_t min,
                     int64_t max = std::numeric_limits<int64_t>::max()) {
  OptionSpec s{key, scope, OptionType::kInt, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access, key, min, max](const json::value& v, ServingOptions& o) -> Status {
    const int64_t x = *IntegerIn(v);
    if (x < min || x > max) {
      const std::string range = max == std::numeric_limits<int64_t>::max()
                                    ? ">= " + std::to_string(min)
                                    : "in " + std::to_string(min) + ".." + std::to_string(max);
      return OutOfRange(key, range, std::to_string(x));
    }
    using Field = std::remove_reference_t<decltype(access(o))>;
    access(o) = static_cast<Field>(x);
    return Status::Ok();
  };
  s.get = [access](const ServingOptions& o) { return json::value(static_cast<int64_t>(access(o))); };
  return s;
}

// A number stored as `scale` x the value in a field (a double or a
// std::chrono duration), within [min, max] (and above min when open_min).
template <typename Access>
OptionSpec FloatOption(std::string key, OptionScope scope, std::string help, Access access, double scale,
                       double min, double max, bool open_min = false) {
  OptionSpec s{key, scope, OptionType::kFloat, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access, key, scale, min, max, open_min](const json::value& v, ServingOptions& o) -> Status {
    const double x = *NumberIn(v);
    if (x < min || x > max || (open_min && x == min)) {
      return OutOfRange(key, std::string("in ") + (open_min ? "(" : "[") + Number(min) + ", " + Number(max) + "]",
                        Number(x));
    }
    auto& field = access(o);
    using Field = std::remove_reference_t<decltype(field)>;
    if constexpr (std::is_floating_point_v<Field>) {
      field = x * scale;
    } else {
      field = Field(static_cast<typename Field::rep>(std::llround(x * scale)));
    }
    return Status::Ok();
  };
  s.get = [access, scale](const ServingOptions& o) {
    const auto& field = access(o);
    using Field = std::remove_cv_t<std::remove_reference_t<decltype(field)>>;
    if constexpr (std::is_floating_point_v<Field>) {
      return json::value(field / scale);
    } else {
      return json::value(static_cast<double>(field.count()) / scale);
    }
  };
  return s;
}

// A whole number of `Unit`s (the key's suffix says which) stored in a
// std::chrono duration field.
template <typename Unit, typename Access>
OptionSpec DurationOption(std::string key, OptionScope scope, std::string help, Access access, int64_t min,
                          int64_t max) {
  OptionSpec s{key, scope, OptionType::kInt, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access, key, min, max](const json::value& v, ServingOptions& o) -> Status {
    const int64_t x = *IntegerIn(v);
    if (x < min || x > max) {
      return OutOfRange(key, "in " + std::to_string(min) + ".." + std::to_string(max), std::to_string(x));
    }
    auto& field = access(o);
    field = std::chrono::duration_cast<std::remove_reference_t<decltype(field)>>(Unit(x));
    return Status::Ok();
  };
  s.get = [access](const ServingOptions& o) {
    return json::value(static_cast<int64_t>(std::chrono::duration_cast<Unit>(access(o)).count()));
  };
  return s;
}

template <typename Access>
OptionSpec BoolOption(std::string key, OptionScope scope, std::string help, Access access) {
  OptionSpec s{key, scope, OptionType::kBool, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access](const json::value& v, ServingOptions& o) -> Status {
    access(o) = v.get_bool();
    return Status::Ok();
  };
  s.get = [access](const ServingOptions& o) { return json::value(static_cast<bool>(access(o))); };
  return s;
}

// A string option; `check` (may be null) refuses bad values.
template <typename Access>
OptionSpec StringOption(std::string key, OptionScope scope, std::string help, Access access,
                        std::function<Status(const std::string&)> check = nullptr) {
  OptionSpec s{key, scope, OptionType::kString, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access, check](const json::value& v, ServingOptions& o) -> Status {
    const std::string text(v.get_string());
    if (check) RETURN_IF_ERROR(check(text));
    access(o) = text;
    return Status::Ok();
  };
  s.get = [access](const ServingOptions& o) { return json::value(access(o)); };
  return s;
}

// A comma-separated list ("a.example.com,b.example.com") stored in a
// std::vector<std::string> field; spaces around the items are dropped.
template <typename Access>
OptionSpec StringListOption(std::string key, OptionScope scope, std::string help, Access access) {
  OptionSpec s{key, scope, OptionType::kString, std::move(help), FlagFor(key), nullptr, nullptr};
  s.set = [access](const json::value& v, ServingOptions& o) -> Status {
    std::vector<std::string> items;
    const std::string_view text = v.get_string();
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find(',', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view item = text.substr(start, end - start);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (!item.empty()) items.emplace_back(item);
      start = end + 1;
    }
    access(o) = std::move(items);
    return Status::Ok();
  };
  s.get = [access](const ServingOptions& o) {
    std::string joined;
    for (const std::string& item : access(o)) joined += (joined.empty() ? "" : ",") + item;
    return json::value(joined);
  };
  return s;
}

// The SLO of the model's fallback policy, created on first use.
monitor::SloOptions& Slo(ServingOptions& o) {
  if (!o.model.slo) o.model.slo.emplace();
  return *o.model.slo;
}
const monitor::SloOptions& Slo(const ServingOptions& o) {
  static const monitor::SloOptions kDefaults;
  return o.model.slo ? *o.model.slo : kDefaults;
}

std::vector<OptionSpec> BuildSchema() {
  using S = OptionScope;
  std::vector<OptionSpec> t;
  // ---- The model being deployed ----
  t.push_back(StringOption("name", S::kModel, "model name in URLs: /v2/models/NAME",
                           [](auto& o) -> auto& { return o.name; }));
  OptionSpec version = StringOption("version", S::kModel, "the version the model is served as",
                                    [](auto& o) -> auto& { return o.version; });
  version.flag = "model-version";  // --version prints mlship's own version
  t.push_back(std::move(version));
  OptionSpec default_version = StringOption(
      "default_version", S::kModel, "version or alias that requests naming no version get (default: the newest served)",
      [](auto& o) -> auto& { return o.model.default_version; });
  default_version.flag.clear();  // a per-model choice: in the model's settings (mlship-model.json)
  t.push_back(std::move(default_version));
  OptionSpec policy{"version_policy", S::kModel, OptionType::kString,
                    "which versions are served: latest, latest:N, all or specific:V1,V2 (default: latest)",
                    "version-policy", nullptr, nullptr};
  policy.set = [](const json::value& v, ServingOptions& o) -> Status {
    ASSIGN_OR_RETURN(o.model.version_policy, VersionPolicy::Parse(std::string(v.get_string())));
    return Status::Ok();
  };
  policy.get = [](const ServingOptions& o) { return json::value(o.model.version_policy.ToString()); };
  t.push_back(std::move(policy));

  // ---- Batching, per version ----
  t.push_back(IntOption("max_batch_size", S::kVersion, "most rows in one forward pass",
                        [](auto& o) -> auto& { return o.version_options.batcher.max_batch_size; }, 1, 1 << 20));
  t.push_back(FloatOption("max_delay_ms", S::kVersion, "how long the oldest request may wait for company, in ms",
                          [](auto& o) -> auto& { return o.version_options.batcher.max_queue_delay; }, 1000.0, 0.0,
                          60'000.0));
  t.push_back(IntOption("max_queue_size", S::kVersion, "requests that may wait; beyond it 503",
                        [](auto& o) -> auto& { return o.version_options.batcher.max_queue_size; }, 1, 1 << 24));
  t.push_back(FloatOption("timeout_ms", S::kVersion,
                          "a request still queued after this many ms gets 504 and never runs; 0 = none",
                          [](auto& o) -> auto& { return o.version_options.batcher.default_timeout; }, 1000.0, 0.0,
                          86'400'000.0));
  OptionSpec preferred{"preferred_batch_sizes", S::kVersion, OptionType::kIntList,
                       "batch sizes the model runs best, formed early (e.g. 8,16,32; default none)",
                       "preferred-batch-sizes", nullptr, nullptr};
  preferred.set = [](const json::value& v, ServingOptions& o) -> Status {
    std::vector<int64_t> sizes;
    for (const json::value& x : v.get_array()) sizes.push_back(*IntegerIn(x));
    o.version_options.batcher.preferred_batch_sizes = std::move(sizes);
    return Status::Ok();
  };
  preferred.get = [](const ServingOptions& o) {
    json::array sizes;
    for (int64_t x : o.version_options.batcher.preferred_batch_sizes) sizes.push_back(x);
    return json::value(std::move(sizes));
  };
  t.push_back(std::move(preferred));
  t.push_back(BoolOption("latency_aware_batching", S::kVersion,
                         "measure cost per row at each batch size; form no batch bigger than the smallest size "
                         "within 3% of the cheapest, nor than ceil(queued rows / instances) (for compute-bound "
                         "models)",
                         [](auto& o) -> auto& { return o.version_options.batcher.latency_aware; }));
  t.push_back(IntOption("intra_op_threads", S::kVersion,
                        "torch threads per forward pass of this model (0: auto, 1 widened to cores / instances "
                        "once its forward passes take 1 ms or more)",
                        [](auto& o) -> auto& { return o.version_options.intra_op_threads; }, 0, 1024));
  t.push_back(IntOption("explain_queue_size", S::kVersion,
                        "explanations that may wait on their own low-priority queue; beyond it 503",
                        [](auto& o) -> auto& { return o.version_options.explain_queue_size; }, 1, 4096));
  t.push_back(IntOption("explain_max_evaluations", S::kVersion,
                        "most model evaluations (input rows run forward) one explanation may cost; beyond it 400",
                        [](auto& o) -> auto& { return o.version_options.explain_max_evaluations; }, 1, 1 << 30));
  t.push_back(FloatOption("explain_sample_rate", S::kVersion,
                          "share of live requests explained in the background for a running feature importance "
                          "(0 = none)",
                          [](auto& o) -> auto& { return o.version_options.explain_sample_rate; }, 1.0, 0.0, 1.0));

  // ---- The server ----
  t.push_back(StringOption("host", S::kServer, "address to listen on; non-loopback needs a token or --insecure",
                           [](auto& o) -> auto& { return o.server.http.host; }));
  t.push_back(IntOption("port", S::kServer, "TCP port; 0 picks a free one",
                        [](auto& o) -> auto& { return o.server.http.port; }, 0, 65535));
  t.push_back(IntOption("grpc_port", S::kServer,
                        "gRPC port (KServe v2 / Triton GRPCInferenceService, same host, tokens and limits as HTTP); "
                        "0 = off, -1 picks a free one",
                        [](auto& o) -> auto& { return o.server.grpc_port; }, -1, 65535));
  t.push_back(StringOption("token", S::kServer,
                           "bearer token for every endpoint but health (prefer the MLSHIP_TOKEN environment variable)",
                           [](auto& o) -> auto& { return o.server.http.token; }));
  t.push_back(StringOption("admin_token", S::kServer,
                           "bearer token of the repository endpoints (load, unload, index), distinct from --token "
                           "(prefer MLSHIP_ADMIN_TOKEN); without it those endpoints are off",
                           [](auto& o) -> auto& { return o.server.http.admin_token; }));
  t.push_back(StringOption("token_file", S::kServer,
                           "file of scoped tokens, stored hashed (JSON Lines; write it with mlship token create); "
                           "scopes infer, read, admin and per-token rate limits",
                           [](auto& o) -> auto& { return o.server.http.token_file; }));
  t.push_back(StringOption("tls_cert", S::kServer,
                           "TLS certificate chain (PEM); with --tls-key the server speaks HTTPS only (TLS 1.2+); "
                           "re-read on SIGHUP",
                           [](auto& o) -> auto& { return o.server.http.tls_cert; }));
  t.push_back(StringOption("tls_key", S::kServer, "private key (PEM, unencrypted) of --tls-cert",
                           [](auto& o) -> auto& { return o.server.http.tls_key; }));
  t.push_back(StringOption("tls_client_ca", S::kServer,
                           "CA certificates (PEM) that client certificates must chain to: every client must present "
                           "one (mutual TLS); needs --tls-cert",
                           [](auto& o) -> auto& { return o.server.http.tls_client_ca; }));
  t.push_back(FloatOption("rate_limit_per_s", S::kServer,
                          "requests per second the --token may make (token bucket; beyond it 429); 0 = no limit",
                          [](auto& o) -> auto& { return o.server.http.rate_limit_per_s; }, 1.0, 0.0, 1e9));
  t.push_back(FloatOption("rate_limit_burst", S::kServer,
                          "requests the --token may make at once under rate_limit_per_s; 0 = max(1, the rate)",
                          [](auto& o) -> auto& { return o.server.http.rate_limit_burst; }, 1.0, 0.0, 1e9));
  t.push_back(StringListOption("allowed_hosts", S::kServer,
                               "Host names served besides localhost/127.0.0.1/[::1] (comma-separated; * = any); a "
                               "loopback server refuses other names (DNS rebinding)",
                               [](auto& o) -> auto& { return o.server.http.allowed_hosts; }));
  t.push_back(StringListOption("allowed_origins", S::kServer,
                               "web origins whose pages may call the server (comma-separated, e.g. "
                               "https://app.example.com); other Origin headers get 403",
                               [](auto& o) -> auto& { return o.server.http.allowed_origins; }));
  t.push_back(BoolOption("insecure", S::kServer, "allow a non-loopback host without a token",
                         [](auto& o) -> auto& { return o.server.http.allow_insecure_public_bind; }));
  OptionSpec http = BoolOption("http", S::kServer, "serve HTTP (false: in-process only)",
                               [](auto& o) -> auto& { return o.server.serve_http; });
  http.flag.clear();  // a command-line server always serves HTTP
  t.push_back(std::move(http));
  t.push_back(IntOption("instances", S::kServer,
                        "worker threads running batches, shared by every model (default: half the cores)",
                        [](auto& o) -> auto& { return o.server.workers.instances; }, 1, 1024));
  t.push_back(IntOption("io_threads", S::kServer, "network I/O threads (parsing and encoding, not inference)",
                        [](auto& o) -> auto& { return o.server.http.io_threads; }, 1, 256));
  t.push_back(IntOption("max_body_bytes", S::kServer, "largest request body; larger get 413",
                        [](auto& o) -> auto& { return o.server.http.max_body_bytes; }, 1));
  t.push_back(IntOption("max_header_bytes", S::kServer, "largest request line plus headers; larger get 431",
                        [](auto& o) -> auto& { return o.server.http.max_header_bytes; }, 1024, int64_t{1} << 30));
  t.push_back(IntOption("max_connections", S::kServer, "most open HTTP connections (gRPC: calls in flight); beyond it 503",
                        [](auto& o) -> auto& { return o.server.http.max_connections; }, 1));
  t.push_back(IntOption("max_inflight_bytes", S::kServer,
                        "most bytes all requests in flight may hold, HTTP and gRPC together (each counts twice "
                        "its body); beyond it 503 (0 = no budget)",
                        [](auto& o) -> auto& { return o.server.http.max_inflight_bytes; }, 0));
  t.push_back(IntOption("max_json_depth", S::kServer, "deepest JSON nesting accepted; deeper get 400",
                        [](auto& o) -> auto& { return o.server.http.codec.max_json_depth; }, 4, 1024));
  t.push_back(IntOption("max_elements_per_tensor", S::kServer, "most elements in one tensor; beyond it 413",
                        [](auto& o) -> auto& { return o.server.http.codec.max_elements_per_tensor; }, 1));
  t.push_back(DurationOption<std::chrono::milliseconds>(
      "idle_timeout_ms", S::kServer, "how long a keep-alive connection may sit idle, in ms",
      [](auto& o) -> auto& { return o.server.http.idle_timeout; }, 1, 86'400'000));
  t.push_back(DurationOption<std::chrono::milliseconds>(
      "drain_timeout_ms", S::kServer, "how long a stop waits for requests in flight, in ms",
      [](auto& o) -> auto& { return o.server.http.drain_timeout; }, 0, 86'400'000));
  t.push_back(StringOption("audit_log", S::kServer,
                           "file for the audit log: JSON lines for control actions, auth failures and refused "
                           "requests, never tokens or bodies (empty = off)",
                           [](auto& o) -> auto& { return o.server.http.audit_log; }));
  t.push_back(IntOption("audit_log_max_bytes", S::kServer,
                        "the audit log is rotated (FILE.1, FILE.2, ...) before it grows past this many bytes",
                        [](auto& o) -> auto& { return o.server.http.audit_log_max_bytes; }, 1024));
  t.push_back(IntOption("audit_log_keep", S::kServer, "rotated audit log files kept",
                        [](auto& o) -> auto& { return o.server.http.audit_log_keep; }, 0, 100));
  t.push_back(BoolOption("expose_model_errors", S::kServer,
                         "send a failing model's error text to clients (default: a generic message and a request id; "
                         "the text goes to the server log)",
                         [](auto& o) -> auto& { return o.server.http.expose_model_errors; }));
  t.push_back(IntOption("max_loaded_versions", S::kServer,
                        "most versions loaded at once; beyond it the least recently used unpinned one is unloaded "
                        "(0 = no limit)",
                        [](auto& o) -> auto& { return o.server.max_loaded_versions; }, 0, 1 << 20));
  t.push_back(IntOption("memory_budget_mb", S::kServer,
                        "most MiB the loaded versions may add together; beyond it the least recently used unpinned "
                        "one is unloaded (0 = no limit)",
                        [](auto& o) -> auto& { return o.server.memory_budget_mb; }, 0, int64_t{1} << 30));
  OptionSpec unloaded{"on_unloaded", S::kServer, OptionType::kString,
                      "a request for an unloaded version: load (wait for a cold start) or reject (503 with "
                      "Retry-After while it loads)",
                      "on-unloaded", nullptr, nullptr};
  unloaded.set = [](const json::value& v, ServingOptions& o) -> Status {
    const std::string_view text = v.get_string();
    if (text == "load") {
      o.server.on_unloaded = UnloadedVersionAction::kLoad;
    } else if (text == "reject") {
      o.server.on_unloaded = UnloadedVersionAction::kReject;
    } else {
      return Status::InvalidArgument("on_unloaded must be \"load\" or \"reject\"; was \"" + std::string(text) + "\"");
    }
    return Status::Ok();
  };
  unloaded.get = [](const ServingOptions& o) {
    return json::value(o.server.on_unloaded == UnloadedVersionAction::kLoad ? "load" : "reject");
  };
  t.push_back(std::move(unloaded));
  OptionSpec sched = BoolOption("sched_batch_callers", S::kServer,
                                "run Python threads calling predict() in a loop under SCHED_BATCH (Linux)",
                                [](auto& o) -> auto& { return o.server.caller_wakeup.batch_policy_while_looping; });
  sched.flag.clear();  // only in-process callers are affected
  t.push_back(std::move(sched));

  // ---- Monitoring, per version ----
  t.push_back(BoolOption("monitoring", S::kVersion, "metrics, stats, drift and anomaly checks",
                         [](auto& o) -> auto& { return o.version_options.monitoring; }));
  t.push_back(IntOption("stats_window_s", S::kVersion, "how far back stats() looks, in seconds",
                        [](auto& o) -> auto& { return o.version_options.monitor.stats_window_seconds; }, 1, 3600));
  OptionSpec classifier{"classifier", S::kVersion, OptionType::kAutoBool,
                        "watch the predicted-class mix for drift: auto (one float output [rows, classes >= 2]), "
                        "true or false",
                        "classifier", nullptr, nullptr};
  classifier.set = [](const json::value& v, ServingOptions& o) -> Status {
    auto& field = o.version_options.monitor.classifier;
    if (v.is_bool()) {
      field = v.get_bool();
    } else {
      field.reset();
    }
    return Status::Ok();
  };
  classifier.get = [](const ServingOptions& o) {
    const auto& field = o.version_options.monitor.classifier;
    return field ? json::value(*field) : json::value("auto");
  };
  t.push_back(std::move(classifier));
  t.push_back(IntOption("drift_window", S::kVersion, "live rows kept for drift",
                        [](auto& o) -> auto& { return o.version_options.monitor.drift.window_size; }, 1,
                        int64_t{1} << 26));
  t.push_back(IntOption("drift_min_samples", S::kVersion, "rows needed before drift is judged",
                        [](auto& o) -> auto& { return o.version_options.monitor.drift.min_samples; }, 1,
                        int64_t{1} << 26));
  t.push_back(FloatOption("drift_psi_threshold", S::kVersion,
                          "PSI at or above which a feature (or the class mix) drifted",
                          [](auto& o) -> auto& { return o.version_options.monitor.drift.psi_threshold; }, 1.0, 0.0,
                          1e6, /*open_min=*/true));
  t.push_back(FloatOption("drift_ks_pvalue", S::kVersion,
                          "KS p-value below which a feature drifted, with a large enough D (0: PSI only)",
                          [](auto& o) -> auto& { return o.version_options.monitor.drift.ks_pvalue_threshold; }, 1.0,
                          0.0, 1.0));
  t.push_back(FloatOption("drift_ks_min_statistic", S::kVersion, "smallest KS D that counts as drift",
                          [](auto& o) -> auto& { return o.version_options.monitor.drift.ks_min_statistic; }, 1.0, 0.0,
                          1.0));
  t.push_back(FloatOption("drift_check_interval_s", S::kVersion, "seconds between drift checks",
                          [](auto& o) -> auto& { return o.version_options.monitor.drift_check_interval; }, 1000.0,
                          0.0, 86'400.0, /*open_min=*/true));
  t.push_back(FloatOption("anomaly_tolerance", S::kVersion,
                          "reference ranges beyond min/max a value may lie before it is anomalous",
                          [](auto& o) -> auto& { return o.version_options.monitor.anomalies.range_tolerance; }, 1.0,
                          0.0, 1e9));
  t.push_back(BoolOption("reject_anomalies", S::kVersion,
                         "answer 400 to inputs with NaN, Inf or out-of-range values instead of only counting them",
                         [](auto& o) -> auto& { return o.version_options.monitor.anomalies.reject_anomalies; }));
  OptionSpec tick = DurationOption<std::chrono::milliseconds>(
      "tick_ms", S::kVersion, "how often the monitor snapshots counters, in ms (tuning; leave it alone)",
      [](auto& o) -> auto& { return o.version_options.monitor.tick_interval; }, 1, 60'000);
  tick.flag.clear();
  t.push_back(std::move(tick));

  // ---- The fallback policy, per model ----
  OptionSpec fallback = StringOption("fallback_version", S::kModel,
                                     "the version traffic moves to when the default version breaches the SLO (needs "
                                     "an slo_* objective)",
                                     [](auto& o) -> auto& { return o.model.fallback_version; });
  fallback.flag.clear();  // --fallback MODEL on the command line; per model in a repository
  t.push_back(std::move(fallback));
  // ---- Traffic policies, per model ----
  OptionSpec split{"traffic_split", S::kModel, OptionType::kString,
                   "shares of the traffic by version, e.g. 3:90,4:10 (sticky by mlship-routing-key); default: all to "
                   "the default version",
                   "", nullptr, nullptr};
  split.set = [](const json::value& v, ServingOptions& o) -> Status {
    ASSIGN_OR_RETURN(o.model.split, TrafficSplit::Parse(std::string(v.get_string())));
    return Status::Ok();
  };
  split.get = [](const ServingOptions& o) { return json::value(o.model.split.ToString()); };
  t.push_back(std::move(split));
  OptionSpec shadow = StringOption("shadow_version", S::kModel,
                                   "a version that gets copies of live requests when it has spare capacity; its "
                                   "answers are compared with the primary's and dropped",
                                   [](auto& o) -> auto& { return o.model.shadow_version; });
  shadow.flag.clear();
  t.push_back(std::move(shadow));
  OptionSpec sample = FloatOption("shadow_sample_rate", S::kModel, "share (0..1) of live requests copied to the shadow",
                                  [](auto& o) -> auto& { return o.model.shadow_sample_rate; }, 1.0, 0.0, 1.0);
  sample.flag.clear();
  t.push_back(std::move(sample));

  t.push_back(BoolOption("track_outcomes", S::kModel,
                         "remember predictions by request id so outcomes reported later give live accuracy per version",
                         [](auto& o) -> auto& { return o.model.track_outcomes; }));
  t.push_back(IntOption("outcome_window", S::kModel, "joined outcomes each version's live figures are computed over",
                        [](auto& o) -> auto& { return o.model.outcomes.window; }, 1, int64_t{1} << 24));
  t.push_back(DurationOption<std::chrono::seconds>(
      "outcome_ttl_s", S::kModel, "how long a prediction waits for its outcome, in seconds",
      [](auto& o) -> auto& { return o.model.outcomes.ttl; }, 1, 86'400 * 30));
  t.push_back(IntOption("outcome_max_pending", S::kModel, "predictions waiting for their outcome, at most",
                        [](auto& o) -> auto& { return o.model.outcomes.max_pending; }, 1, int64_t{1} << 26));

  OptionSpec error_rate = FloatOption("slo_max_error_rate", S::kModel,
                                      "largest share (0..1) of server-side failures over the SLO window (1: not "
                                      "checked)",
                                      [](auto& o) -> auto& { return Slo(o).max_error_rate; }, 1.0, 0.0, 1.0);
  t.push_back(std::move(error_rate));
  t.push_back(FloatOption("slo_p99_ms", S::kModel,
                          "largest p99 latency of successful requests over the SLO window, in ms (0: not checked)",
                          [](auto& o) -> auto& { return Slo(o).p99_seconds; }, 1e-3, 0.0, 3.6e6));
  t.push_back(IntOption("slo_window_s", S::kModel, "seconds the SLO judgement looks back",
                        [](auto& o) -> auto& { return Slo(o).window_seconds; }, 1, 3600));
  t.push_back(IntOption("slo_min_requests", S::kModel, "requests the SLO window needs before it is judged",
                        [](auto& o) -> auto& { return Slo(o).min_requests; }, 1));
  t.push_back(IntOption("slo_restore_after_s", S::kModel,
                        "probation: seconds on the fallback before traffic moves back by itself (0: only by hand)",
                        [](auto& o) -> auto& { return Slo(o).restore_after_seconds; }, 0, 86'400 * 365));

  // ---- A rollout ----
  OptionSpec to = StringOption("rollout_to", S::kRollout, "the version to roll out (starts a rollout)",
                               [](auto& o) -> auto& { return o.rollout.to; });
  to.flag = "to";
  t.push_back(std::move(to));
  OptionSpec from = StringOption("rollout_from", S::kRollout, "the stable version (default: the model's default now)",
                                 [](auto& o) -> auto& { return o.rollout.from; });
  from.flag = "from";
  t.push_back(std::move(from));
  OptionSpec steps{"rollout_steps", S::kRollout, OptionType::kIntList,
                   "the candidate's share of the traffic at each step, in percent, ending at 100", "steps", nullptr,
                   nullptr};
  steps.set = [](const json::value& v, ServingOptions& o) -> Status {
    std::vector<double> out;
    for (const json::value& x : v.get_array()) out.push_back(static_cast<double>(*IntegerIn(x)));
    o.rollout.steps = std::move(out);
    return Status::Ok();
  };
  steps.get = [](const ServingOptions& o) {
    json::array out;
    for (double s : o.rollout.steps) out.push_back(static_cast<int64_t>(s));
    return json::value(std::move(out));
  };
  t.push_back(std::move(steps));
  OptionSpec hold = DurationOption<std::chrono::seconds>(
      "rollout_hold_s", S::kRollout, "seconds each step holds (with enough requests) before the next",
      [](auto& o) -> auto& { return o.rollout.hold; }, 0, 86'400 * 30);
  hold.flag = "hold-s";
  t.push_back(std::move(hold));
  OptionSpec g_error = FloatOption("guard_max_error_rate", S::kRollout,
                                   "largest share (0..1) of the candidate's requests failing on the server's side "
                                   "(1: not checked)",
                                   [](auto& o) -> auto& { return o.rollout.guard.max_error_rate; }, 1.0, 0.0, 1.0);
  g_error.flag = "max-error-rate";
  t.push_back(std::move(g_error));
  OptionSpec g_p99 = FloatOption("guard_p99_ms", S::kRollout,
                                 "largest p99 latency of the candidate, in ms (0: not checked)",
                                 [](auto& o) -> auto& { return o.rollout.guard.p99_seconds; }, 1e-3, 0.0, 3.6e6);
  g_p99.flag = "p99-ms";
  t.push_back(std::move(g_p99));
  OptionSpec g_div = FloatOption("guard_max_divergence", S::kRollout,
                                 "largest share (0..1) of shadowed rows where the candidate answers differently from "
                                 "the stable version (1: not checked, no shadow)",
                                 [](auto& o) -> auto& { return o.rollout.guard.max_divergence; }, 1.0, 0.0, 1.0);
  g_div.flag = "max-divergence";
  t.push_back(std::move(g_div));
  OptionSpec g_acc = FloatOption("guard_min_accuracy", S::kRollout,
                                 "the candidate breaches when its live accuracy is below this and clearly below the "
                                 "stable version's (0: not checked; needs track_outcomes)",
                                 [](auto& o) -> auto& { return o.rollout.guard.min_accuracy; }, 1.0, 0.0, 1.0);
  g_acc.flag = "min-accuracy";
  t.push_back(std::move(g_acc));
  OptionSpec g_min = IntOption("guard_min_requests", S::kRollout,
                               "requests the candidate needs in a step before it is judged or moves on",
                               [](auto& o) -> auto& { return o.rollout.guard.min_requests; }, 1, int64_t{1} << 30);
  g_min.flag = "min-requests";
  t.push_back(std::move(g_min));
  return t;
}

// Levenshtein distance, for "did you mean".
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

Status UnknownOption(std::string_view key, std::string_view where) {
  const OptionSpec* closest = nullptr;
  std::size_t best = std::numeric_limits<std::size_t>::max();
  for (const OptionSpec& spec : OptionSchema()) {
    // A key that is the start of a known one ("max_batch") is as good as a typo.
    const std::size_t d = spec.key.rfind(key, 0) == 0 ? 1 : EditDistance(key, spec.key);
    if (d < best) {
      best = d;
      closest = &spec;
    }
  }
  std::string message = "unknown option '" + std::string(key).substr(0, 80) + "' (" + std::string(where) + ")";
  if (closest != nullptr && best <= std::max<std::size_t>(3, key.size() / 3)) {
    message += "; did you mean '" + closest->key + "'?";
  } else {
    message += "; the options are listed by `mlship serve --help` and in docs/serving.md";
  }
  return Status::InvalidArgument(message);
}

}  // namespace

const std::vector<OptionSpec>& OptionSchema() {
  static const std::vector<OptionSpec> kSchema = BuildSchema();
  return kSchema;
}

const OptionSpec* FindOption(std::string_view key) {
  for (const OptionSpec& spec : OptionSchema()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

Status ApplyOptions(const json::object& given, const std::vector<OptionScope>& allowed, std::string_view where,
                    ServingOptions& options) {
  for (const auto& [key, value] : given) {
    const OptionSpec* spec = FindOption(key);
    if (spec == nullptr) return UnknownOption(key, where);
    if (std::find(allowed.begin(), allowed.end(), spec->scope) == allowed.end()) {
      return Status::InvalidArgument("option '" + spec->key + "' applies to " + ScopeName(spec->scope) +
                                     " and cannot be set in " + std::string(where));
    }
    RETURN_IF_ERROR(CheckType(*spec, value, where));
    Status set = spec->set(value, options);
    if (!set.ok()) return Status::InvalidArgument(set.message() + " (" + std::string(where) + ")");
  }
  return ValidateServingOptions(options);
}

Status ValidateServingOptions(const ServingOptions& o) {
  RETURN_IF_ERROR(o.server.Validate());
  if (!o.rollout.to.empty()) RETURN_IF_ERROR(o.rollout.Validate());
  RETURN_IF_ERROR(o.model.Validate());
  RETURN_IF_ERROR(o.version_options.Validate());
  if (o.model.slo && o.model.fallback_version.empty()) {
    return Status::InvalidArgument(
        "an slo needs fallback (fallback= in Python, --fallback MODEL on the command line, or fallback_version in "
        "settings): a breached SLO moves traffic to it");
  }
  if (!o.model.fallback_version.empty() && !(o.model.slo && o.model.slo->any())) {
    return Status::InvalidArgument("a fallback needs slo_max_error_rate or slo_p99_ms (or both): the SLO decides when "
                                   "traffic moves to it");
  }
  if (!o.model.fallback_version.empty() && !o.version_options.monitoring) {
    return Status::InvalidArgument("a fallback needs monitoring (its SLO is judged from the metrics); turn monitoring "
                                   "on or drop the fallback");
  }
  return Status::Ok();
}

StatusOr<json::value> ParseOptionText(const OptionSpec& spec, std::string_view text) {
  const std::string flag = "--" + (spec.flag.empty() ? FlagFor(spec.key) : spec.flag);
  auto bad = [&](const std::string& want) {
    return Status::InvalidArgument(flag + " expects " + want + "; got '" + std::string(text.substr(0, 80)) + "'");
  };
  auto parse_int = [](std::string_view s) -> std::optional<int64_t> {
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return x;
  };
  switch (spec.type) {
    case OptionType::kBool:
      if (text == "true" || text == "1") return json::value(true);
      if (text == "false" || text == "0") return json::value(false);
      return bad("true or false");
    case OptionType::kInt: {
      std::optional<int64_t> x = parse_int(text);
      if (!x) return bad("an integer");
      return json::value(*x);
    }
    case OptionType::kFloat: {
      double x = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(x)) {
        return bad("a number");
      }
      return json::value(x);
    }
    case OptionType::kString: return json::value(std::string(text));
    case OptionType::kIntList: {
      json::array list;
      std::string_view rest = text;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        std::optional<int64_t> x = parse_int(rest.substr(0, comma));
        if (!x) return bad("comma-separated integers such as 8,16,32");
        list.push_back(*x);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
        if (rest.empty()) return bad("comma-separated integers such as 8,16,32");
      }
      return json::value(std::move(list));
    }
    case OptionType::kAutoBool:
      if (text == "auto") return json::value(nullptr);
      if (text == "true") return json::value(true);
      if (text == "false") return json::value(false);
      return bad("auto, true or false");
  }
  return bad("a value");
}

json::object OptionValues(const ServingOptions& options, const std::vector<OptionScope>& scopes) {
  json::object out;
  for (const OptionSpec& spec : OptionSchema()) {
    if (std::find(scopes.begin(), scopes.end(), spec.scope) == scopes.end()) continue;
    // Tokens are secrets: their presence is reported, never their value.
    if (spec.key == "token" || spec.key == "admin_token") {
      out[spec.key] = !spec.get(options).get_string().empty();
      continue;
    }
    out[spec.key] = spec.get(options);
  }
  return out;
}

std::string OptionSchemaJson() {
  const ServingOptions defaults;
  json::array out;
  for (const OptionSpec& spec : OptionSchema()) {
    json::object entry;
    entry["key"] = spec.key;
    entry["scope"] = spec.scope == OptionScope::kServer    ? "server"
                     : spec.scope == OptionScope::kModel   ? "model"
                     : spec.scope == OptionScope::kVersion ? "version"
                                                           : "rollout";
    entry["type"] = TypeName(spec.type);
    entry["help"] = spec.help;
    entry["flag"] = spec.flag;
    entry["default"] = spec.get(defaults);
    out.push_back(std::move(entry));
  }
  return json::serialize(out);
}

}  // namespace mlship
