// Counter: a value that only goes up, e.g. requests served.
#pragma once

#include <atomic>

namespace mlship::monitor {

// A monotonically increasing value (reset only when the process restarts).
//
// Thread-safe. Increment() is one lock-free atomic add, so it is fit for the
// request path. Whole-number increments stay exact up to 2^53.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`. Negative and NaN amounts are ignored: a counter never goes
  // down, and the request path has no one to report the mistake to.
  void Increment(double amount = 1.0) {
    if (!(amount >= 0.0)) return;
    value_.fetch_add(amount, std::memory_order_relaxed);
  }

  // The current total.
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // The running total; C++20 atomic<double>::fetch_add is a CAS loop.
  std::atomic<double> value_{0.0};
};

}  // namespace mlship::monitor
