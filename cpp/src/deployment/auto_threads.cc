// AutoThreads::Record.
#include "mlship/deployment/auto_threads.h"

namespace mlship {

void AutoThreads::Record(int threads_used, double seconds) {
  if (options_.wide <= 1 || threads_used != 1 || seconds <= 0 || widened()) return;
  if (seconds >= options_.min_forward_seconds) long_.fetch_add(1, std::memory_order_relaxed);
  // The pass that fills the window judges it. Concurrent passes may land in
  // the next window; that only shifts one window's boundary.
  if (seen_.fetch_add(1, std::memory_order_acq_rel) + 1 < options_.window) return;
  const int long_passes = long_.exchange(0, std::memory_order_acq_rel);
  seen_.store(0, std::memory_order_release);
  // The median is long when at least half the window was.
  if (2 * long_passes >= options_.window) widened_.store(true, std::memory_order_relaxed);
}

}  // namespace mlship
