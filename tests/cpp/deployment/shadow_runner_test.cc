// ShadowRunner: one job at a time on an idle-priority thread, refused while
// busy, and the thread waited for on destruction.
#include "mlship/deployment/shadow_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "mlship/thread_name.h"
#include "mlship/thread_policy.h"

namespace mlship {
namespace {

// Waits (bounded) until `runner` has no job.
bool WaitIdle(const ShadowRunner& runner) {
  for (int i = 0; i < 2000 && !runner.Idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return runner.Idle();
}

TEST(ShadowRunnerTest, RunsOneJobAtATimeAndRefusesWhileBusy) {
  ShadowRunner runner;
  EXPECT_TRUE(runner.Idle());
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(runner.TryRun([opened, &started] {
    started.set_value();
    opened.wait();
  }));
  started.get_future().wait();
  EXPECT_FALSE(runner.Idle());
  std::atomic<int> ran{0};
  EXPECT_FALSE(runner.TryRun([&ran] { ++ran; })) << "no queue: a copy offered while one runs is refused";
  gate.set_value();
  ASSERT_TRUE(WaitIdle(runner));
  ASSERT_TRUE(runner.TryRun([&ran] { ++ran; }));
  ASSERT_TRUE(WaitIdle(runner));
  EXPECT_EQ(ran.load(), 1);
}

TEST(ShadowRunnerTest, JobsRunOnANamedThreadAtIdlePriority) {
  ShadowRunner runner;
  std::promise<std::pair<int, std::string>> seen;
  ASSERT_TRUE(runner.TryRun([&seen] { seen.set_value({ThisThreadPolicy(), ThisThreadName()}); }));
  auto [policy, name] = seen.get_future().get();
  EXPECT_EQ(name, "mlship-shadow");
#if defined(__linux__)
  EXPECT_EQ(policy, SCHED_IDLE);
  EXPECT_TRUE(runner.idle_policy());
#endif
  EXPECT_NE(ThisThreadPolicy(), policy == SCHED_IDLE ? SCHED_IDLE : -2) << "the caller keeps its own policy";
}

TEST(ShadowRunnerTest, DestructionWaitsForTheRunningJobAndReleasesWhatItHeld) {
  auto runner = std::make_unique<ShadowRunner>();
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::promise<void> started;
  std::atomic<bool> finished{false};
  ASSERT_TRUE(runner->TryRun([held = std::move(held), opened, &started, &finished] {
    started.set_value();
    opened.wait();
    finished = true;
  }));
  started.get_future().wait();
  auto destroyed = std::async(std::launch::async, [&runner] { runner.reset(); });
  EXPECT_EQ(destroyed.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "the runner must not go while its job runs";
  gate.set_value();
  destroyed.get();
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(watch.expired()) << "the job's captures are released with it";
}

}  // namespace
}  // namespace mlship
