// ServerOptions and ModelOptions: the settings of a whole server (network,
// shared workers, memory) and of one model in it (which versions it serves,
// which one is the default, where traffic goes when the default is unwell).
// See options_schema.h for the names users write.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/clock.h"
#include "mlship/deployment/outcomes.h"
#include "mlship/deployment/traffic.h"
#include "mlship/monitor/health_policy.h"
#include "mlship/repository/names.h"
#include "mlship/runtime/instance_pool.h"
#include "mlship/runtime/wakeup_baton.h"
#include "mlship/serving/grpc_server.h"
#include "mlship/serving/http_server.h"
#include "mlship/status.h"

namespace mlship {

using repository::CompareVersions;

// Which versions of a model a server serves (TF Serving's version policy).
struct VersionPolicy {
  enum class Kind {
    kLatest,    // the `latest` newest versions
    kAll,       // every version in the repository
    kSpecific,  // exactly `versions`
  };
  // Default: the newest version only.
  Kind kind = Kind::kLatest;
  // For kLatest: how many of the newest. Default 1; valid range >= 1.
  int latest = 1;
  // For kSpecific: the versions, at least one.
  std::vector<std::string> versions;

  // Parses "latest", "latest:N", "all" or "specific:V1,V2,...". InvalidArgument
  // naming the text and the accepted forms.
  static StatusOr<VersionPolicy> Parse(std::string_view text);
  // The form Parse() reads.
  std::string ToString() const;
  // The versions of `available` it selects, oldest first (CompareVersions).
  // kSpecific keeps only those that exist.
  std::vector<std::string> Select(std::vector<std::string> available) const;
};

// Settings of one model: its versions, its default, its fallback.
struct ModelOptions {
  // The version (or alias) requests without a version go to. Empty (the
  // default): the newest served version.
  std::string default_version;
  // Which versions are served. Default: the newest one.
  VersionPolicy version_policy;
  // When set, and the model has a fallback version, a breach of this SLO by
  // the default version moves its traffic to the fallback (a routing policy;
  // the default version's monitor only reports its health). Default unset.
  std::optional<monitor::SloOptions> slo;
  // The version that serves while the default breaches `slo`. Empty (the
  // default): no fallback. deploy(fallback=...) sets it to the version its
  // fallback model is served as.
  std::string fallback_version;
  // Shares of the traffic by version (requests naming no version); empty
  // (the default): everything to the default version. See traffic.h.
  TrafficSplit split;
  // A version that gets a copy of live requests (those naming no version)
  // when it has spare capacity; its answers are compared with the primary's
  // and dropped. Empty (the default): none.
  std::string shadow_version;
  // The share (0..1) of live requests copied to the shadow. Default 1.
  double shadow_sample_rate = 1.0;
  // Remember every prediction (by request id) so that outcomes reported
  // later (POST /v2/models/{name}/outcomes) give live accuracy per version.
  // Default false: costs a map insert per request and `outcomes.max_pending`
  // entries of memory.
  bool track_outcomes = false;
  // Bounds and window of the outcome store (see outcomes.h).
  OutcomeOptions outcomes;

  // OK when every field is in range; otherwise InvalidArgument naming it.
  Status Validate() const;
};

// What a request for a version that is served but not loaded (unloaded to
// stay under max_loaded_versions or memory_budget_mb) gets.
enum class UnloadedVersionAction {
  kLoad,    // waits while the version loads again (a cold start, measured)
  kReject,  // 503 with Retry-After at once; the version loads in the background
};

struct ServerOptions {
  // ---- Affects behaviour ----

  // Serve HTTP. Default true; false serves in-process only.
  bool serve_http = true;
  // Host, port (0 = any free port), tokens (inference and admin), limits.
  // Default 127.0.0.1:8000, no token.
  serving::HttpServerOptions http;
  // The gRPC front end (KServe v2 / Triton's GRPCInferenceService) beside
  // HTTP on the same router, with HTTP's host, tokens, rate limits and
  // limits (http above): its port, 0 (the default) = off, -1 = any free
  // port (Server::grpc_port() says which). Off by default because a second
  // listening port is one more thing to secure and to collide on, and most
  // callers use HTTP; Triton's port is 8001.
  int grpc_port = 0;
  // Most versions loaded at once across all models; 0 (the default) = no
  // limit. Beyond it the least recently used version that is not pinned (a
  // default, an aliased version, a fallback, a version loaded from memory, or
  // the one a request is waiting for) is unloaded. When everything loaded is
  // pinned the bound is exceeded rather than a pinned version unloaded.
  int max_loaded_versions = 0;
  // Most memory, in MiB, the loaded versions may add together (each
  // version's is measured as it loads); 0 (the default) = no limit. Beyond
  // it versions are unloaded as for max_loaded_versions.
  int64_t memory_budget_mb = 0;
  // What a request for an unloaded version gets. Default kLoad.
  UnloadedVersionAction on_unloaded = UnloadedVersionAction::kLoad;
  // Time for every time-dependent policy (monitors, fallback, swaps).
  // Default (null): the real steady clock. Not owned; must outlive the
  // server. Tests pass a FakeClock.
  Clock* clock = nullptr;

  // ---- Affects performance ----

  // The worker threads every version's batches run on, shared by all
  // models so the total is bounded however many are loaded: `instances`
  // workers (default half the cores) taking batches from the models in
  // turn. The intra-op thread count comes from each version.
  InstancePoolOptions workers;
  // How Python threads waiting in predict() are woken (see wakeup_baton.h).
  WakeupBatonOptions caller_wakeup;
  // How often routing policies (the SLO fallback) judge the versions' health.
  // Default 250 ms; most users should leave it alone.
  std::chrono::milliseconds policy_tick_interval{250};

  // OK when every field is in range; otherwise InvalidArgument naming it.
  Status Validate() const;
};

}  // namespace mlship
