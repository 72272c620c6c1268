// DynamicBatcher on a FakeClock: real scheduler thread, no real sleeps.
#include "mlship/batching/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_task.h"

namespace mlship {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using testing::Answers;
using testing::BatchSink;
using testing::kGenerousTimeout;
using testing::MakeTask;
using testing::TestTask;
using Batcher = DynamicBatcher<TestTask>;

BatcherOptions Options(int64_t max_batch_size, microseconds max_queue_delay) {
  BatcherOptions options;
  options.max_batch_size = max_batch_size;
  options.max_queue_delay = max_queue_delay;
  return options;
}

class DynamicBatcherTest : public ::testing::Test {
 protected:
  // A batcher whose batches go to sink_. With `gated`, it may only form a
  // batch while free_slots_ > 0, and each batch takes one slot, like an
  // InstancePool with free_slots_ idle workers.
  std::unique_ptr<Batcher> Make(const BatcherOptions& options, bool gated = false) {
    auto to_sink = sink_.Callback();
    Batcher::BatchCallback on_batch = [this, to_sink](std::unique_ptr<Batch<TestTask>> batch) {
      free_slots_.fetch_sub(1);
      {
        std::lock_guard<std::mutex> lock(threads_mu_);
        batch_threads_.push_back(std::this_thread::get_id());
      }
      to_sink(std::move(batch));
    };
    Batcher::CanAcceptFn can_accept;
    if (gated) can_accept = [this] { return free_slots_.load() > 0; };
    auto batcher = Batcher::Create(options, &clock_, on_batch, can_accept);
    EXPECT_TRUE(batcher.ok()) << batcher.status().ToString();
    return std::move(batcher).value();
  }

  // Schedules task `id`, expecting success.
  void Schedule(Batcher& batcher, int id, int64_t size = 1, const std::string& key = "k",
                Clock::TimePoint deadline = kNoDeadline) {
    auto task = MakeTask(id, &answers_, size, key, deadline);
    Status status = batcher.Schedule(task);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(task, nullptr);
  }

  // The thread that handed batch `i` (which must have arrived) to sink_.
  std::thread::id BatchThread(size_t i) {
    std::lock_guard<std::mutex> lock(threads_mu_);
    return batch_threads_.at(i);
  }

  // Time only moves when a test advances it.
  FakeClock clock_;
  // How tasks were failed.
  Answers answers_;
  // The batches handed off.
  BatchSink sink_;
  // Consumer capacity for gated batchers.
  std::atomic<int> free_slots_{0};
  // Guards batch_threads_.
  std::mutex threads_mu_;
  // The thread each batch in sink_ was handed off on, in order.
  // GUARDED_BY(threads_mu_).
  std::vector<std::thread::id> batch_threads_;
};

// A sink for ScheduleAndDispatch that records each batch and the thread it
// came on. Thread-safe.
class CallerSink {
 public:
  Batcher::BatchCallback Callback() {
    return [this](std::unique_ptr<Batch<TestTask>> batch) {
      std::lock_guard<std::mutex> lock(mu_);
      ids_.push_back(testing::TaskIds(*batch));
      threads_.push_back(std::this_thread::get_id());
    };
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_.size();
  }
  std::vector<int> Ids(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_.at(i);
  }
  std::thread::id Thread(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_.at(i);
  }

 private:
  // Guards the fields below.
  mutable std::mutex mu_;
  // Task ids of each batch received. GUARDED_BY(mu_).
  std::vector<std::vector<int>> ids_;
  // The thread each came on. GUARDED_BY(mu_).
  std::vector<std::thread::id> threads_;
};

TEST_F(DynamicBatcherTest, CreateRejectsInvalidOptionsNamingTheValue) {
  auto batcher = Batcher::Create(Options(0, microseconds(0)), &clock_, sink_.Callback());
  ASSERT_FALSE(batcher.ok());
  EXPECT_EQ(batcher.status().message(), "max_batch_size must be positive; was 0");
}

TEST_F(DynamicBatcherTest, CreateRejectsMissingClockOrCallback) {
  EXPECT_TRUE(Batcher::Create(BatcherOptions(), nullptr, sink_.Callback())
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(Batcher::Create(BatcherOptions(), &clock_, nullptr).status().IsInvalidArgument());
}

TEST_F(DynamicBatcherTest, FormsBatchOnlyOnceOldestTaskHasWaitedMaxQueueDelay) {
  auto batcher = Make(Options(32, microseconds(1000)));
  const Clock::TimePoint t0 = clock_.Now();
  Schedule(*batcher, 1);
  // The scheduler has seen task 1 and chosen to wait for company.
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(t0 + microseconds(1000), kGenerousTimeout));
  EXPECT_EQ(sink_.size(), 0u);
  clock_.Advance(microseconds(400));
  Schedule(*batcher, 2);
  clock_.Advance(microseconds(599));
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(t0 + microseconds(1000), kGenerousTimeout));
  EXPECT_EQ(sink_.size(), 0u);
  clock_.Advance(microseconds(1));
  ASSERT_TRUE(sink_.WaitForBatches(1));
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1, 2}));
}

