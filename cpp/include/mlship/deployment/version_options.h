// VersionOptions: how one loaded version of a model is batched, run and
// watched. Set per version (deploy() keywords, the version's manifest, the
// serve flags as defaults for every version); see options_schema.h for the
// names users write.
#pragma once

#include <string>

#include "mlship/batching/batcher_options.h"
#include "mlship/monitor/model_monitor.h"
#include "mlship/runtime/instance_pool.h"
#include "mlship/status.h"

namespace mlship {

struct VersionOptions {
  // ---- Affects behaviour ----

  // Batching: max_batch_size (rows, default 32), max_queue_delay (default
  // 0), max_queue_size (default 1024; full -> Unavailable/503),
  // default_timeout (default none; expired -> DeadlineExceeded/504),
  // preferred_batch_sizes (default none). See batcher_options.h.
  BatcherOptions batcher;
  // Metrics, stats, drift and anomaly checks for this version. Default true;
  // false leaves its request path unmeasured (for measuring what monitoring
  // costs). A fallback SLO needs it on the primary.
  bool monitoring = true;
  // Drift, anomaly, stats-window and classifier settings (see
  // model_monitor.h). model, version, max_batch_size and the clock are
  // filled in by the server; slo and has_fallback are routing settings
  // (ModelOptions) and ignored here.
  monitor::ModelMonitorOptions monitor;

  // Explanations (POST .../explain, Deployment.explain) wait on their own
  // queue, behind inference: at most explain_queue_size wait (default 4;
  // full -> Unavailable/503), and one may cost at most
  // explain_max_evaluations model evaluations, counted in input rows run
  // forward (default 50000, e.g. integrated gradients with 32 steps on ~1500
  // rows; above -> InvalidArgument/400, before anything runs).
  int explain_queue_size = 4;
  int explain_max_evaluations = 50000;
  // Share of live requests (0..1, default 0: none) whose first row is
  // explained in the background (integrated gradients where the model has
  // gradients, else occlusion) to keep a running global feature importance,
  // compared with the importance on the drift reference (metrics
  // mlship_feature_importance*, the dashboard, Deployment.feature_importance()).
  // Best effort: a sample that finds the explanation queue full is dropped.
  double explain_sample_rate = 0;

  // ---- Affects performance ----

  // Torch threads each forward pass of this version may use, on whichever
  // of the server's workers runs it. Default 0, "auto" (see AutoThreads):
  // 1 thread, widened to max(1, cores / workers) once the version's forward
  // passes are found to take 1 ms or more (compute-bound). Valid range >= 0;
  // 1 or more fixes the count (keep workers x threads close to the cores).
  int intra_op_threads = 0;

  // OK when every field is in range; otherwise InvalidArgument naming the
  // first bad one with its value.
  Status Validate() const;
};

}  // namespace mlship
