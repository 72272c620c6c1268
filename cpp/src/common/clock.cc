// SystemClock, ClockWaiter and FakeClock.
#include "mlship/clock.h"

namespace mlship {

SystemClock* SystemClock::Default() {
  // Leaked on purpose: batchers may outlive static destruction order.
  static SystemClock* const clock = new SystemClock();
  return clock;
}

void SystemClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            TimePoint deadline) {
  // wait_until(max()) would overflow inside some standard libraries.
  if (deadline == TimePoint::max()) {
    cv.wait(lock);
  } else {
    cv.wait_until(lock, deadline);
  }
}

ClockWaiter::ClockWaiter(Clock* clock, std::mutex* mu, std::condition_variable* cv)
    : clock_(clock), mu_(mu), cv_(cv) {
  clock_->AddWaiter(this);
}

ClockWaiter::~ClockWaiter() { clock_->RemoveWaiter(this); }

void ClockWaiter::WaitUntil(std::unique_lock<std::mutex>& lock, Clock::TimePoint deadline) {
  clock_->WaitUntil(lock, *cv_, deadline);
}

void ClockWaiter::Wake() {
  // Taking the mutex orders this wake-up after any check the waiting thread
  // made under it, so the notification cannot fall between its check and its
  // wait.
  { std::lock_guard<std::mutex> lock(*mu_); }
  cv_->notify_all();
}

FakeClock::FakeClock(TimePoint start) : now_ns_(start.time_since_epoch().count()) {}

Clock::TimePoint FakeClock::Now() const {
  return TimePoint(Duration(now_ns_.load(std::memory_order_acquire)));
}

void FakeClock::Advance(Duration delta) {
  if (delta <= Duration::zero()) return;
  std::lock_guard<std::mutex> lock(waiters_mu_);
  now_ns_.fetch_add(delta.count(), std::memory_order_acq_rel);
  for (ClockWaiter* waiter : waiters_) waiter->Wake();
}

bool FakeClock::BlockUntilSleepingUntil(TimePoint deadline, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(sleepers_mu_);
  return sleepers_cv_.wait_for(lock, timeout,
                               [&] { return sleeping_until_.count(deadline) > 0; });
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline) {
  // Advance() stores the new time before waking waiters, and Wake() takes the
  // caller's mutex, which we hold from this check until cv.wait releases it.
  if (Now() >= deadline) return;
  std::multiset<TimePoint>::iterator entry;
  {
    std::lock_guard<std::mutex> sleepers_lock(sleepers_mu_);
    entry = sleeping_until_.insert(deadline);
  }
  sleepers_cv_.notify_all();
  cv.wait(lock);
  std::lock_guard<std::mutex> sleepers_lock(sleepers_mu_);
  sleeping_until_.erase(entry);
}

void FakeClock::AddWaiter(ClockWaiter* waiter) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  waiters_.insert(waiter);
}

void FakeClock::RemoveWaiter(ClockWaiter* waiter) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  waiters_.erase(waiter);
}

}  // namespace mlship
