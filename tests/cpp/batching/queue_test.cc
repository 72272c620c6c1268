// The batching policy, with explicit times and no threads.
#include "mlship/batching/internal/queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "test_task.h"

namespace mlship::internal {
namespace {

using std::chrono::microseconds;
using testing::Answers;
using testing::MakeTask;
using testing::TaskIds;
using testing::TestTask;
using TimePoint = Clock::TimePoint;
using TaskList = Queue<TestTask>::TaskList;

// An arbitrary non-zero start time.
const TimePoint kT0 = TimePoint() + std::chrono::hours(1);

BatcherOptions Options(int64_t max_batch_size, microseconds max_queue_delay) {
  BatcherOptions options;
  options.max_batch_size = max_batch_size;
  options.max_queue_delay = max_queue_delay;
  return options;
}

class QueueTest : public ::testing::Test {
 protected:
  // Adds task `id` (size rows, key) at `now`, expecting success.
  void Add(Queue<TestTask>& queue, int id, TimePoint now, int64_t size = 1,
           const std::string& key = "k", TimePoint deadline = kNoDeadline) {
    auto task = MakeTask(id, &answers_, size, key, deadline);
    Status status = queue.Add(task, now);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // Forms a batch at `now`, expecting nothing to expire.
  std::unique_ptr<Batch<TestTask>> Form(Queue<TestTask>& queue, TimePoint now) {
    TaskList expired;
    auto batch = queue.MaybeFormBatch(now, &expired);
    EXPECT_TRUE(expired.empty());
    return batch;
  }

  // Collects answers of tasks the tests fail.
  Answers answers_;
};

TEST_F(QueueTest, ObeysBatchSizeConstraint) {
  Queue<TestTask> queue(Options(4, microseconds(1000)));
  for (int id = 0; id < 10; ++id) Add(queue, id, kT0);

  auto first = Form(queue, kT0);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->IsClosed());
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{0, 1, 2, 3}));
  auto second = Form(queue, kT0);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(TaskIds(*second), (std::vector<int>{4, 5, 6, 7}));
  // Two left: not full, so they wait for max_queue_delay.
  EXPECT_EQ(Form(queue, kT0), nullptr);
  auto third = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(TaskIds(*third), (std::vector<int>{8, 9}));
  EXPECT_TRUE(queue.empty());
}

TEST_F(QueueTest, RowCapBoundsBatchesAndATaskLargerThanTheCapRunsAlone) {
  Queue<TestTask> queue(Options(8, microseconds(1000)));
  queue.set_row_cap(2);
  EXPECT_EQ(queue.row_cap(), 2);
  Add(queue, 0, kT0);
  Add(queue, 1, kT0);
  Add(queue, 2, kT0, /*size=*/3);
  Add(queue, 3, kT0);
  // Two rows reach the cap: formed at once, without waiting for the delay.
  auto first = Form(queue, kT0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{0, 1}));
  // Three rows are more than the cap: that task alone, and at once.
  auto second = Form(queue, kT0);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(TaskIds(*second), (std::vector<int>{2}));
  // One row under the cap waits for the delay as usual.
  EXPECT_EQ(Form(queue, kT0), nullptr);
  // Lifting the cap (and clamping beyond max_batch_size) restores the usual rules.
  queue.set_row_cap(1000);
  EXPECT_EQ(queue.row_cap(), 8);
  queue.set_row_cap(0);
  EXPECT_EQ(queue.row_cap(), 1);
  auto third = Form(queue, kT0);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(TaskIds(*third), (std::vector<int>{3}));
}

