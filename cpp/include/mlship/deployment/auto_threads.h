// AutoThreads: the intra-op thread count of a version whose intra_op_threads
// is left at 0 ("auto", the default).
#pragma once

#include <atomic>
#include <cstdint>

namespace mlship {

// One thread per forward pass suits what a server mostly runs: small batches
// of small models, where an intra-op thread costs an OpenMP wake-up per
// operator and buys nothing (the digits MLP served ~20% fewer requests/s
// with 2 threads). A compute-bound model is the opposite: with one worker
// on two cores and one thread a forward pass, a ResNet-style CNN left a core
// idle and reached 56% of its batched throughput (issue 22).
//
// So the count starts at 1 and widens, once and for good, to `wide` threads
// (the cores left to each worker) as soon as the forward passes of one
// window of `window` batches have a median of at least
// `min_forward_seconds`: a pass that long gains from a second thread far
// more than the wake-ups cost. It never narrows again, so it cannot
// oscillate (a wider pass is shorter, which would otherwise read as "small").
// Decided from measured times only, so a fake clock drives it in tests.
//
// Thread-safe: Record and threads may be called from any thread (atomics).
class AutoThreads {
 public:
  struct Options {
    // Threads once the model is found compute-bound: max(1, cores /
    // workers), so every worker's passes together fill the cores. 1 makes
    // this a fixed single thread.
    int wide = 1;
    // Median forward pass, in seconds, from which the model counts as
    // compute-bound. Default 1 ms: the MLP's batch of 32 takes ~0.1 ms, the
    // CNN's single image ~1.5 ms.
    double min_forward_seconds = 0.001;
    // Batches per window; the median of each window decides. Default 8.
    int window = 8;
  };

  explicit AutoThreads(Options options) : options_(options) {}

  // The thread count for the next forward pass: 1, or `wide` once widened.
  int threads() const { return widened_.load(std::memory_order_relaxed) ? options_.wide : 1; }

  // Counts a forward pass that ran with `threads_used` threads and took
  // `seconds`. Passes run wide, or timed by a clock that did not move, tell
  // nothing and are ignored.
  void Record(int threads_used, double seconds);

  // Whether the count has widened.
  bool widened() const { return widened_.load(std::memory_order_relaxed); }

 private:
  const Options options_;
  std::atomic<bool> widened_{false};
  // Passes counted in the current window, and those of them at least
  // min_forward_seconds long. A window closes when `seen` reaches `window`.
  std::atomic<int> seen_{0};
  std::atomic<int> long_{0};
};

}  // namespace mlship
