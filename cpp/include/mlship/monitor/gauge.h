// Gauge: a value that goes up and down, e.g. requests in flight.
#pragma once

#include <atomic>

namespace mlship::monitor {

// A value that can be set, raised and lowered.
//
// Thread-safe; every operation is one lock-free atomic, fit for the request
// path.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value.
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  // Adds `amount` (which may be negative).
  void Increment(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
  // Subtracts `amount`.
  void Decrement(double amount = 1.0) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  // The current value.
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // The current value.
  std::atomic<double> value_{0.0};
};

}  // namespace mlship::monitor