TEST_F(QueueTest, ConsumersShareTheLineEvenly) {
  Queue<TestTask> queue(Options(32, microseconds(0)));
  EXPECT_EQ(queue.consumers(), 1);
  queue.set_consumers(2);
  EXPECT_EQ(queue.consumers(), 2);
  for (int id = 0; id < 9; ++id) Add(queue, id, kT0);
  // Nine queued rows, two consumers: ceil(9 / 2) = 5, then ceil(4 / 2) = 2,
  // then 1 and 1, in arrival order; never the whole line in one batch.
  std::vector<std::vector<int>> batches;
  while (auto batch = Form(queue, kT0)) batches.push_back(TaskIds(*batch));
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{0, 1, 2, 3, 4}, {5, 6}, {7}, {8}}));
  // A task larger than its share still runs, whole and alone.
  Add(queue, 10, kT0, /*size=*/6);
  Add(queue, 11, kT0);
  auto big = Form(queue, kT0);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(TaskIds(*big), (std::vector<int>{10}));
  // 0 or fewer consumers count as one: the whole line again.
  queue.set_consumers(0);
  EXPECT_EQ(queue.consumers(), 1);
  Add(queue, 12, kT0);
  auto rest = Form(queue, kT0);
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(TaskIds(*rest), (std::vector<int>{11, 12}));
}

TEST_F(QueueTest, ConsumerSharesDoNotMakeABatchReadyBeforeTheDelay) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  queue.set_consumers(4);
  for (int id = 0; id < 4; ++id) Add(queue, id, kT0);
  // Each share (one row) is "full", but readiness still follows the delay.
  EXPECT_EQ(Form(queue, kT0 + microseconds(999)), nullptr);
  auto batch = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{0}));
}

TEST_F(QueueTest, MultiRowTasksAreNeverSplitNorOvertaken) {
  Queue<TestTask> queue(Options(8, microseconds(1000)));
  Add(queue, 1, kT0, 5);
  Add(queue, 2, kT0, 5);
  Add(queue, 3, kT0, 1);  // would fit after task 1, but must not jump task 2
  auto first = Form(queue, kT0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{1}));
  EXPECT_EQ(first->size(), 5);
  auto second = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(TaskIds(*second), (std::vector<int>{2, 3}));
  EXPECT_EQ(second->size(), 6);
}

TEST_F(QueueTest, FormsBatchWhenOldestTaskHasWaitedMaxQueueDelay) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  Add(queue, 1, kT0);
  Add(queue, 2, kT0 + microseconds(600));
  EXPECT_EQ(Form(queue, kT0 + microseconds(999)), nullptr);
  EXPECT_EQ(queue.NextWakeup(), kT0 + microseconds(1000));
  auto batch = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{1, 2}));
}

TEST_F(QueueTest, WithZeroDelayFormsBatchFromWhateverIsQueued) {
  Queue<TestTask> queue(Options(32, microseconds(0)));
  Add(queue, 1, kT0);
  Add(queue, 2, kT0);
  EXPECT_LE(queue.NextWakeup(), kT0);
  auto batch = Form(queue, kT0);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{1, 2}));
}

TEST_F(QueueTest, FullQueueRejectsWithUnavailableAndCallerKeepsTask) {
  BatcherOptions options = Options(32, microseconds(1000));
  options.max_queue_size = 2;
  Queue<TestTask> queue(options);
  Add(queue, 1, kT0);
  Add(queue, 2, kT0);
  auto third = MakeTask(3, &answers_);
  Status status = queue.Add(third, kT0);
  EXPECT_TRUE(status.IsUnavailable());
  EXPECT_NE(status.message().find("max_queue_size=2"), std::string::npos) << status.message();
  EXPECT_NE(third, nullptr);
  EXPECT_EQ(queue.num_tasks(), 2);
  // Room again once a batch leaves.
  ASSERT_NE(Form(queue, kT0 + microseconds(1000)), nullptr);
  EXPECT_TRUE(queue.Add(third, kT0).ok());
}

TEST_F(QueueTest, TaskLargerThanMaxBatchSizeIsRejectedNamingBothNumbers) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  auto task = MakeTask(1, &answers_, 40);
  Status status = queue.Add(task, kT0);
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_NE(status.message().find("32"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("40"), std::string::npos) << status.message();
  EXPECT_NE(task, nullptr);
  EXPECT_TRUE(queue.empty());
}

