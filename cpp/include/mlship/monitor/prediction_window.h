// PredictionWindow: the last N classes a classifier predicted, fed from the
// request path without a lock, read off it as a ClassProfile.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "mlship/monitor/class_profile.h"
#include "mlship/status.h"

namespace mlship::monitor {

// A ring of the most recent predicted classes.
//
// Observe() claims slots with one atomic fetch_add and writes them with
// relaxed atomic stores, so concurrent writers never wait for each other or
// for a reader. Profile() counts the slots written so far; while writers are
// busy it may see a few slots from just before or after a given moment,
// which is harmless for a distribution over thousands of predictions.
//
// Thread-safe: all methods may be called concurrently.
class PredictionWindow {
 public:
  // `capacity`: predictions kept, 1..10'000'000 (older ones fall out).
  // `num_classes`: classes 0..num_classes-1, 2..1'000'000. InvalidArgument
  // naming the value otherwise.
  static StatusOr<std::unique_ptr<PredictionWindow>> Create(int64_t capacity, int64_t num_classes);

  // Records `n` predicted classes. Classes outside [0, num_classes) are
  // skipped (they cannot come from the model the window was made for).
  void Observe(const int64_t* classes, int64_t n);

  // Per-class counts over the window now.
  ClassProfile Profile() const;

  // Predictions held, up to capacity.
  int64_t size() const;
  int64_t capacity() const { return capacity_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  PredictionWindow(int64_t capacity, int64_t num_classes);

  // Fixed at Create.
  const int64_t capacity_;
  const int64_t num_classes_;
  // capacity_ slots; -1 until first written.
  std::unique_ptr<std::atomic<int32_t>[]> slots_;
  // Predictions ever observed; slot of prediction i is i % capacity_.
  std::atomic<int64_t> observed_{0};
};

}  // namespace mlship::monitor
