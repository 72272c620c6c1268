// Clock: injectable time for every policy that depends on it (batching,
// monitoring, fallback, swaps), so their tests run on a fake clock and never
// sleep.
//
// A thread that waits for "a time point, or an event" does so through a
// ClockWaiter bound to its own mutex and condition variable. On SystemClock
// that is a plain timed wait; on FakeClock time only moves in Advance(), which
// wakes every ClockWaiter so it can look at the new time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

namespace mlship {

class ClockWaiter;

// The source of "now" for mlship's time-dependent policies.
//
// Implementations are thread-safe. Now() is monotonic: it never goes back.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  // The current time. Cheap: called on every Schedule().
  virtual TimePoint Now() const = 0;

 protected:
  friend class ClockWaiter;

  // Blocks on `cv` (releasing `lock` while blocked) until `cv` is notified or
  // Now() >= `deadline`; may also return spuriously. TimePoint::max() means
  // "no deadline". Called only through ClockWaiter::WaitUntil.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline) = 0;
  // Starts / stops telling `waiter` about jumps of time that a timed wait
  // would not notice. Called from ClockWaiter's constructor and destructor.
  virtual void AddWaiter(ClockWaiter* waiter) = 0;
  virtual void RemoveWaiter(ClockWaiter* waiter) = 0;
};

// The real monotonic clock (std::chrono::steady_clock).
class SystemClock final : public Clock {
 public:
  // A process-wide instance; never destroyed.
  static SystemClock* Default();

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }

 protected:
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;
  // Real time moves on its own, so there is nothing to tell waiters.
  void AddWaiter(ClockWaiter*) override {}
  void RemoveWaiter(ClockWaiter*) override {}
};

// Lets one thread sleep, on its own condition variable, until a time on a
// Clock or until someone notifies that condition variable.
//
// Construct it after the mutex and condition variable it names and destroy it
// before them (declare it after them). Neither the constructor nor the
// destructor may run while `*mu` is held: they take the clock's own lock,
// which the clock holds while calling Wake(), which takes `*mu`.
class ClockWaiter {
 public:
  ClockWaiter(Clock* clock, std::mutex* mu, std::condition_variable* cv);
  ~ClockWaiter();
  ClockWaiter(const ClockWaiter&) = delete;
  ClockWaiter& operator=(const ClockWaiter&) = delete;

  // Requires `lock` to hold `*mu`. Returns when `*cv` is notified, when the
  // clock reaches `deadline`, or spuriously: callers re-check their state in
  // a loop, as with any condition variable.
  void WaitUntil(std::unique_lock<std::mutex>& lock, Clock::TimePoint deadline);

  // Wakes the waiting thread, if any. Takes `*mu` briefly, so a thread that
  // has just decided to sleep cannot miss the wake-up. Called by clocks whose
  // time jumps.
  void Wake();

 private:
  // The clock this waiter sleeps on; not owned.
  Clock* const clock_;
  // The mutex guarding the waiting thread's state; not owned.
  std::mutex* const mu_;
  // The condition variable the waiting thread blocks on; not owned.
  std::condition_variable* const cv_;
};

// A clock for tests: time stands still until Advance() moves it.
//
// Thread-safe. Now() is a lock-free atomic load, so it may be called with any
// other lock held.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary non-zero time, so "time 0" bugs show.
  explicit FakeClock(TimePoint start = TimePoint() + std::chrono::hours(1));

  TimePoint Now() const override;

  // Moves time forward by `delta` (negative deltas are ignored: a steady clock
  // never goes back) and wakes every ClockWaiter so it can act on the new time.
  // Must not be called with a waiter's mutex held.
  void Advance(Duration delta);

  // Blocks until some thread is asleep in WaitUntil with exactly `deadline`,
  // for at most `timeout` of real time (a bound that only matters when a test
  // is about to fail). Returns whether such a sleeper was seen. Lets a test
  // know the scheduler has looked at the queue and decided to wait.
  bool BlockUntilSleepingUntil(TimePoint deadline, std::chrono::milliseconds timeout);

 protected:
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;
  void AddWaiter(ClockWaiter* waiter) override;
  void RemoveWaiter(ClockWaiter* waiter) override;

 private:
  // Nanoseconds since the steady_clock epoch. Atomic so Now() takes no lock.
  std::atomic<int64_t> now_ns_;

  // Serializes Advance() with waiter (un)registration. Held while calling
  // ClockWaiter::Wake(), so lock order is waiters_mu_ -> a waiter's mutex.
  std::mutex waiters_mu_;
  // The waiters to wake on Advance(). GUARDED_BY(waiters_mu_).
  std::set<ClockWaiter*> waiters_;

  // A leaf lock (nothing else is taken under it) for the sleeper bookkeeping.
  std::mutex sleepers_mu_;
  // Signalled whenever a thread starts sleeping. Waited on with sleepers_mu_.
  std::condition_variable sleepers_cv_;
  // The deadlines of the threads asleep in WaitUntil right now, one entry per
  // thread. GUARDED_BY(sleepers_mu_).
  std::multiset<TimePoint> sleeping_until_;
};

}  // namespace mlship
