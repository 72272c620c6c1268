// DynamicBatcher feeding an InstancePool through the capacity back-pressure,
// wired as the deployment layer will wire them.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "batching/test_task.h"
#include "mlship/batching/dynamic_batcher.h"
#include "mlship/runtime/instance_pool.h"
#include "mlship/runtime/run_with_isolation.h"

namespace mlship {
namespace {

using std::chrono::microseconds;
using testing::Answers;
using testing::kGenerousTimeout;
using testing::MakeTask;
using testing::TaskIds;
using testing::TestTask;
using Batcher = DynamicBatcher<TestTask>;

// A batcher wired to a pool: batches go to the pool only when an instance is
// free, and each finished batch tells the batcher. Every task runs through
// RunWithIsolation; `run` is called per batch on a worker.
struct Pipeline {
  Pipeline(int instances, const BatcherOptions& options, Clock* clock,
           std::function<void(Batch<TestTask>&)> run) {
    InstancePoolOptions pool_options;
    pool_options.instances = instances;
    pool_options.intra_op_threads = 1;
    pool = InstancePool::Create(pool_options).value();
    batcher = Batcher::Create(
                  options, clock,
                  [this, run](std::unique_ptr<Batch<TestTask>> batch) {
                    std::shared_ptr<Batch<TestTask>> shared = std::move(batch);
                    Status status = pool->Submit([shared, run](int) {
                      RunWithIsolation(
                          *shared,
                          [&](Batch<TestTask>& b) {
                            run(b);
                            for (int i = 0; i < b.num_tasks(); ++i) b.mutable_task(i)->Succeed();
                            return Status::Ok();
                          },
                          [](TestTask& task) {
                            task.Succeed();
                            return Status::Ok();
                          });
                    });
                    if (!status.ok()) {
                      for (int i = 0; i < shared->num_tasks(); ++i) {
                        shared->mutable_task(i)->Fail(status);
                      }
                    }
                  },
                  [this] { return pool->HasFreeCapacity(); })
                  .value();
    pool->SetCapacityListener([b = batcher.get()] { b->NotifyCapacity(); });
  }

  // The documented teardown order: drain the batcher into the pool, run it.
  ~Pipeline() {
    batcher->Stop(/*drain=*/true);
    pool->Shutdown();
  }

  // Runs the batches.
  std::unique_ptr<InstancePool> pool;
  // Feeds the pool.
  std::unique_ptr<Batcher> batcher;
};

BatcherOptions ZeroDelay(int64_t max_batch_size) {
  BatcherOptions options;
  options.max_batch_size = max_batch_size;
  options.max_queue_delay = microseconds(0);
  return options;
}

TEST(BatcherPoolTest, AccumulatesABiggerBatchWhileTheOnlyInstanceIsBusy) {
  FakeClock clock;
  Answers answers;
  std::mutex mu;
  std::vector<std::vector<int>> batches;  // GUARDED_BY(mu)
  std::promise<void> first_started;
  std::promise<void> release_first;
  std::shared_future<void> released = release_first.get_future().share();
  {
    Pipeline pipeline(1, ZeroDelay(32), &clock, [&](Batch<TestTask>& batch) {
      bool is_first;
      {
        std::lock_guard<std::mutex> lock(mu);
        batches.push_back(TaskIds(batch));
        is_first = batches.size() == 1;
      }
      if (is_first) {
        first_started.set_value();
        released.wait_for(kGenerousTimeout);
      }
    });
    auto task = MakeTask(1, &answers);
    ASSERT_TRUE(pipeline.batcher->Schedule(task).ok());
    ASSERT_EQ(first_started.get_future().wait_for(kGenerousTimeout), std::future_status::ready);
    // Each task has an earlier deadline than the last; the scheduler going
    // back to sleep until it shows it saw the task and formed no batch.
    const Clock::TimePoint t0 = clock.Now();
    for (int id = 2; id <= 11; ++id) {
      const Clock::TimePoint deadline = t0 + std::chrono::seconds(20 - id);
      auto more = MakeTask(id, &answers, 1, "k", deadline);
      ASSERT_TRUE(pipeline.batcher->Schedule(more).ok());
      ASSERT_TRUE(clock.BlockUntilSleepingUntil(deadline, kGenerousTimeout)) << "task " << id;
    }
    release_first.set_value();
    ASSERT_TRUE(answers.WaitForCount(11));
  }
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], (std::vector<int>{1}));
  EXPECT_EQ(batches[1], (std::vector<int>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(BatcherPoolTest, StopWhileBusyLosesNoTask) {
  FakeClock clock;
  Answers answers;
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  {
    Pipeline pipeline(2, ZeroDelay(8), &clock, [](Batch<TestTask>&) {});
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 500;
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          auto task = MakeTask(p * kPerProducer + i, &answers);
          Status status = pipeline.batcher->Schedule(task);
          if (status.ok()) {
            accepted.fetch_add(1);
          } else {
            EXPECT_TRUE(status.IsUnavailable()) << status.ToString();
            refused.fetch_add(1);
          }
        }
      });
    }
    ASSERT_TRUE(answers.WaitForCount(200));
    pipeline.batcher->Stop(/*drain=*/true);
    for (auto& producer : producers) producer.join();
    EXPECT_EQ(accepted.load() + refused.load(), kProducers * kPerProducer);
  }  // pool shut down: every handed-off batch has run
  const auto all = answers.All();
  EXPECT_EQ(static_cast<int>(all.size()), accepted.load());
  for (const auto& [id, statuses] : all) {
    ASSERT_EQ(statuses.size(), 1u) << "task " << id;
    EXPECT_TRUE(statuses[0].ok()) << "task " << id << ": " << statuses[0].ToString();
  }
}

}  // namespace
}  // namespace mlship
