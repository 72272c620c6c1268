// WakeupBaton: answered callers are woken at once when nobody holds the
// baton, else lined up behind the holder and woken when it comes back, when
// the watchdog takes the baton back, when the holder's thread exits, or when
// the baton is destroyed.
//
// The baton remembers per thread what the thread holds and how soon it came
// back, so every Wait/Arrive here runs on a thread of its own (TestThread),
// never on the test's main thread, whose record would carry over between
// tests. A waiting thread that never wakes cannot be cleaned up, so liveness
// checks report and abort instead of hanging (AwaitOrAbort).
#include "mlship/runtime/wakeup_baton.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <sched.h>
#include <thread>
#include <utility>
#include <vector>

#include "batching/test_task.h"
#include "mlship/thread_policy.h"

namespace mlship {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::kGenerousTimeout;
using Waiter = WakeupBaton::Waiter;

WakeupBatonOptions Options(std::chrono::microseconds watchdog_period, std::chrono::microseconds keep_if_back_within) {
  WakeupBatonOptions options;
  options.watchdog_period = watchdog_period;
  options.keep_if_back_within = keep_if_back_within;
  return options;
}

std::shared_ptr<WakeupBaton> Make(const WakeupBatonOptions& options) {
  auto baton = WakeupBaton::Create(options);
  EXPECT_TRUE(baton.ok()) << baton.status().ToString();
  return std::move(baton).value();
}

// Waits for `done`, bounded. A thread stuck in Wait cannot be joined, so on
// timeout the test reports what did not finish and aborts instead of hanging.
void AwaitOrAbort(std::future<void>& done, const char* what) {
  if (done.wait_for(kGenerousTimeout) == std::future_status::ready) {
    done.get();
    return;
  }
  ADD_FAILURE() << what << " did not finish within " << kGenerousTimeout.count() << " s";
  std::fflush(stdout);
  std::abort();
}

// Whether `done` is still pending. Only used where the correct behaviour is
// "never ready until the test acts", so a short look cannot be flaky.
bool StillPending(std::future<void>& done) {
  return done.wait_for(milliseconds(20)) == std::future_status::timeout;
}

// A thread that runs the functions given to it, in order, until Exit().
class TestThread {
 public:
  TestThread() : thread_([this] { Loop(); }) {}
  ~TestThread() { Exit(); }
  TestThread(const TestThread&) = delete;
  TestThread& operator=(const TestThread&) = delete;

  // Queues `fn`; the future is ready once it ran.
  std::future<void> Run(std::function<void()> fn) {
    std::packaged_task<void()> task(std::move(fn));
    std::future<void> done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return done;
  }

  // Lets the thread finish what was queued and exit, and joins it.
  void Exit() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exiting_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    while (true) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return exiting_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  // Guards queue_ and exiting_.
  std::mutex mu_;
  // Signalled on Run and Exit.
  std::condition_variable cv_;
  // Functions not yet run. GUARDED_BY(mu_).
  std::deque<std::packaged_task<void()>> queue_;
  // GUARDED_BY(mu_).
  bool exiting_ = false;
  // Declared last: it starts in the constructor and uses the fields above.
  std::thread thread_;
};

// Makes `holder`'s thread hold `baton`: one call, then a second one made
// right after the first returned, so the thread counts as calling in a loop
// (it came back within keep_if_back_within) and keeps the baton after the
// second returns.
void MakeHold(TestThread& holder, const std::shared_ptr<WakeupBaton>& baton) {
  std::future<void> held = holder.Run([baton] {
    auto first = std::make_shared<Waiter>();
    baton->Answered(first);
    baton->Wait(*first);  // first call: nothing known, passes on return
    WakeupBaton::Arrive();
    auto second = std::make_shared<Waiter>();
    baton->Answered(second);
    baton->Wait(*second);  // came back quickly: keeps the baton
  });
  AwaitOrAbort(held, "the holder's two calls");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

// Starts a call waiting on `caller`'s thread and answers it from this
// thread, as a worker would. The future is ready once the caller is woken.
std::future<void> WaitThenAnswer(TestThread& caller, const std::shared_ptr<WakeupBaton>& baton) {
  auto waiter = std::make_shared<Waiter>();
  std::future<void> woken = caller.Run([baton, waiter] { baton->Wait(*waiter); });
  baton->Answered(waiter);
  return woken;
}

// Runs the holder's next call on its thread, in Deployment::Predict's order
// for a call already answered: arrive (passing the baton on), then wait for
// `own`. The future is ready once that Wait returns.
std::future<void> ArriveThenWait(TestThread& holder, const std::shared_ptr<WakeupBaton>& baton,
                                 const std::shared_ptr<Waiter>& own) {
  return holder.Run([baton, own] {
    WakeupBaton::Arrive();
    baton->Wait(*own);
  });
}

// A baton held by `holder`'s thread, as after MakeHold. The watchdog never
// fires here (only the holder can pass the baton on), and coming back within
// a second counts as calling in a loop.
class HeldBatonTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeHold(holder, baton); }

