// BatchCostModel: what a batch of each size has cost per row, measured, and
// the largest batch worth forming (latency-aware batching).
#pragma once

#include <cstdint>
#include <vector>

namespace mlship {

// Learns, from the batches a model actually ran, whether bigger batches buy
// throughput. Batch sizes fall into power-of-two buckets (1, 2-3, 4-7, ...);
// each keeps a moving average of seconds per row. Once at least two buckets
// have been judged (min_samples each):
//
//   - when the largest judged bucket is also the cheapest per row, batching
//     pays and there is no cap (the model is overhead-bound, like an MLP);
//   - otherwise the cap is the low end of the smallest judged bucket whose
//     cost per row is within `tolerance` of the cheapest: bigger batches
//     would only make requests wait for company without finishing sooner
//     (the model is compute-bound, like a CNN on few cores).
//
// So that a cap does not freeze what it has learned, every explore_every
// formed batches one batch gets twice the cap and, alternately, one gets half
// of it, keeping the neighbouring buckets' figures fresh (a model can get
// cheaper per row at larger sizes once the machine is quieter).
//
// Not thread-safe: DynamicBatcher guards it with its mutex. No clock: the
// caller measures and passes seconds.
class BatchCostModel {
 public:
  struct Options {
    // The batcher's max_batch_size: the largest cap, and "no cap".
    int64_t max_batch_size = 32;
    // How close to the cheapest cost per row a smaller batch size must be to
    // be chosen. Default 3%, the throughput the issue allows to be given up.
    double tolerance = 0.03;
    // Batches a bucket needs before it is judged. Default 8.
    int64_t min_samples = 8;
    // One batch in this many is an exploration batch. Default 16.
    int64_t explore_every = 16;
    // Weight of the newest sample in a bucket's moving average. Default 0.2.
    double smoothing = 0.2;
  };

  // One bucket's figures.
  struct Bucket {
    // Batch sizes of this bucket: [min_rows, max_rows].
    int64_t min_rows = 0;
    int64_t max_rows = 0;
    // Batches recorded.
    int64_t samples = 0;
    // Moving average of seconds per row; 0 before the first sample.
    double seconds_per_row = 0.0;
  };

  explicit BatchCostModel(Options options);

  // Records a batch of `rows` rows that took `seconds`. Ignores rows < 1 and
  // seconds <= 0 (a fake clock that did not move tells nothing).
  void Record(int64_t rows, double seconds);

  // The most rows a batch should have, from the figures so far, ignoring
  // exploration: max_batch_size when batching pays or too little is known.
  int64_t row_cap() const { return row_cap_; }

  // The cap for the next batch to be formed: row_cap(), or twice / half of it
  // on exploration turns. Call BatchFormed() when a batch was formed with it.
  int64_t NextBatchCap() const;
  // Counts a formed batch (advances the exploration turn).
  void BatchFormed() { ++formed_; }

  // The buckets, smallest sizes first.
  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  // Recomputes row_cap_ from the buckets.
  void UpdateCap();

  const Options options_;
  std::vector<Bucket> buckets_;
  int64_t row_cap_;
  // Batches formed so far, for the exploration turns.
  int64_t formed_ = 0;
};

}  // namespace mlship