TEST_F(QueueTest, TaskWithNoRowsIsRejected) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  auto task = MakeTask(1, &answers_, 0);
  EXPECT_TRUE(queue.Add(task, kT0).IsInvalidArgument());
  std::unique_ptr<TestTask> null_task;
  EXPECT_TRUE(queue.Add(null_task, kT0).IsInvalidArgument());
  EXPECT_TRUE(queue.empty());
}

TEST_F(QueueTest, ExpiredTaskIsHandedBackAndNeverBatched) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  Add(queue, 1, kT0, 1, "k", kT0 + microseconds(500));
  Add(queue, 2, kT0);
  EXPECT_EQ(queue.NextWakeup(), kT0 + microseconds(500));
  EXPECT_EQ(queue.NextExpiry(), kT0 + microseconds(500));

  TaskList expired;
  EXPECT_EQ(queue.MaybeFormBatch(kT0 + microseconds(500), &expired), nullptr);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->id(), 1);
  EXPECT_EQ(queue.num_tasks(), 1);
  EXPECT_EQ(queue.NextExpiry(), TimePoint::max());

  auto batch = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{2}));
}

TEST_F(QueueTest, ReadyBatchSkipsTasksThatExpiredMeanwhile) {
  Queue<TestTask> queue(Options(2, microseconds(1000)));
  Add(queue, 1, kT0, 1, "k", kT0 + microseconds(10));
  Add(queue, 2, kT0);
  Add(queue, 3, kT0);
  TaskList expired;
  auto batch = queue.MaybeFormBatch(kT0 + microseconds(10), &expired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->id(), 1);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{2, 3}));
}

TEST_F(QueueTest, DefaultTimeoutAppliesToTasksWithoutDeadline) {
  BatcherOptions options = Options(32, microseconds(5000));
  options.default_timeout = microseconds(2000);
  Queue<TestTask> queue(options);
  Add(queue, 1, kT0 + microseconds(100));
  EXPECT_EQ(queue.NextExpiry(), kT0 + microseconds(2100));
  TaskList expired;
  EXPECT_EQ(queue.MaybeFormBatch(kT0 + microseconds(2099), &expired), nullptr);
  EXPECT_TRUE(expired.empty());
  EXPECT_EQ(queue.MaybeFormBatch(kT0 + microseconds(2100), &expired), nullptr);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_TRUE(queue.empty());
}

TEST_F(QueueTest, TaskOwnDeadlineWinsOverDefaultTimeout) {
  BatcherOptions options = Options(32, microseconds(5000));
  options.default_timeout = microseconds(2000);
  Queue<TestTask> queue(options);
  Add(queue, 1, kT0, 1, "k", kT0 + microseconds(4000));
  EXPECT_EQ(queue.NextExpiry(), kT0 + microseconds(4000));
}

TEST_F(QueueTest, TasksWithDifferentKeysAreNotMixed) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  Add(queue, 1, kT0, 1, "a");
  Add(queue, 2, kT0, 1, "b");
  Add(queue, 3, kT0, 1, "a");
  Add(queue, 4, kT0, 1, "b");
  const TimePoint later = kT0 + microseconds(1000);
  auto first = Form(queue, later);
  auto second = Form(queue, later);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(first->batch_key(), "a");
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{1, 3}));
  EXPECT_EQ(second->batch_key(), "b");
  EXPECT_EQ(TaskIds(*second), (std::vector<int>{2, 4}));
  EXPECT_EQ(Form(queue, later), nullptr);
}

TEST_F(QueueTest, OldestTasksKeyIsServedFirst) {
  Queue<TestTask> queue(Options(2, microseconds(1000)));
  Add(queue, 1, kT0, 1, "b");
  Add(queue, 2, kT0, 1, "a");
  Add(queue, 3, kT0, 1, "a");
  Add(queue, 4, kT0, 1, "b");
  // Both keys are full; "b" holds the oldest task, so it goes first even
  // though "a" sorts first.
  auto first = Form(queue, kT0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->batch_key(), "b");
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{1, 4}));
}

