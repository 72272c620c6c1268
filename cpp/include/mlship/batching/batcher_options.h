// BatcherOptions: how a DynamicBatcher turns requests into batches.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "mlship/status.h"

namespace mlship {

// Options for DynamicBatcher (and the internal::Queue policy inside it).
// Defaults suit a CPU model serving small requests; Validate() says what is
// wrong with a value, naming it.
struct BatcherOptions {
  // ---- Options that affect behaviour --------------------------------------

  // The largest batch, in rows (the sum of Task::size() over its tasks).
  // Default 32; valid range >= 1. A task with more rows than this is rejected
  // by Schedule() with InvalidArgument, so it must also cover the largest
  // single request. Larger batches raise throughput until the model saturates
  // the instance's cores; measure before going past a few hundred.
  int64_t max_batch_size = 32;

  // How many tasks may wait in the queue, across all batch keys. Default 1024;
  // valid range >= 1. When full, Schedule() returns Unavailable (retryable:
  // HTTP 503), which sheds load instead of letting latency grow without bound.
  // Rule of thumb: a few seconds of traffic at most, e.g. peak QPS × 2 s.
  int64_t max_queue_size = 1024;

  // The deadline given to a task whose own deadline() is none
  // (time_point::max()), counted from when it was scheduled. Default 0 =
  // none; valid range >= 0. A task still queued at its deadline is answered
  // with DeadlineExceeded and never run. A task's own deadline, when it has
  // one, wins over this default. Set it a little under the client's timeout so
  // work nobody waits for is never computed.
  std::chrono::microseconds default_timeout{0};

  // ---- Options that affect performance ------------------------------------

  // How long the oldest queued task may wait for company before its batch is
  // formed anyway. Default 0; valid range >= 0. 0 means "batch whatever is
  // queued as soon as an instance can take it": while all instances are busy
  // requests still accumulate into bigger batches (see DynamicBatcher's
  // back-pressure), so batches grow with load by themselves and a lone
  // request never waits. Measured with wrk on a 2-core machine (1 instance x
  // 1 thread), 0 beat 1 ms at every concurrency: ~7x the requests/s at
  // concurrency 1 and as much or more at 32 and 64. Raise it (to a fraction
  // of the model's compute time) only when the model gains a lot from bigger
  // batches and traffic is sparse.
  std::chrono::microseconds max_queue_delay{0};

  // Batch sizes, in rows, that the model runs especially well (e.g. sizes its
  // kernels or a compiled .pt2 were tuned for). Default empty = none; each
  // value must lie in [1, max_batch_size]; order and duplicates do not matter.
  //
  // When set, a batch is formed early, before max_queue_delay, as soon as the
  // queued tasks of one key, taken in arrival order, add up to exactly one of
  // these sizes; the batch is the largest such preferred size reachable (at
  // most max_batch_size) and the rest stays queued. When no preferred size is
  // reachable the usual rules apply: a full batch (max_batch_size rows) goes
  // at once, anything else after max_queue_delay. This follows Triton's
  // dynamic batcher. Most users should leave this alone.
  std::vector<int64_t> preferred_batch_sizes;

  // Latency-aware batching: the batcher measures what each batch size costs
  // per row (BatchCostModel, fed by DynamicBatcher::RecordBatch) and stops
  // forming batches larger than the smallest size that is within 3% of the
  // cheapest. When batching does not buy throughput (a compute-bound model
  // on few cores), bigger batches only make requests wait for company, and
  // the tail latency at saturation grows with them; when it does (an
  // overhead-bound model), nothing changes. With several instances
  // (DynamicBatcher::set_consumers) a batch also takes at most its share of
  // the queue, so the instances get batches of similar size. Default false: the cap follows
  // the machine's timing, so batch sizes are no longer reproducible from the
  // queue alone. Turn it on for compute-bound models; bench/batching_bench.py
  // measures both ways.
  bool latency_aware = false;

  // OK when every field is in its valid range; otherwise InvalidArgument
  // naming the first bad field and its value, e.g.
  // "max_batch_size must be positive; was 0".
  Status Validate() const;
};

}  // namespace mlship
