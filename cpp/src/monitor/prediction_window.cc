// PredictionWindow: a lock-free ring of predicted classes.
#include "mlship/monitor/prediction_window.h"

#include <algorithm>
#include <string>
#include <vector>

namespace mlship::monitor {

namespace {
constexpr int64_t kMaxCapacity = 10'000'000;
// Class indices are stored as int32; a million classes is far beyond any
// classifier whose class mix is worth a PSI.
constexpr int64_t kMaxClasses = 1'000'000;
}  // namespace

StatusOr<std::unique_ptr<PredictionWindow>> PredictionWindow::Create(int64_t capacity, int64_t num_classes) {
  if (capacity < 1 || capacity > kMaxCapacity) {
    return Status::InvalidArgument("the prediction window must hold 1.." + std::to_string(kMaxCapacity) +
                                   " predictions; was " + std::to_string(capacity));
  }
  if (num_classes < 2 || num_classes > kMaxClasses) {
    return Status::InvalidArgument("a classifier's prediction window needs 2.." + std::to_string(kMaxClasses) +
                                   " classes; was " + std::to_string(num_classes));
  }
  return std::unique_ptr<PredictionWindow>(new PredictionWindow(capacity, num_classes));
}

PredictionWindow::PredictionWindow(int64_t capacity, int64_t num_classes)
    : capacity_(capacity),
      num_classes_(num_classes),
      slots_(new std::atomic<int32_t>[static_cast<std::size_t>(capacity)]) {
  for (int64_t i = 0; i < capacity_; ++i) slots_[static_cast<std::size_t>(i)].store(-1, std::memory_order_relaxed);
}

void PredictionWindow::Observe(const int64_t* classes, int64_t n) {
  if (classes == nullptr || n <= 0) return;
  // Only the last capacity_ of a huge batch would survive anyway.
  const int64_t skip = std::max<int64_t>(0, n - capacity_);
  const int64_t kept = n - skip;
  const int64_t first = observed_.fetch_add(kept, std::memory_order_relaxed);
  for (int64_t i = 0; i < kept; ++i) {
    const int64_t c = classes[skip + i];
    // An out-of-range class leaves its slot as it was.
    if (c < 0 || c >= num_classes_) continue;
    slots_[static_cast<std::size_t>((first + i) % capacity_)].store(static_cast<int32_t>(c),
                                                                    std::memory_order_relaxed);
  }
}

ClassProfile PredictionWindow::Profile() const {
  std::vector<int64_t> counts(static_cast<std::size_t>(num_classes_), 0);
  const int64_t held = size();
  for (int64_t i = 0; i < held; ++i) {
    const int32_t c = slots_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    if (c >= 0 && c < num_classes_) ++counts[static_cast<std::size_t>(c)];
  }
  // num_classes_ >= 2 and counts are non-negative, so this cannot fail.
  return std::move(ClassProfile::FromCounts(std::move(counts))).value();
}

int64_t PredictionWindow::size() const {
  return std::min(observed_.load(std::memory_order_relaxed), capacity_);
}

}  // namespace mlship::monitor