TEST_F(DynamicBatcherTest, FullBatchIsHandedOffWithoutWaiting) {
  auto batcher = Make(Options(3, microseconds(std::chrono::hours(1))));
  for (int id = 1; id <= 3; ++id) Schedule(*batcher, id);
  ASSERT_TRUE(sink_.WaitForBatches(1));
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(sink_.batch(0)->IsClosed());
}

TEST_F(DynamicBatcherTest, FullQueueRejectsWithUnavailable) {
  BatcherOptions options = Options(32, microseconds(0));
  options.max_queue_size = 2;
  auto batcher = Make(options, /*gated=*/true);  // no free slot: nothing leaves
  Schedule(*batcher, 1);
  Schedule(*batcher, 2);
  auto third = MakeTask(3, &answers_);
  Status status = batcher->Schedule(third);
  EXPECT_TRUE(status.IsUnavailable()) << status.ToString();
  EXPECT_NE(third, nullptr);  // the caller still owns it
  EXPECT_EQ(batcher->num_queued_tasks(), 2);
  batcher->Stop(/*drain=*/false);
}

TEST_F(DynamicBatcherTest, OversizedTaskIsRejectedWithInvalidArgument) {
  auto batcher = Make(Options(8, microseconds(0)));
  auto task = MakeTask(1, &answers_, 9);
  Status status = batcher->Schedule(task);
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_NE(status.message().find("max_batch_size=8"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("has 9"), std::string::npos) << status.message();
  EXPECT_NE(task, nullptr);
}

TEST_F(DynamicBatcherTest, ExpiredTaskIsAnsweredWithDeadlineExceededAndNeverRun) {
  auto batcher = Make(Options(32, microseconds(1000)));
  const Clock::TimePoint t0 = clock_.Now();
  Schedule(*batcher, 1, 1, "k", t0 + microseconds(500));
  Schedule(*batcher, 2);
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(t0 + microseconds(500), kGenerousTimeout));
  clock_.Advance(microseconds(500));
  ASSERT_TRUE(answers_.WaitForCount(1));
  ASSERT_EQ(answers_.For(1).size(), 1u);
  EXPECT_EQ(answers_.For(1)[0].code(), StatusCode::kDeadlineExceeded);
  clock_.Advance(microseconds(500));
  ASSERT_TRUE(sink_.WaitForBatches(1));
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{2}));
  batcher->Stop(/*drain=*/true);
  EXPECT_EQ(sink_.size(), 1u);
  EXPECT_TRUE(answers_.For(2).empty());  // handed off, not failed
}

TEST_F(DynamicBatcherTest, DefaultTimeoutExpiresTasksWithoutDeadline) {
  BatcherOptions options = Options(32, microseconds(10000));
  options.default_timeout = microseconds(300);
  auto batcher = Make(options);
  Schedule(*batcher, 1);
  clock_.Advance(microseconds(300));
  ASSERT_TRUE(answers_.WaitForCount(1));
  EXPECT_EQ(answers_.For(1).at(0).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sink_.size(), 0u);
}

TEST_F(DynamicBatcherTest, TasksExpireEvenWhileConsumerHasNoCapacity) {
  auto batcher = Make(Options(32, microseconds(0)), /*gated=*/true);
  const Clock::TimePoint t0 = clock_.Now();
  Schedule(*batcher, 1, 1, "k", t0 + microseconds(500));
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(t0 + microseconds(500), kGenerousTimeout));
  clock_.Advance(microseconds(500));
  ASSERT_TRUE(answers_.WaitForCount(1));
  EXPECT_EQ(answers_.For(1).at(0).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sink_.size(), 0u);
  EXPECT_EQ(batcher->num_queued_tasks(), 0);
}

