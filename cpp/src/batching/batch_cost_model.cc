// BatchCostModel: buckets, moving averages and the cap.
#include "mlship/batching/batch_cost_model.h"

#include <algorithm>

namespace mlship {
namespace {

// Index of the power-of-two bucket holding `rows` (>= 1): floor(log2(rows)).
std::size_t BucketOf(int64_t rows) {
  std::size_t index = 0;
  while (rows > 1) {
    rows >>= 1;
    ++index;
  }
  return index;
}

}  // namespace

BatchCostModel::BatchCostModel(Options options) : options_(options), row_cap_(options.max_batch_size) {
  const int64_t max_rows = std::max<int64_t>(1, options_.max_batch_size);
  for (int64_t low = 1; low <= max_rows; low *= 2) {
    buckets_.push_back(Bucket{low, std::min(max_rows, low * 2 - 1), 0, 0.0});
    if (low > max_rows / 2) break;  // the next doubling would pass max_rows (and could overflow)
  }
}

void BatchCostModel::Record(int64_t rows, double seconds) {
  if (rows < 1 || !(seconds > 0.0)) return;
  Bucket& bucket = buckets_[std::min(BucketOf(rows), buckets_.size() - 1)];
  const double per_row = seconds / static_cast<double>(rows);
  bucket.seconds_per_row =
      bucket.samples == 0 ? per_row : (1.0 - options_.smoothing) * bucket.seconds_per_row + options_.smoothing * per_row;
  ++bucket.samples;
  UpdateCap();
}

void BatchCostModel::UpdateCap() {
  const Bucket* cheapest = nullptr;
  const Bucket* largest = nullptr;
  int judged = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.samples < options_.min_samples) continue;
    ++judged;
    largest = &bucket;
    if (cheapest == nullptr || bucket.seconds_per_row < cheapest->seconds_per_row) cheapest = &bucket;
  }
  if (judged < 2 || cheapest == largest) {
    row_cap_ = options_.max_batch_size;
    return;
  }
  const double good_enough = cheapest->seconds_per_row * (1.0 + options_.tolerance);
  for (const Bucket& bucket : buckets_) {
    if (bucket.samples >= options_.min_samples && bucket.seconds_per_row <= good_enough) {
      row_cap_ = bucket.min_rows;
      return;
    }
  }
  row_cap_ = options_.max_batch_size;  // unreachable: the cheapest bucket qualifies
}

int64_t BatchCostModel::NextBatchCap() const {
  const int64_t every = std::max<int64_t>(1, options_.explore_every);
  const int64_t turn = formed_ % (2 * every);
  if (turn == every - 1) return std::min(options_.max_batch_size, row_cap_ * 2);  // explore up
  if (turn == 2 * every - 1) return std::max<int64_t>(1, row_cap_ / 2);           // explore down
  return row_cap_;
}

}  // namespace mlship
