// LatencyWindow: a ring of per-second reservoirs.
#include "mlship/monitor/latency_window.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>

namespace mlship::monitor {
namespace {

// The weighted nearest-rank percentile of sorted (value, weight) pairs: the
// first value at which the cumulative weight reaches q·total.
double WeightedPercentile(const std::vector<std::pair<double, double>>& sorted, double total_weight, double q) {
  double target = q * total_weight;
  // Tolerate rounding in the running sum (weights are counts / samples).
  double tolerance = 1e-9 * total_weight;
  double cumulative = 0.0;
  for (const auto& [value, weight] : sorted) {
    cumulative += weight;
    if (cumulative + tolerance >= target) return value;
  }
  return sorted.empty() ? 0.0 : sorted.back().first;
}

}  // namespace

StatusOr<std::unique_ptr<LatencyWindow>> LatencyWindow::Create(const LatencyWindowOptions& options) {
  if (options.window_seconds < 1 || options.window_seconds > 3600) {
    return Status::InvalidArgument("window_seconds must be in 1..3600; was " + std::to_string(options.window_seconds));
  }
  if (options.max_samples_per_second < 1 || options.max_samples_per_second > 1'000'000) {
    return Status::InvalidArgument("max_samples_per_second must be in 1..1000000; was " +
                                   std::to_string(options.max_samples_per_second));
  }
  return std::unique_ptr<LatencyWindow>(new LatencyWindow(options));
}

LatencyWindow::LatencyWindow(const LatencyWindowOptions& options)
    : options_(options), shards_(new Shard[kShards]) {
  for (int i = 0; i < kShards; ++i) shards_[i].buckets.resize(static_cast<size_t>(options.window_seconds));
}

int LatencyWindow::ShardOfThisThread() {
  // Threads take shards round-robin in the order they first record, so a
  // handful of worker threads land on distinct shards.
  static std::atomic<unsigned> next_shard{0};
  thread_local const int shard = static_cast<int>(next_shard.fetch_add(1, std::memory_order_relaxed) % kShards);
  return shard;
}

int64_t LatencyWindow::SecondOf(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

uint64_t LatencyWindow::NextRandomLocked(Shard& shard) {
  shard.random_state ^= shard.random_state << 13;
  shard.random_state ^= shard.random_state >> 7;
  shard.random_state ^= shard.random_state << 17;
  return shard.random_state;
}

void LatencyWindow::Record(double latency_seconds, Clock::time_point now) {
  if (!(latency_seconds >= 0.0)) return;
  int64_t second = SecondOf(now);
  if (second < 0) return;  // before the clock's epoch: no slot to put it in
  Shard& shard = shards_[ShardOfThisThread()];
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.newest_second >= 0 && second <= shard.newest_second - options_.window_seconds) return;
  Bucket& bucket = shard.buckets[static_cast<size_t>(second % options_.window_seconds)];
  if (bucket.second != second) {
    // The slot holds a second that has left the window (or nothing): reuse it,
    // keeping the vector's capacity.
    bucket.second = second;
    bucket.count = 0;
    bucket.sum = 0.0;
    bucket.samples.clear();
  }
  if (shard.first_second < 0) shard.first_second = second;
  shard.newest_second = std::max(shard.newest_second, second);
  bucket.sum += latency_seconds;
  int64_t seen_before = bucket.count++;
  if (static_cast<int64_t>(bucket.samples.size()) < options_.max_samples_per_second) {
    bucket.samples.push_back(latency_seconds);
    return;
  }
  // Algorithm R: the i-th observation replaces a random slot with
  // probability capacity / i, which keeps the reservoir a uniform sample.
  uint64_t slot = NextRandomLocked(shard) % static_cast<uint64_t>(seen_before + 1);
  if (slot < bucket.samples.size()) bucket.samples[slot] = latency_seconds;
}

LatencyStats LatencyWindow::Summarize(Clock::time_point now, int64_t seconds) const {
  seconds = std::clamp<int64_t>(seconds, 1, options_.window_seconds);
  int64_t now_second = SecondOf(now);
  int64_t oldest = now_second - seconds + 1;
  LatencyStats stats;
  double sum = 0.0;
  double total_weight = 0.0;
  std::vector<std::pair<double, double>> weighted;  // (latency, observations it stands for)
  int64_t first_second = -1;
  for (int i = 0; i < kShards; ++i) {
    const Shard& shard = shards_[i];
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.first_second >= 0 && (first_second < 0 || shard.first_second < first_second)) {
      first_second = shard.first_second;
    }
    for (const Bucket& bucket : shard.buckets) {
      if (bucket.second < oldest || bucket.second > now_second || bucket.count == 0) continue;
      stats.count += bucket.count;
      sum += bucket.sum;
      double weight = static_cast<double>(bucket.count) / static_cast<double>(bucket.samples.size());
      for (double latency : bucket.samples) weighted.emplace_back(latency, weight);
      total_weight += static_cast<double>(bucket.count);
    }
  }
  if (stats.count == 0) return stats;
  int64_t covered = std::min(seconds, now_second - std::max(first_second, oldest) + 1);
  stats.throughput_per_second = static_cast<double>(stats.count) / static_cast<double>(std::max<int64_t>(covered, 1));
  stats.mean_seconds = sum / static_cast<double>(stats.count);
  std::sort(weighted.begin(), weighted.end());
  stats.p50_seconds = WeightedPercentile(weighted, total_weight, 0.50);
  stats.p90_seconds = WeightedPercentile(weighted, total_weight, 0.90);
  stats.p99_seconds = WeightedPercentile(weighted, total_weight, 0.99);
  return stats;
}

}  // namespace mlship::monitor
