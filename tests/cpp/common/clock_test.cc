#include "mlship/clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "test_task.h"

namespace mlship {
namespace {

using std::chrono::microseconds;
using testing::kGenerousTimeout;

TEST(FakeClockTest, TimeStandsStillUntilAdvanced) {
  FakeClock clock;
  const Clock::TimePoint start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(microseconds(250));
  EXPECT_EQ(clock.Now(), start + microseconds(250));
}

TEST(FakeClockTest, NeverGoesBack) {
  FakeClock clock;
  const Clock::TimePoint start = clock.Now();
  clock.Advance(-microseconds(5));
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, StartsAtTheGivenTime) {
  const Clock::TimePoint start = Clock::TimePoint() + std::chrono::seconds(42);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, WaitReturnsAtOnceWhenDeadlineAlreadyPassed) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  ClockWaiter waiter(&clock, &mu, &cv);
  std::unique_lock<std::mutex> lock(mu);
  // Would block forever (nobody notifies) if the deadline were not honoured.
  waiter.WaitUntil(lock, clock.Now());
  waiter.WaitUntil(lock, clock.Now() - microseconds(1));
  SUCCEED();
}

TEST(FakeClockTest, AdvanceWakesAThreadWaitingForThatTime) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  ClockWaiter waiter(&clock, &mu, &cv);
  const Clock::TimePoint deadline = clock.Now() + microseconds(100);

  std::future<Clock::TimePoint> woke_at = std::async(std::launch::async, [&] {
    std::unique_lock<std::mutex> lock(mu);
    while (clock.Now() < deadline) waiter.WaitUntil(lock, deadline);
    return clock.Now();
  });
  ASSERT_TRUE(clock.BlockUntilSleepingUntil(deadline, kGenerousTimeout));
  clock.Advance(microseconds(60));
  // Still short of the deadline: the thread must go back to sleep.
  ASSERT_TRUE(clock.BlockUntilSleepingUntil(deadline, kGenerousTimeout));
  EXPECT_EQ(woke_at.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock.Advance(microseconds(40));
  ASSERT_EQ(woke_at.wait_for(kGenerousTimeout), std::future_status::ready);
  EXPECT_EQ(woke_at.get(), deadline);
}

TEST(FakeClockTest, NotifyWakesAWaiterBeforeItsDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  ClockWaiter waiter(&clock, &mu, &cv);
  bool flag = false;  // GUARDED_BY(mu)

  std::future<void> done = std::async(std::launch::async, [&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!flag) waiter.WaitUntil(lock, Clock::TimePoint::max());
  });
  ASSERT_TRUE(clock.BlockUntilSleepingUntil(Clock::TimePoint::max(), kGenerousTimeout));
  {
    std::lock_guard<std::mutex> lock(mu);
    flag = true;
  }
  cv.notify_all();
  EXPECT_EQ(done.wait_for(kGenerousTimeout), std::future_status::ready);
}

TEST(SystemClockTest, IsMonotonic) {
  SystemClock* clock = SystemClock::Default();
  const Clock::TimePoint a = clock->Now();
  const Clock::TimePoint b = clock->Now();
  EXPECT_LE(a, b);
  EXPECT_EQ(SystemClock::Default(), clock);
}

TEST(SystemClockTest, WaitReturnsAtOnceWhenDeadlineAlreadyPassed) {
  SystemClock* clock = SystemClock::Default();
  std::mutex mu;
  std::condition_variable cv;
  ClockWaiter waiter(clock, &mu, &cv);
  std::unique_lock<std::mutex> lock(mu);
  const Clock::TimePoint before = clock->Now();
  waiter.WaitUntil(lock, before - std::chrono::seconds(1));
  EXPECT_LT(clock->Now() - before, kGenerousTimeout);
}

}  // namespace
}  // namespace mlship