  std::shared_ptr<WakeupBaton> baton = Make(Options(std::chrono::hours(1), std::chrono::seconds(1)));
  // Declared after `baton`, so its thread exits (passing on what it holds) first.
  TestThread holder;
};

TEST(WakeupBatonOptionsTest, DefaultsAreValid) {
  WakeupBatonOptions options;
  EXPECT_TRUE(options.Validate().ok());
  EXPECT_EQ(options.watchdog_period, microseconds(500));
  EXPECT_EQ(options.keep_if_back_within, microseconds(200));
  EXPECT_TRUE(options.batch_policy_while_looping);
  EXPECT_TRUE(Options(microseconds(1), microseconds(0)).Validate().ok());
}

TEST(WakeupBatonOptionsTest, RejectsOutOfRangeValuesNamingThem) {
  EXPECT_EQ(Options(microseconds(0), microseconds(200)).Validate().message(),
            "watchdog_period must be positive; was 0 us");
  EXPECT_EQ(Options(microseconds(-5), microseconds(200)).Validate().message(),
            "watchdog_period must be positive; was -5 us");
  EXPECT_EQ(Options(microseconds(500), microseconds(-1)).Validate().message(),
            "keep_if_back_within must be zero or positive; was -1 us");
  auto baton = WakeupBaton::Create(Options(microseconds(0), microseconds(200)));
  ASSERT_FALSE(baton.ok());
  EXPECT_TRUE(baton.status().IsInvalidArgument());
  EXPECT_NE(baton.status().message().find("watchdog_period"), std::string::npos) << baton.status().message();
}

TEST(WakeupBatonTest, AnAnswerWithNoHolderWakesItsWaiterAtOnce) {
  auto baton = Make(WakeupBatonOptions{});
  TestThread caller;
  std::future<void> woken = WaitThenAnswer(caller, baton);
  AwaitOrAbort(woken, "Wait after an answer with no holder");
  EXPECT_EQ(baton->num_lined_up(), 0u);

  // That caller did not call in a loop, so it passed the baton on as it
  // returned: the next answer is woken at once too, even answered first.
  auto next = std::make_shared<Waiter>();
  baton->Answered(next);
  EXPECT_EQ(baton->num_lined_up(), 0u);
  std::future<void> woken_next = caller.Run([&] { baton->Wait(*next); });
  AwaitOrAbort(woken_next, "Wait for an answer given before it");
}

