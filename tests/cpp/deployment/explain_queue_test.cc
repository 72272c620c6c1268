// ExplainQueue: bounded, FIFO, refuses when full or stopped, answers what it
// drops, and its workers run at lowered priority.
#include "mlship/deployment/explain_queue.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

namespace mlship {
namespace {

// A job that blocks its worker until Release(): keeps the queue's state
// still while a test looks at it, without sleeping.
class Gate {
 public:
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(ExplainQueueTest, RejectsOptionsOutOfRangeWithTheValue) {
  ExplainQueueOptions options;
  options.max_queue_size = 0;
  auto queue = ExplainQueue::Create(options);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.status().message(), "explain_queue_size must be in [1, 4096]; was 0");
}

TEST(ExplainQueueTest, FullQueueAnswersUnavailableAndRunsTheRestInOrder) {
  ExplainQueueOptions options;
  options.max_queue_size = 2;
  auto queue = std::move(ExplainQueue::Create(options)).value();
  Gate gate;
  std::promise<void> started;
  std::vector<int> order;
  std::mutex order_mu;
  std::promise<void> second_done;
  ASSERT_TRUE(queue->Submit([&](Status s) {
                     started.set_value();
                     gate.Wait();
                   }).ok());
  started.get_future().wait();  // the worker holds job 0; the queue is empty
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(queue->Submit([&, i](Status s) {
                       ASSERT_TRUE(s.ok());
                       std::lock_guard<std::mutex> lock(order_mu);
                       order.push_back(i);
                       if (i == 2) second_done.set_value();
                     }).ok());
  }
  EXPECT_EQ(queue->queued(), 2);
  EXPECT_EQ(queue->running(), 1);
  bool ran = false;
  Status full = queue->Submit([&](Status) { ran = true; });
  EXPECT_TRUE(full.IsUnavailable());
  EXPECT_NE(full.message().find("full (2 waiting, explain_queue_size)"), std::string::npos) << full.message();
  gate.Release();
  second_done.get_future().wait();
  queue->Stop();
  EXPECT_FALSE(ran);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(ExplainQueueTest, StopAnswersWaitingJobsUnavailableAndRefusesNewOnes) {
  auto queue = std::move(ExplainQueue::Create({})).value();
  Gate gate;
  std::promise<void> started;
  ASSERT_TRUE(queue->Submit([&](Status) {
                     started.set_value();
                     gate.Wait();
                   }).ok());
  started.get_future().wait();
  Status dropped;
  // Stop answers the waiting job before it waits for the running one, so the
  // answer can open the gate the running one waits on.
  ASSERT_TRUE(queue->Submit([&](Status s) {
                     dropped = s;
                     gate.Release();
                   }).ok());
  queue->Stop();
  EXPECT_TRUE(dropped.IsUnavailable()) << dropped.ToString();
  EXPECT_TRUE(queue->Submit([](Status) {}).IsUnavailable());
}

TEST(ExplainQueueTest, WorkersRunAtTheNiceValueAsked) {
  const auto self = static_cast<id_t>(syscall(SYS_gettid));
  const int own = getpriority(PRIO_PROCESS, self);
  if (own >= 19) {
    // Run under `nice -n 19` already: a worker at 19 would prove nothing, so
    // this thread steps back to 0 where it may (root); otherwise the check
    // below compares with what it has.
    setpriority(PRIO_PROCESS, self, 0);
  }
  const int before = getpriority(PRIO_PROCESS, self);
  ExplainQueueOptions options;
  options.nice = 19;
  auto queue = std::move(ExplainQueue::Create(options)).value();
  std::promise<int> nice;
  ASSERT_TRUE(queue->Submit([&](Status) {
                     nice.set_value(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))));
                   }).ok());
  EXPECT_EQ(nice.get_future().get(), 19);
  // ...while the thread that made it keeps its own.
  EXPECT_EQ(getpriority(PRIO_PROCESS, self), before);
  setpriority(PRIO_PROCESS, self, own);
}

TEST(ExplainQueueTest, AJobMayDestroyItsOwnQueue) {
  // The last reference to a version (and so its queue) can drop inside a
  // job; the worker must not join itself.
  auto queue = std::move(ExplainQueue::Create({})).value();
  std::promise<void> done;
  ExplainQueue* raw = queue.release();
  ASSERT_TRUE(raw->Submit([raw, &done](Status) {
                   delete raw;
                   done.set_value();
                 }).ok());
  done.get_future().wait();
}

}  // namespace
}  // namespace mlship
