// LatencyWindow: percentiles, mean and throughput over the last N seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

struct LatencyWindowOptions {
  // How far back summaries reach, in whole seconds, counting the current
  // (partial) second. Range 1..3600. Default 60: long enough to smooth bursts,
  // short enough to show a regression within a minute.
  int64_t window_seconds = 60;

  // Latencies kept per second for percentiles. Beyond this, a uniform
  // reservoir sample of this size stands for the second (count, sum, mean and
  // throughput stay exact; percentiles become estimates weighted by each
  // second's true count). Range 1..1'000'000. Default 1024: enough for a
  // p99 within about a percent at a memory cost of 8 KiB per second of window.
  // Most users should leave this alone.
  int64_t max_samples_per_second = 1024;
};

// Latency statistics over a window. All latencies are in seconds.
struct LatencyStats {
  // Observations in the window.
  int64_t count = 0;
  // count / seconds covered: the window length, or less while the first
  // observation ever is younger than the window.
  double throughput_per_second = 0.0;
  // Arithmetic mean; 0 when count is 0.
  double mean_seconds = 0.0;
  // Nearest-rank percentiles: the smallest observed latency such that at least
  // p% of observations are <= it. 0 when count is 0.
  double p50_seconds = 0.0;
  double p90_seconds = 0.0;
  double p99_seconds = 0.0;
};

// A sliding window over recent request latencies, kept as a ring of one-second
// buckets.
//
// Time is passed in (as a steady_clock time point) so tests drive it without
// sleeping; the overloads without a time use steady_clock::now().
//
// Thread-safe. Record() takes one short mutex of one of kShards shards,
// chosen by the calling thread, so request threads do not serialise on one
// lock (no allocation once a second's reservoir has grown to size).
// Summarize() copies and sorts up to kShards × window_seconds ×
// max_samples_per_second values, so call it off the request path.
class LatencyWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // Validates `options`; says which field is out of range and its value.
  static StatusOr<std::unique_ptr<LatencyWindow>> Create(const LatencyWindowOptions& options = {});

  // Records one latency observed at `now`. Negative and NaN latencies are
  // ignored. Times earlier than the newest recorded second by more than the
  // window are ignored too (they belong to a second already forgotten).
  void Record(double latency_seconds, Clock::time_point now);
  void Record(double latency_seconds) { Record(latency_seconds, Clock::now()); }

  // Statistics over the window ending at `now`.
  LatencyStats Summarize(Clock::time_point now) const { return Summarize(now, options_.window_seconds); }
  LatencyStats Summarize() const { return Summarize(Clock::now()); }
  // Statistics over the last `seconds` seconds ending at `now` (clamped to
  // 1..window_seconds), e.g. a health check's shorter window.
  LatencyStats Summarize(Clock::time_point now, int64_t seconds) const;

  // Shards Record() spreads over; a power of two.
  static constexpr int kShards = 8;

 private:
  // One second's observations.
  struct Bucket {
    // Whole seconds since the clock's epoch; -1 when never used.
    int64_t second = -1;
    // Observations recorded in this second (may exceed samples.size()).
    int64_t count = 0;
    // Their sum, in seconds.
    double sum = 0.0;
    // Up to max_samples_per_second latencies (a reservoir once full).
    std::vector<double> samples;
  };

  explicit LatencyWindow(const LatencyWindowOptions& options);

  // One independently locked ring; a thread always records into the same
  // shard. Aligned so two shards never share a cache line.
  struct alignas(64) Shard {
    // Guards everything below.
    mutable std::mutex mu;
    // window_seconds buckets; second s lives at index s % window_seconds.
    // GUARDED_BY(mu)
    std::vector<Bucket> buckets;
    // The first second that ever received an observation; -1 before that.
    // GUARDED_BY(mu)
    int64_t first_second = -1;
    // The newest second that received an observation. GUARDED_BY(mu)
    int64_t newest_second = -1;
    // xorshift64 state for reservoir sampling; fixed seed so runs repeat.
    // GUARDED_BY(mu)
    uint64_t random_state = 0x9E3779B97F4A7C15ull;
  };

  // Whole seconds since the steady clock's epoch.
  static int64_t SecondOf(Clock::time_point t);
  // A deterministic pseudo-random number for reservoir sampling. Needs
  // shard.mu.
  static uint64_t NextRandomLocked(Shard& shard);
  // The shard of the calling thread.
  static int ShardOfThisThread();

  // Validated options; immutable.
  const LatencyWindowOptions options_;
  // kShards rings; fixed size, so reaching one needs no lock.
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mlship::monitor