TEST_F(HeldBatonTest, AnAnswerWhileTheHolderKeepsTheBatonLinesUpUntilTheHolderArrives) {
  TestThread caller;
  std::future<void> woken = WaitThenAnswer(caller, baton);
  EXPECT_EQ(baton->num_lined_up(), 1u);
  EXPECT_TRUE(StillPending(woken));

  // The holder comes back for its next call (having let go of the shared
  // lock) and hands the baton to the caller in line.
  std::future<void> arrived = holder.Run([] { WakeupBaton::Arrive(); });
  AwaitOrAbort(arrived, "the holder's Arrive");
  AwaitOrAbort(woken, "Wait of the caller in line");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

// Deployment::Predict queues its call before it arrives, so a holder's own
// call may be answered while it still holds the baton: the answer lines up
// behind the holder itself, and the holder's Arrive hands the baton to it.
TEST_F(HeldBatonTest, AHolderAnsweredBeforeItArrivesIsWokenByItsOwnArrive) {
  auto own = std::make_shared<Waiter>();
  baton->Answered(own);  // the holder's next call, answered at once
  EXPECT_EQ(baton->num_lined_up(), 1u);
  std::future<void> returned = ArriveThenWait(holder, baton, own);
  AwaitOrAbort(returned, "the holder's Wait for its own answer after its Arrive");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

// Same, with another caller answered first: the baton goes in answer order,
// to that caller, which passes it on as it returns (it does not call in a
// loop), and then to the holder.
TEST_F(HeldBatonTest, AHolderAnsweredBeforeItArrivesWaitsForThoseAnsweredEarlier) {
  TestThread caller;
  std::future<void> caller_woken = WaitThenAnswer(caller, baton);
  auto own = std::make_shared<Waiter>();
  baton->Answered(own);
  EXPECT_EQ(baton->num_lined_up(), 2u);
  EXPECT_TRUE(StillPending(caller_woken));

  std::future<void> returned = ArriveThenWait(holder, baton, own);
  AwaitOrAbort(caller_woken, "Wait of the caller answered first");
  AwaitOrAbort(returned, "the holder's Wait, behind the caller answered first");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

TEST(WakeupBatonTest, WatchdogHandsTheBatonOnWhenTheHolderNeverComesBack) {
  auto baton = Make(Options(microseconds(1000), std::chrono::seconds(1)));
  TestThread holder;
  MakeHold(holder, baton);  // and never calls again

  TestThread caller;
  std::future<void> woken = WaitThenAnswer(caller, baton);
  AwaitOrAbort(woken, "Wait of a caller behind a holder that never came back");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

TEST_F(HeldBatonTest, AHolderThreadThatExitsPassesTheBatonOn) {
  TestThread caller;
  std::future<void> woken = WaitThenAnswer(caller, baton);
  EXPECT_EQ(baton->num_lined_up(), 1u);
  EXPECT_TRUE(StillPending(woken));

  holder.Exit();  // its thread_local record passes the baton as it goes
  AwaitOrAbort(woken, "Wait of the caller in line after the holder exited");
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

TEST_F(HeldBatonTest, DestroyingTheBatonWakesCallersInLine) {
  auto waiter = std::make_shared<Waiter>();
  baton->Answered(waiter);
  ASSERT_EQ(baton->num_lined_up(), 1u);

  // A caller that returns from Wait uses the baton it waited on, so it must
  // not wait on the one being destroyed. It waits for the same Waiter through
  // another baton instead: Wait returns once the Waiter is woken, by whoever.
  auto other = Make(WakeupBatonOptions{});
  TestThread caller;
  std::future<void> woken = caller.Run([&] { other->Wait(*waiter); });
  EXPECT_TRUE(StillPending(woken));

  baton.reset();  // the holder's thread keeps only a weak reference
  AwaitOrAbort(woken, "Wait of a caller in line when the baton was destroyed");
  EXPECT_EQ(other->num_lined_up(), 0u);
}

// Makes calls on `caller`'s thread, one per pause: waits the pause, then
// arrives, is answered (by nobody else, so at once) and waits, in
// Predict's order. Returns the thread's scheduling policy after each call.
std::vector<int> PoliciesAfterCalls(TestThread& caller, const std::shared_ptr<WakeupBaton>& baton,
                                    const std::vector<milliseconds>& pauses, int start_policy = SCHED_OTHER) {
  std::vector<int> policies;
  std::future<void> done = caller.Run([&] {
    const sched_param param{};
    ASSERT_EQ(sched_setscheduler(0, start_policy, &param), 0);
    for (const auto pause : pauses) {
      std::this_thread::sleep_for(pause);
      WakeupBaton::Arrive();
      auto waiter = std::make_shared<Waiter>();
      baton->Answered(waiter);
      baton->Wait(*waiter);
      policies.push_back(ThisThreadPolicy());
    }
  });
  AwaitOrAbort(done, "the caller's calls");
  return policies;
}

// A baton for the policy tests: a call back within 50 ms counts as a loop.
std::shared_ptr<WakeupBaton> PolicyBaton(bool batch_policy_while_looping = true) {
  WakeupBatonOptions options = Options(std::chrono::hours(1), milliseconds(50));
  options.batch_policy_while_looping = batch_policy_while_looping;
  return Make(options);
}

// A caller that comes straight back runs under SCHED_BATCH, so its wake-up
// does not preempt the thread that passed it the baton; after a pause it is
// back under SCHED_OTHER.
TEST(WakeupBatonPolicyTest, ACallerInALoopRunsUnderBatchUntilItPauses) {
  auto baton = PolicyBaton();
  TestThread caller;
  // The first call has no previous one: not (yet) a loop.
  EXPECT_EQ(PoliciesAfterCalls(caller, baton, {milliseconds(0), milliseconds(0), milliseconds(0), milliseconds(120)}),
            (std::vector<int>{SCHED_OTHER, SCHED_BATCH, SCHED_BATCH, SCHED_OTHER}));
}

TEST(WakeupBatonPolicyTest, WithTheOptionOffCallersKeepTheirPolicy) {
  auto baton = PolicyBaton(/*batch_policy_while_looping=*/false);
  TestThread caller;
  EXPECT_EQ(PoliciesAfterCalls(caller, baton, {milliseconds(0), milliseconds(0), milliseconds(0)}),
            (std::vector<int>{SCHED_OTHER, SCHED_OTHER, SCHED_OTHER}));
}

TEST(WakeupBatonPolicyTest, ACallerUnderAPolicyItsOwnerChoseIsLeftAlone) {
  auto baton = PolicyBaton();
  TestThread caller;
  EXPECT_EQ(PoliciesAfterCalls(caller, baton, {milliseconds(0), milliseconds(0), milliseconds(120), milliseconds(0)},
                               SCHED_IDLE),
            (std::vector<int>{SCHED_IDLE, SCHED_IDLE, SCHED_IDLE, SCHED_IDLE}));
}

// Callers that call in a loop, each answered from another thread, as Python
// threads calling Deployment::Predict: none is left waiting.
TEST(WakeupBatonStressTest, ManyLoopingCallersAllComplete) {
  constexpr int kCallers = 8;
  constexpr int kCallsEach = 200;
  auto baton = Make(WakeupBatonOptions{});

  // One answering thread, like a worker: answers the calls in arrival order.
  TestThread answerer;
  std::atomic<int> calls_done{0};
  std::vector<std::unique_ptr<TestThread>> callers;
  std::vector<std::future<void>> finished;
  for (int c = 0; c < kCallers; ++c) {
    callers.push_back(std::make_unique<TestThread>());
    finished.push_back(callers.back()->Run([&] {
      for (int i = 0; i < kCallsEach; ++i) {
        // In Deployment::Predict's order: queue the call, then arrive.
        auto waiter = std::make_shared<Waiter>();
        answerer.Run([&baton, waiter] { baton->Answered(waiter); });
        WakeupBaton::Arrive();
        baton->Wait(*waiter);
        calls_done.fetch_add(1);
      }
    }));
  }
  for (auto& done : finished) AwaitOrAbort(done, "a caller's loop");
  EXPECT_EQ(calls_done.load(), kCallers * kCallsEach);
  for (auto& caller : callers) caller->Exit();  // passes on a baton still held
  answerer.Exit();
  EXPECT_EQ(baton->num_lined_up(), 0u);
}

}  // namespace
}  // namespace mlship