TEST_F(QueueTest, ReadyKeyIsNotHeldBackByAnOlderKeyStillWaiting) {
  Queue<TestTask> queue(Options(2, microseconds(1000)));
  Add(queue, 1, kT0, 1, "a");
  Add(queue, 2, kT0, 1, "b");
  Add(queue, 3, kT0, 1, "b");
  auto batch = Form(queue, kT0);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(TaskIds(*batch), (std::vector<int>{2, 3}));
  EXPECT_EQ(Form(queue, kT0), nullptr);
  EXPECT_EQ(queue.NextWakeup(), kT0 + microseconds(1000));
}

TEST_F(QueueTest, PreferredBatchSizeClosesBatchEarly) {
  BatcherOptions options = Options(32, microseconds(1000));
  options.preferred_batch_sizes = {4, 8};
  Queue<TestTask> queue(options);
  for (int id = 0; id < 3; ++id) Add(queue, id, kT0);
  EXPECT_EQ(Form(queue, kT0), nullptr);
  EXPECT_EQ(queue.NextWakeup(), kT0 + microseconds(1000));
  Add(queue, 3, kT0);
  EXPECT_LE(queue.NextWakeup(), kT0);
  auto batch = Form(queue, kT0);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->size(), 4);
}

TEST_F(QueueTest, PreferredBatchSizeTakesTheLargestReachableAndLeavesTheRest) {
  BatcherOptions options = Options(32, microseconds(1000));
  options.preferred_batch_sizes = {8, 4};
  Queue<TestTask> queue(options);
  for (int id = 0; id < 10; ++id) Add(queue, id, kT0);
  auto batch = Form(queue, kT0);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->size(), 8);
  EXPECT_EQ(queue.num_tasks(), 2);
  // The remaining 2 reach no preferred size: they wait for max_queue_delay.
  EXPECT_EQ(Form(queue, kT0), nullptr);
  auto rest = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(rest->size(), 2);
}

TEST_F(QueueTest, PreferredSizeMustBeReachedExactlyByWholeTasks) {
  BatcherOptions options = Options(32, microseconds(1000));
  options.preferred_batch_sizes = {4};
  Queue<TestTask> queue(options);
  Add(queue, 1, kT0, 3);
  Add(queue, 2, kT0, 3);  // 3, 6: never exactly 4
  EXPECT_EQ(Form(queue, kT0), nullptr);
  auto batch = Form(queue, kT0 + microseconds(1000));
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->size(), 6);
}

TEST_F(QueueTest, NextWakeupOfEmptyQueueIsNever) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  EXPECT_EQ(queue.NextWakeup(), TimePoint::max());
  EXPECT_EQ(queue.NextExpiry(), TimePoint::max());
}

TEST_F(QueueTest, FormBatchNowIgnoresDelayAndTakesOldestKey) {
  Queue<TestTask> queue(Options(2, microseconds(1000)));
  Add(queue, 1, kT0, 1, "b");
  Add(queue, 2, kT0, 1, "a");
  Add(queue, 3, kT0, 1, "b");
  Add(queue, 4, kT0, 1, "b");
  TaskList expired;
  auto first = queue.FormBatchNow(kT0, &expired);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(TaskIds(*first), (std::vector<int>{1, 3}));
  auto second = queue.FormBatchNow(kT0, &expired);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(TaskIds(*second), (std::vector<int>{2}));
  auto third = queue.FormBatchNow(kT0, &expired);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(TaskIds(*third), (std::vector<int>{4}));
  EXPECT_EQ(queue.FormBatchNow(kT0, &expired), nullptr);
  EXPECT_TRUE(expired.empty());
}

TEST_F(QueueTest, TakeAllEmptiesTheQueueOldestFirst) {
  Queue<TestTask> queue(Options(32, microseconds(1000)));
  Add(queue, 1, kT0, 1, "b", kT0 + microseconds(5));
  Add(queue, 2, kT0, 1, "a");
  Add(queue, 3, kT0, 1, "b");
  TaskList all = queue.TakeAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->id(), 1);
  EXPECT_EQ(all[1]->id(), 2);
  EXPECT_EQ(all[2]->id(), 3);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.NextWakeup(), TimePoint::max());
}

}  // namespace
}  // namespace mlship::internal