TEST_F(DynamicBatcherTest, WithZeroDelayBatchesAsSoonAsWorkerIsFree) {
  auto batcher = Make(Options(32, microseconds(0)), /*gated=*/true);
  const Clock::TimePoint t0 = clock_.Now();
  free_slots_ = 1;
  batcher->NotifyCapacity();
  Schedule(*batcher, 1);
  ASSERT_TRUE(sink_.WaitForBatches(1));
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1}));
  // The only worker is busy: later tasks accumulate instead of leaving one by
  // one. Each has an earlier deadline than the last, so after each Schedule
  // the scheduler wakes, looks, and goes back to sleep until that deadline,
  // which tells the test it has seen the task and formed no batch.
  for (int id = 2; id <= 5; ++id) {
    const Clock::TimePoint deadline = t0 + std::chrono::seconds(10 - id);
    Schedule(*batcher, id, 1, "k", deadline);
    ASSERT_TRUE(clock_.BlockUntilSleepingUntil(deadline, kGenerousTimeout)) << "task " << id;
  }
  EXPECT_EQ(sink_.size(), 1u);
  EXPECT_EQ(batcher->num_queued_tasks(), 4);
  free_slots_ = 1;
  batcher->NotifyCapacity();
  ASSERT_TRUE(sink_.WaitForBatches(2));
  EXPECT_EQ(sink_.Ids(1), (std::vector<int>{2, 3, 4, 5}));
  EXPECT_EQ(batcher->num_queued_tasks(), 0);
}

TEST_F(DynamicBatcherTest, TasksWithDifferentKeysAreNotMixed) {
  auto batcher = Make(Options(32, microseconds(0)), /*gated=*/true);
  Schedule(*batcher, 1, 1, "a");
  Schedule(*batcher, 2, 1, "b");
  Schedule(*batcher, 3, 1, "a");
  Schedule(*batcher, 4, 1, "b");
  free_slots_ = 2;
  batcher->NotifyCapacity();
  ASSERT_TRUE(sink_.WaitForBatches(2));
  EXPECT_EQ(sink_.batch(0)->batch_key(), "a");
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1, 3}));
  EXPECT_EQ(sink_.batch(1)->batch_key(), "b");
  EXPECT_EQ(sink_.Ids(1), (std::vector<int>{2, 4}));
}

TEST_F(DynamicBatcherTest, StopWithDrainHandsOffEverythingQueued) {
  auto batcher = Make(Options(4, microseconds(std::chrono::hours(1))));
  for (int id = 1; id <= 6; ++id) Schedule(*batcher, id);
  batcher->Stop(/*drain=*/true);
  // Handed off before Stop returned, ignoring max_queue_delay.
  ASSERT_EQ(sink_.size(), 2u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(sink_.Ids(1), (std::vector<int>{5, 6}));
  EXPECT_EQ(answers_.count(), 0);
}

TEST_F(DynamicBatcherTest, StopWithDrainWaitsForConsumerCapacity) {
  BatcherOptions options = Options(32, microseconds(0));
  options.max_queue_size = 1 << 20;  // so Unavailable below can only mean "stopping"
  auto batcher = Make(options, /*gated=*/true);
  for (int id = 1; id <= 3; ++id) Schedule(*batcher, id);
  std::future<void> stopped =
      std::async(std::launch::async, [&] { batcher->Stop(/*drain=*/true); });
  // Stop has begun once Schedule is refused; tasks accepted before that are
  // part of what must be drained.
  int64_t probes = 0;
  while (true) {
    auto probe = MakeTask(1000 + static_cast<int>(probes), &answers_);
    Status status = batcher->Schedule(probe);
    if (!status.ok()) {
      ASSERT_TRUE(status.IsUnavailable()) << status.ToString();
      break;
    }
    ++probes;
  }
  // No consumer capacity yet, so the drain cannot have finished.
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  EXPECT_EQ(sink_.size(), 0u);
  free_slots_ = 1 << 20;
  batcher->NotifyCapacity();
  ASSERT_EQ(stopped.wait_for(kGenerousTimeout), std::future_status::ready);
  ASSERT_GE(sink_.size(), 1u);
  const std::vector<int> first = sink_.Ids(0);
  ASSERT_GE(first.size(), 3u);
  EXPECT_EQ(std::vector<int>(first.begin(), first.begin() + 3), (std::vector<int>{1, 2, 3}));
  int64_t handed_off = 0;
  for (size_t i = 0; i < sink_.size(); ++i) handed_off += sink_.batch(i)->num_tasks();
  EXPECT_EQ(handed_off, 3 + probes);
  EXPECT_EQ(answers_.count(), 0);
}

TEST_F(DynamicBatcherTest, StopWithoutDrainFailsQueuedTasksWithUnavailable) {
  auto batcher = Make(Options(32, microseconds(std::chrono::hours(1))));
  for (int id = 1; id <= 3; ++id) Schedule(*batcher, id);
  batcher->Stop(/*drain=*/false);
  EXPECT_EQ(sink_.size(), 0u);
  ASSERT_EQ(answers_.count(), 3);
  for (int id = 1; id <= 3; ++id) {
    ASSERT_EQ(answers_.For(id).size(), 1u);
    EXPECT_TRUE(answers_.For(id)[0].IsUnavailable());
  }
}

TEST_F(DynamicBatcherTest, ScheduleAfterStopReturnsUnavailable) {
  auto batcher = Make(Options(32, microseconds(0)));
  batcher->Stop(/*drain=*/true);
  batcher->Stop(/*drain=*/false);  // a second Stop is harmless
  auto task = MakeTask(1, &answers_);
  EXPECT_TRUE(batcher->Schedule(task).IsUnavailable());
  EXPECT_NE(task, nullptr);
}

TEST_F(DynamicBatcherTest, DestructorDrains) {
  {
    auto batcher = Make(Options(32, microseconds(std::chrono::hours(1))));
    Schedule(*batcher, 1);
    Schedule(*batcher, 2);
  }
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1, 2}));
}

