#include "mlship/runtime/instance_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "batching/test_task.h"

namespace mlship {
namespace {

using testing::kGenerousTimeout;

InstancePoolOptions Options(int instances, int max_pending = 64) {
  InstancePoolOptions options;
  options.instances = instances;
  options.intra_op_threads = 1;
  options.max_pending = max_pending;
  return options;
}

// A one-shot gate that work items wait on, with a bounded wait so a broken
// pool fails the test instead of hanging it.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGenerousTimeout, [&] { return open_; });
  }

 private:
  // Guards open_.
  std::mutex mu_;
  // Signalled by Open().
  std::condition_variable cv_;
  // GUARDED_BY(mu_).
  bool open_ = false;
};

TEST(InstancePoolOptionsTest, DefaultsAreHalfTheCoresWithOneThreadEach) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  InstancePoolOptions options;
  EXPECT_TRUE(options.Validate().ok());
  EXPECT_EQ(options.instances, DefaultInstanceCount());
  EXPECT_EQ(options.intra_op_threads, DefaultIntraOpThreads());
  EXPECT_EQ(options.intra_op_threads, 1);
  EXPECT_EQ(options.instances, std::max(1, cores / 2));
  // Never more threads than cores, and at least half of them busy.
  EXPECT_LE(options.instances * options.intra_op_threads, cores);
  EXPECT_GE(2 * options.instances * options.intra_op_threads, std::min(cores, 2 * (cores / 2)));
}

TEST(InstancePoolOptionsTest, RejectsOutOfRangeValuesNamingThem) {
  InstancePoolOptions options = Options(0);
  EXPECT_EQ(options.Validate().message(), "instances must be positive; was 0");
  options = Options(1);
  options.intra_op_threads = -2;
  EXPECT_EQ(options.Validate().message(), "intra_op_threads must be positive; was -2");
  options = Options(1, -1);
  EXPECT_EQ(options.Validate().message(), "max_pending must be zero or positive; was -1");
  EXPECT_TRUE(InstancePool::Create(Options(0)).status().IsInvalidArgument());
}

TEST(InstancePoolOptionsTest, IdleSpinOutOfRangeIsRejectedNamingIt) {
  InstancePoolOptions options = Options(1);
  EXPECT_EQ(options.idle_spin, std::chrono::microseconds(100));
  options.idle_spin = std::chrono::microseconds(-1);
  EXPECT_EQ(options.Validate().message(), "idle_spin must be between 0 and 10000 us; was -1 us");
  options.idle_spin = std::chrono::microseconds(10001);
  EXPECT_EQ(options.Validate().message(), "idle_spin must be between 0 and 10000 us; was 10001 us");
  Status created = InstancePool::Create(options).status();
  EXPECT_TRUE(created.IsInvalidArgument());
  EXPECT_NE(created.message().find("idle_spin"), std::string::npos) << created.message();
  // Both ends of the range are valid.
  options.idle_spin = std::chrono::microseconds(0);
  EXPECT_TRUE(options.Validate().ok());
  options.idle_spin = std::chrono::milliseconds(10);
  EXPECT_TRUE(options.Validate().ok());
}

TEST(InstancePoolTest, WorkerStartHookRunsOnEachWorkerBeforeCreateReturns) {
  std::mutex mu;
  std::map<int, std::thread::id> hook_threads;  // GUARDED_BY(mu)
  auto pool = InstancePool::Create(Options(3), [&](int index) {
                std::lock_guard<std::mutex> lock(mu);
                hook_threads[index] = std::this_thread::get_id();
              }).value();
  std::map<int, std::thread::id> seen;
  {
    std::lock_guard<std::mutex> lock(mu);
    seen = hook_threads;
  }
  ASSERT_EQ(seen.size(), 3u);
  std::set<std::thread::id> distinct;
  for (const auto& [index, id] : seen) {
    EXPECT_NE(id, std::this_thread::get_id());
    distinct.insert(id);
  }
  EXPECT_EQ(distinct.size(), 3u);

  // Work for instance i runs on the thread whose hook got i.
  std::atomic<int> mismatches{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(pool->Submit([&](int index) {
                      if (seen.at(index) != std::this_thread::get_id()) mismatches.fetch_add(1);
                      done.fetch_add(1);
                    }).ok());
  }
  pool->Shutdown();
  EXPECT_EQ(done.load(), 30);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(InstancePoolTest, RunsAsManyItemsAtOnceAsThereAreInstances) {
  auto pool = InstancePool::Create(Options(3)).value();
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;  // GUARDED_BY(mu)
  std::atomic<int> saw_all_three{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool->Submit([&](int) {
                      std::unique_lock<std::mutex> lock(mu);
                      ++running;
                      cv.notify_all();
                      if (cv.wait_for(lock, kGenerousTimeout, [&] { return running == 3; })) {
                        saw_all_three.fetch_add(1);
                      }
                    }).ok());
  }
  pool->Shutdown();
  EXPECT_EQ(saw_all_three.load(), 3);
}

