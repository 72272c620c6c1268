// BatchCostModel: buckets, the cap it chooses, and exploration.
#include "mlship/batching/batch_cost_model.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace mlship {
namespace {

BatchCostModel::Options Options32() {
  BatchCostModel::Options options;
  options.max_batch_size = 32;
  options.min_samples = 4;
  options.explore_every = 8;
  return options;
}

// Records `times` batches of `rows` rows at `per_row` seconds a row.
void Feed(BatchCostModel& model, int64_t rows, double per_row, int times) {
  for (int i = 0; i < times; ++i) model.Record(rows, per_row * static_cast<double>(rows));
}

TEST(BatchCostModelTest, BucketsArePowersOfTwoUpToTheMaxBatchSize) {
  BatchCostModel::Options options = Options32();
  options.max_batch_size = 20;
  BatchCostModel model(options);
  ASSERT_EQ(model.buckets().size(), 5u);
  EXPECT_EQ(model.buckets()[0].min_rows, 1);
  EXPECT_EQ(model.buckets()[0].max_rows, 1);
  EXPECT_EQ(model.buckets()[2].min_rows, 4);
  EXPECT_EQ(model.buckets()[2].max_rows, 7);
  EXPECT_EQ(model.buckets()[4].min_rows, 16);
  EXPECT_EQ(model.buckets()[4].max_rows, 20);
}

TEST(BatchCostModelTest, NoCapUntilTwoBucketsAreJudged) {
  BatchCostModel model(Options32());
  Feed(model, 1, 1.0, 100);  // only one bucket known
  EXPECT_EQ(model.row_cap(), 32);
  Feed(model, 8, 1.0, 3);  // below min_samples
  EXPECT_EQ(model.row_cap(), 32);
  Feed(model, 8, 1.0, 1);
  EXPECT_EQ(model.row_cap(), 1);  // as cheap per row alone as in eights
}

TEST(BatchCostModelTest, NoCapWhenTheLargestBatchesAreCheapest) {
  BatchCostModel model(Options32());
  // An overhead-bound model: a fixed cost per batch, so per row falls with size.
  for (int64_t rows : {1, 2, 4, 8, 16, 32}) {
    for (int i = 0; i < 4; ++i) model.Record(rows, 1e-3 + 1e-5 * static_cast<double>(rows));
  }
  EXPECT_EQ(model.row_cap(), 32);
}

TEST(BatchCostModelTest, CapsAtTheSmallestSizeWithinTheToleranceOfTheCheapest) {
  BatchCostModel model(Options32());
  Feed(model, 1, 1.10, 4);  // 10% dearer per row than the best
  Feed(model, 2, 1.05, 4);  // 5%
  Feed(model, 4, 1.02, 4);  // 2%: within 3%
  Feed(model, 8, 1.00, 4);  // the cheapest
  Feed(model, 16, 1.01, 4);
  Feed(model, 32, 1.04, 4);  // a compute-bound model gets slower per row when batches grow
  EXPECT_EQ(model.row_cap(), 4);
}

TEST(BatchCostModelTest, IgnoresSamplesThatTookNoTime) {
  BatchCostModel model(Options32());
  model.Record(4, 0.0);
  model.Record(0, 1.0);
  model.Record(4, -1.0);
  for (const auto& bucket : model.buckets()) EXPECT_EQ(bucket.samples, 0);
}

TEST(BatchCostModelTest, MovingAverageFollowsAChange) {
  BatchCostModel model(Options32());
  Feed(model, 1, 1.0, 4);
  Feed(model, 32, 1.0, 4);
  EXPECT_EQ(model.row_cap(), 1);
  // The machine quietens: large batches become much cheaper per row.
  Feed(model, 32, 0.5, 20);
  EXPECT_EQ(model.row_cap(), 32);
}

TEST(BatchCostModelTest, ExploresTwiceAndHalfTheCapInTurn) {
  BatchCostModel model(Options32());
  Feed(model, 4, 1.0, 4);
  Feed(model, 16, 1.2, 4);
  ASSERT_EQ(model.row_cap(), 4);
  int ups = 0;
  int downs = 0;
  int plain = 0;
  for (int i = 0; i < 64; ++i) {
    const int64_t cap = model.NextBatchCap();
    if (cap == 8) ++ups;
    else if (cap == 2) ++downs;
    else if (cap == 4) ++plain;
    model.BatchFormed();
  }
  EXPECT_EQ(ups, 4);  // one in 8 formed batches, alternating up and down
  EXPECT_EQ(downs, 4);
  EXPECT_EQ(plain, 56);
}

TEST(BatchCostModelTest, ExplorationStaysWithinOneAndTheMaxBatchSize) {
  BatchCostModel model(Options32());
  for (int i = 0; i < 64; ++i) {
    const int64_t cap = model.NextBatchCap();
    EXPECT_GE(cap, 1);
    EXPECT_LE(cap, 32);
    model.BatchFormed();
  }
}

}  // namespace
}  // namespace mlship