TEST_F(DynamicBatcherTest, ScheduleAndDispatchHandsAFullBatchToTheSinkOnTheCallingThread) {
  auto batcher = Make(Options(2, microseconds(hours(1))));
  CallerSink here;
  auto first = MakeTask(1, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(first, here.Callback()).ok());
  EXPECT_EQ(first, nullptr);
  EXPECT_EQ(here.size(), 0u);  // one row of two, and an hour to wait for more
  auto second = MakeTask(2, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(second, here.Callback()).ok());
  // Formed and handed over before ScheduleAndDispatch returned.
  ASSERT_EQ(here.size(), 1u);
  EXPECT_EQ(here.Ids(0), (std::vector<int>{1, 2}));
  EXPECT_EQ(here.Thread(0), std::this_thread::get_id());
  EXPECT_EQ(sink_.size(), 0u);  // not via the batch callback
  EXPECT_EQ(batcher->num_queued_tasks(), 0);
}

TEST_F(DynamicBatcherTest, ScheduleAndDispatchWithZeroDelayHandsTheBatchOverOnTheCallingThread) {
  auto batcher = Make(Options(32, microseconds(0)));
  CallerSink here;
  auto task = MakeTask(1, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(task, here.Callback()).ok());
  ASSERT_EQ(here.size(), 1u);
  EXPECT_EQ(here.Ids(0), (std::vector<int>{1}));
  EXPECT_EQ(here.Thread(0), std::this_thread::get_id());

  // Without a sink the batch goes to the batch callback, on this thread too.
  auto next = MakeTask(2, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(next).ok());
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{2}));
  EXPECT_EQ(BatchThread(0), std::this_thread::get_id());
  EXPECT_EQ(here.size(), 1u);
}

TEST_F(DynamicBatcherTest, ScheduleAndDispatchWaitsForCapacityAndDispatchReadyFormsTheBatchOnTheCallingThread) {
  auto batcher = Make(Options(32, microseconds(0)), /*gated=*/true);  // no free slot
  CallerSink here;
  auto task = MakeTask(1, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(task, here.Callback()).ok());
  EXPECT_EQ(task, nullptr);
  EXPECT_EQ(here.size(), 0u);
  EXPECT_EQ(batcher->num_queued_tasks(), 1);
  // The scheduler sleeps for lack of capacity (no deadline to wake it), so
  // nothing but this thread's DispatchReady below forms the batch.
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  EXPECT_EQ(sink_.size(), 0u);

  free_slots_ = 1;
  batcher->DispatchReady();
  // Formed before DispatchReady returned, and handed to the batch callback.
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1}));
  EXPECT_EQ(BatchThread(0), std::this_thread::get_id());
  EXPECT_EQ(here.size(), 0u);
  EXPECT_EQ(batcher->num_queued_tasks(), 0);
}