TEST(InstancePoolTest, FreeCapacityCountsWorkersNotClaimedByWork) {
  auto pool = InstancePool::Create(Options(2)).value();
  EXPECT_EQ(pool->FreeCapacity(), 2);
  Gate gate;
  ASSERT_TRUE(pool->Submit([&](int) { gate.Wait(); }).ok());
  EXPECT_EQ(pool->FreeCapacity(), 1);  // claimed at Submit, before it starts
  ASSERT_TRUE(pool->Submit([&](int) { gate.Wait(); }).ok());
  EXPECT_EQ(pool->FreeCapacity(), 0);
  EXPECT_FALSE(pool->HasFreeCapacity());
  ASSERT_TRUE(pool->Submit([](int) {}).ok());  // waits in max_pending
  EXPECT_EQ(pool->FreeCapacity(), 0);          // never negative

  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;  // GUARDED_BY(mu)
  pool->SetCapacityListener([&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++finished;
    }
    cv.notify_all();
  });
  gate.Open();
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, kGenerousTimeout, [&] { return finished == 3; }));
  }
  EXPECT_EQ(pool->FreeCapacity(), 2);
  pool->Shutdown();  // before the locals the listener uses go away
}

TEST(InstancePoolTest, CapacityListenerRunsOnceCapacityIsFree) {
  auto pool = InstancePool::Create(Options(1)).value();
  std::promise<int> capacity_seen;
  std::atomic<bool> first{true};
  pool->SetCapacityListener([&] {
    if (first.exchange(false)) capacity_seen.set_value(pool->FreeCapacity());
  });
  ASSERT_TRUE(pool->Submit([](int) {}).ok());
  std::future<int> seen = capacity_seen.get_future();
  ASSERT_EQ(seen.wait_for(kGenerousTimeout), std::future_status::ready);
  EXPECT_EQ(seen.get(), 1);
  pool->Shutdown();
}

TEST(InstancePoolTest, SubmitBeyondMaxPendingIsUnavailable) {
  auto pool = InstancePool::Create(Options(1, /*max_pending=*/1)).value();
  Gate gate;
  ASSERT_TRUE(pool->Submit([&](int) { gate.Wait(); }).ok());  // running
  ASSERT_TRUE(pool->Submit([](int) {}).ok());                 // pending
  Status status = pool->Submit([](int) {});
  EXPECT_TRUE(status.IsUnavailable());
  EXPECT_NE(status.message().find("max_pending"), std::string::npos) << status.message();
  gate.Open();
  pool->Shutdown();  // before `gate` goes away
}

TEST(InstancePoolTest, ShutdownFinishesQueuedWorkThenRefusesMore) {
  auto pool = InstancePool::Create(Options(1)).value();
  Gate gate;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool->Submit([&](int) {
                    gate.Wait();
                    ran.fetch_add(1);
                  }).ok());
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(pool->Submit([&](int) { ran.fetch_add(1); }).ok());
  std::future<void> shut = std::async(std::launch::async, [&] { pool->Shutdown(); });
  gate.Open();
  ASSERT_EQ(shut.wait_for(kGenerousTimeout), std::future_status::ready);
  EXPECT_EQ(ran.load(), 10);
  EXPECT_TRUE(pool->Submit([](int) {}).IsUnavailable());
  pool->Shutdown();  // idempotent
}

TEST(InstancePoolTest, ThrowingWorkItemIsContainedAndCounted) {
  auto pool = InstancePool::Create(Options(1)).value();
  std::atomic<bool> ran_after{false};
  ASSERT_TRUE(pool->Submit([](int) { throw std::runtime_error("model bug"); }).ok());
  ASSERT_TRUE(pool->Submit([&](int) { ran_after = true; }).ok());
  pool->Shutdown();
  EXPECT_TRUE(ran_after.load());
  EXPECT_EQ(pool->uncaught_exceptions(), 1);
  EXPECT_EQ(pool->FreeCapacity(), 1);
}