TEST_F(DynamicBatcherTest, DispatchReadyFormsOneBatchAndWakesTheSchedulerForTheRest) {
  auto batcher = Make(Options(32, microseconds(0)), /*gated=*/true);
  auto a = MakeTask(1, &answers_, 1, "a");
  ASSERT_TRUE(batcher->ScheduleAndDispatch(a).ok());
  auto b = MakeTask(2, &answers_, 1, "b");
  ASSERT_TRUE(batcher->ScheduleAndDispatch(b).ok());
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  EXPECT_EQ(sink_.size(), 0u);

  free_slots_ = 2;
  batcher->DispatchReady();
  // One batch formed here, before DispatchReady returned; the scheduler,
  // woken only after it, may already have formed the other.
  ASSERT_GE(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1}));
  EXPECT_EQ(BatchThread(0), std::this_thread::get_id());
  ASSERT_TRUE(sink_.WaitForBatches(2));
  EXPECT_EQ(sink_.Ids(1), (std::vector<int>{2}));
  EXPECT_NE(BatchThread(1), std::this_thread::get_id());
}

TEST_F(DynamicBatcherTest, ScheduleAndDispatchLeavesABatchThatIsNotReadyToTheScheduler) {
  auto batcher = Make(Options(32, microseconds(1000)));
  CallerSink here;
  const Clock::TimePoint t0 = clock_.Now();
  auto task = MakeTask(1, &answers_);
  ASSERT_TRUE(batcher->ScheduleAndDispatch(task, here.Callback()).ok());
  EXPECT_EQ(here.size(), 0u);
  // The scheduler was told and times max_queue_delay.
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(t0 + microseconds(1000), kGenerousTimeout));
  EXPECT_EQ(sink_.size(), 0u);
  clock_.Advance(microseconds(1000));
  ASSERT_TRUE(sink_.WaitForBatches(1));
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{1}));
  EXPECT_NE(BatchThread(0), std::this_thread::get_id());  // the scheduler thread
  EXPECT_EQ(here.size(), 0u);  // the sink is only for this thread's own dispatch
}

// Records eight batches of 1 row taking `one_row_s` and eight of 8 rows
// taking `eight_rows_s`: enough to judge two buckets of the cost model.
void RecordCosts(Batcher& batcher, double one_row_s, double eight_rows_s) {
  for (int i = 0; i < 8; ++i) {
    batcher.RecordBatch(1, one_row_s);
    batcher.RecordBatch(8, eight_rows_s);
  }
}

TEST_F(DynamicBatcherTest, LatencyAwareCapsBatchesWhenBiggerOnesCostAsMuchPerRow) {
  BatcherOptions options = Options(8, microseconds(0));
  options.latency_aware = true;
  auto batcher = Make(options, /*gated=*/true);
  // A compute-bound model: every batch size costs the same per row. Eight
  // batches of 1 row and eight of 8 judge two buckets.
  RecordCosts(*batcher, 0.010, 0.080);
  auto figures = batcher->cost_figures();
  EXPECT_EQ(figures.row_cap, 1);
  EXPECT_EQ(figures.buckets.front().samples, 8);
  EXPECT_EQ(figures.buckets.back().samples, 8);
  // Four queued rows while the consumer is busy, then one free slot: one row
  // per batch, not all four.
  for (int id = 0; id < 4; ++id) Schedule(*batcher, id);
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  free_slots_ = 1;
  batcher->DispatchReady();
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{0}));
  EXPECT_EQ(batcher->num_queued_tasks(), 3);
  // Room for the rest, one row at a time, so the draining stop can finish.
  free_slots_ = 3;
  batcher->Stop(/*drain=*/true);
  ASSERT_EQ(sink_.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(sink_.Ids(i).size(), 1u);
}

TEST_F(DynamicBatcherTest, LatencyAwareKeepsBatchingWhenBatchesPay) {
  BatcherOptions options = Options(8, microseconds(0));
  options.latency_aware = true;
  auto batcher = Make(options, /*gated=*/true);
  // An overhead-bound model: 8 rows cost little more than 1.
  RecordCosts(*batcher, 0.010, 0.012);
  EXPECT_EQ(batcher->cost_figures().row_cap, 8);
  for (int id = 0; id < 4; ++id) Schedule(*batcher, id);
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  free_slots_ = 1;
  batcher->DispatchReady();
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(DynamicBatcherTest, TwoConsumersTakeHalfTheQueueEach) {
  BatcherOptions options = Options(32, microseconds(0));
  options.latency_aware = true;
  auto batcher = Make(options, /*gated=*/true);
  batcher->set_consumers(2);
  // Overhead-bound costs, so the cost model sets no cap of its own: the
  // shares alone bound the batches.
  RecordCosts(*batcher, 0.010, 0.012);
  EXPECT_EQ(batcher->cost_figures().row_cap, 32);
  for (int id = 0; id < 8; ++id) Schedule(*batcher, id);
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  free_slots_ = 2;
  batcher->DispatchReady();
  // The second batch may be handed off by the scheduler thread, so the two
  // can reach the sink in either order.
  const bool two = sink_.WaitForBatches(2);
  EXPECT_TRUE(two);
  EXPECT_EQ(batcher->num_queued_tasks(), 2);
  free_slots_ = 100;  // room for the draining stop, whatever was asserted
  batcher->Stop(/*drain=*/true);
  ASSERT_TRUE(two);
  ASSERT_EQ(sink_.size(), 4u);
  std::set<std::vector<int>> first_two = {sink_.Ids(0), sink_.Ids(1)};
  EXPECT_EQ(first_two, (std::set<std::vector<int>>{{0, 1, 2, 3}, {4, 5}}));
  std::set<std::vector<int>> last_two = {sink_.Ids(2), sink_.Ids(3)};
  EXPECT_EQ(last_two, (std::set<std::vector<int>>{{6}, {7}}));
}

TEST_F(DynamicBatcherTest, WithoutLatencyAwareRecordedCostsChangeNothing) {
  auto batcher = Make(Options(8, microseconds(0)), /*gated=*/true);
  RecordCosts(*batcher, 0.010, 0.080);
  EXPECT_EQ(batcher->cost_figures().row_cap, 8);
  EXPECT_EQ(batcher->cost_figures().buckets.front().samples, 0);
  for (int id = 0; id < 4; ++id) Schedule(*batcher, id);
  ASSERT_TRUE(clock_.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  free_slots_ = 1;
  batcher->DispatchReady();
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.Ids(0), (std::vector<int>{0, 1, 2, 3}));
}

// Producers race Stop(drain): every task is either refused at Schedule (and
// kept by its producer) or answered exactly once, never both, never neither.
TEST(DynamicBatcherStressTest, StopWhileBusyLosesNoTask) {
  FakeClock clock;
  Answers answers;
  auto batcher = Batcher::Create(Options(8, microseconds(0)), &clock,
                                 [](std::unique_ptr<Batch<TestTask>> batch) {
                                   for (int i = 0; i < batch->num_tasks(); ++i) {
                                     batch->mutable_task(i)->Succeed();
                                   }
                                 })
                     .value();
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 500;
  std::atomic<int> accepted{0};
  std::vector<std::vector<int>> refused(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int id = p * kPerProducer + i;
        auto task = MakeTask(id, &answers);
        Status status = batcher->Schedule(task);
        if (status.ok()) {
          accepted.fetch_add(1);
        } else {
          EXPECT_TRUE(status.IsUnavailable()) << status.ToString();
          EXPECT_NE(task, nullptr);
          refused[p].push_back(id);
        }
      }
    });
  }
  ASSERT_TRUE(answers.WaitForCount(100));
  batcher->Stop(/*drain=*/true);
  for (auto& producer : producers) producer.join();

  const auto all = answers.All();
  EXPECT_EQ(static_cast<int>(all.size()), accepted.load());
  for (const auto& [id, statuses] : all) {
    ASSERT_EQ(statuses.size(), 1u) << "task " << id;
    EXPECT_TRUE(statuses[0].ok()) << "task " << id;
  }
  int refused_count = 0;
  for (const auto& ids : refused) {
    refused_count += static_cast<int>(ids.size());
    for (int id : ids) EXPECT_EQ(all.count(id), 0u) << "refused task " << id << " was answered";
  }
  EXPECT_EQ(accepted.load() + refused_count, kProducers * kPerProducer);
}

}  // namespace
}  // namespace mlship