TEST(InstancePoolTest, TryRunHereRunsOnTheCallingThreadThenCallsTheCapacityListener) {
  auto pool = InstancePool::Create(Options(1)).value();
  std::mutex mu;
  std::vector<std::string> events;  // GUARDED_BY(mu)
  std::vector<std::thread::id> listener_threads;  // GUARDED_BY(mu)
  pool->SetCapacityListener([&] {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("listener");
    listener_threads.push_back(std::this_thread::get_id());
  });
  int ran_with_index = 0;
  std::thread::id ran_on;
  int free_while_running = -1;
  InstancePool::WorkItem item = [&](int index) {
    ran_with_index = index;
    ran_on = std::this_thread::get_id();
    free_while_running = pool->FreeCapacity();
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("item");
  };
  ASSERT_TRUE(pool->TryRunHere(item));
  EXPECT_EQ(ran_with_index, InstancePool::kCallerThread);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(free_while_running, 0);  // it counts as outstanding while it runs
  EXPECT_EQ(pool->FreeCapacity(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    // Both happened before TryRunHere returned, on this thread, in order.
    EXPECT_EQ(events, (std::vector<std::string>{"item", "listener"}));
    ASSERT_EQ(listener_threads.size(), 1u);
    EXPECT_EQ(listener_threads[0], std::this_thread::get_id());
  }
  pool->Shutdown();  // before the locals the listener uses go away
}

TEST(InstancePoolTest, TryRunHereLeavesTheItemWhenEveryInstanceIsBusy) {
  auto pool = InstancePool::Create(Options(1)).value();
  Gate gate;
  ASSERT_TRUE(pool->Submit([&](int) { gate.Wait(); }).ok());  // claims the only worker
  int ran_with_index = 0;
  InstancePool::WorkItem item = [&](int index) { ran_with_index = index; };
  EXPECT_FALSE(pool->TryRunHere(item));
  EXPECT_EQ(ran_with_index, 0);  // not run
  ASSERT_TRUE(static_cast<bool>(item));  // not taken: the caller still has it
  item(7);
  EXPECT_EQ(ran_with_index, 7);
  EXPECT_EQ(pool->FreeCapacity(), 0);  // the refusal claimed nothing
  gate.Open();
  pool->Shutdown();  // before `gate` goes away
}

TEST(InstancePoolTest, TryRunHereRefusesEmptyItemsAndAfterShutdown) {
  auto pool = InstancePool::Create(Options(1)).value();
  InstancePool::WorkItem empty;
  EXPECT_FALSE(pool->TryRunHere(empty));
  EXPECT_EQ(pool->FreeCapacity(), 1);
  pool->Shutdown();
  bool ran = false;
  InstancePool::WorkItem item = [&](int) { ran = true; };
  EXPECT_FALSE(pool->TryRunHere(item));
  EXPECT_FALSE(ran);
  EXPECT_TRUE(static_cast<bool>(item));
}

TEST(InstancePoolTest, RejectsEmptyWorkItem) {
  auto pool = InstancePool::Create(Options(1)).value();
  EXPECT_TRUE(pool->Submit(nullptr).IsInvalidArgument());
  EXPECT_EQ(pool->FreeCapacity(), 1);
}

TEST(InstancePoolProducerTest, AFreedWorkerGoesToTheWaitingProducerThatRunsLeast) {
  auto pool = InstancePool::Create(Options(2)).value();
  std::atomic<int> b_called{0};
  auto a = pool->AddProducer([] {});
  auto b = pool->AddProducer([&] { b_called.fetch_add(1); });
  Gate first;
  Gate second;
  std::atomic<int> started{0};
  for (Gate* gate : {&first, &second}) {
    ASSERT_TRUE(a->HasFreeCapacity());
    ASSERT_TRUE(a->Submit([&, gate](int) {
                   started.fetch_add(1);
                   gate->Wait();
                 }).ok());
  }
  for (int i = 0; i < 2000 && started.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Both workers are A's. A asks for more, then B does: both wait.
  EXPECT_FALSE(a->HasFreeCapacity());
  EXPECT_FALSE(b->HasFreeCapacity());
  first.Open();
  for (int i = 0; i < 2000 && b_called.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(b_called.load(), 1) << "B is told a worker is free";
  // A still runs one item, B none: the free worker is B's, even though A asked first.
  EXPECT_FALSE(a->HasFreeCapacity());
  EXPECT_TRUE(b->HasFreeCapacity());
  EXPECT_TRUE(a->HasFreeCapacity()) << "once B has claimed it, nobody is owed it";
  second.Open();
  a->WaitUntilIdle();
  EXPECT_EQ(a->outstanding(), 0);
}

TEST(InstancePoolProducerTest, AFloodedProducerCannotStarveAnother) {
  auto pool = InstancePool::Create(Options(1)).value();
  std::atomic<int> a_runs{0};
  std::atomic<bool> b_done{false};
  std::atomic<bool> stop{false};
  std::unique_ptr<InstancePool::Producer> a;
  // A keeps the one worker busy: each of its items submits the next when it is A's turn.
  std::function<void()> submit_a = [&] {
    if (stop.load() || !a->HasFreeCapacity()) return;
    (void)a->Submit([&](int) {
      a_runs.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
  };
  a = pool->AddProducer([&] { submit_a(); });
  std::unique_ptr<InstancePool::Producer> b;
  std::function<void()> submit_b = [&] {
    if (b_done.load() || !b->HasFreeCapacity()) return;
    (void)b->Submit([&](int) { b_done = true; });
  };
  b = pool->AddProducer([&] { submit_b(); });
  submit_a();
  for (int i = 0; i < 200 && a_runs.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int before = a_runs.load();
  submit_b();  // refused now (A's item runs); B is called back with the next free worker
  for (int i = 0; i < 2000 && !b_done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(b_done.load());
  EXPECT_LE(a_runs.load() - before, 2) << "B ran within a batch or two of A's, not after A's flood";
  stop = true;
  a->WaitUntilIdle();
  b->WaitUntilIdle();
}

}  // namespace
}  // namespace mlship
