// WakeupBaton: the line of answered callers, the hand-over, the watchdog.
#include "mlship/runtime/wakeup_baton.h"

#include <cerrno>
#include <string>
#include <utility>

#include "mlship/thread_name.h"
#include "mlship/thread_policy.h"

namespace mlship {

using SteadyClock = std::chrono::steady_clock;

// What one thread knows about the baton it holds and how it calls.
struct BatonHolder {
  // The baton this thread holds, if any, and under which token.
  std::weak_ptr<WakeupBaton> baton;
  uint64_t token = 0;
  // When this thread's last Wait() returned; unset before its first.
  SteadyClock::time_point returned{};
  // How long after that it arrived for its next call; max() when unknown.
  SteadyClock::duration back_after = SteadyClock::duration::max();
  // Whether this record switched the thread to SCHED_BATCH, or found it
  // under a policy it must leave alone, since the thread began calling in a
  // loop (WakeupBatonOptions::batch_policy_while_looping).
  enum class Policy { kUntouched, kSwitchedToBatch, kNotOurs } policy = Policy::kUntouched;
  // The keep_if_back_within of the baton that set `policy`: a call that
  // arrives later than this after the previous one ends the loop.
  SteadyClock::duration loop_gap = SteadyClock::duration::zero();

  // Passes on the baton held, if any.
  void PassOn() {
    std::shared_ptr<WakeupBaton> held = baton.lock();
    baton.reset();
    if (held != nullptr) held->Pass(token);
  }
  // The thread calls in a loop: switches it to SCHED_BATCH (one system call
  // per loop, none per call). Called from Wait, where it matters: a call
  // answered on its own thread never waits.
  void StartLoop(SteadyClock::duration gap) {
    if (policy != Policy::kUntouched) return;
    policy = SwitchThisThreadToBatchPolicy() ? Policy::kSwitchedToBatch : Policy::kNotOurs;
    loop_gap = gap;
  }
  // Back to SCHED_OTHER once a call comes after a pause. Called from
  // Arrive, which every call makes.
  void EndLoopIfPaused() {
    if (policy == Policy::kUntouched || back_after < loop_gap) return;
    if (policy == Policy::kSwitchedToBatch) SwitchThisThreadBackFromBatchPolicy();
    policy = Policy::kUntouched;
  }
  // A thread that exits holding the baton passes it on.
  ~BatonHolder() { PassOn(); }
};

namespace {
thread_local BatonHolder this_thread_holder;
}  // namespace

Status WakeupBatonOptions::Validate() const {
  if (watchdog_period.count() <= 0) {
    return Status::InvalidArgument("watchdog_period must be positive; was " +
                                   std::to_string(watchdog_period.count()) + " us");
  }
  if (keep_if_back_within.count() < 0) {
    return Status::InvalidArgument("keep_if_back_within must be zero or positive; was " +
                                   std::to_string(keep_if_back_within.count()) + " us");
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<WakeupBaton>> WakeupBaton::Create(const WakeupBatonOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::shared_ptr<WakeupBaton> baton(new WakeupBaton(options));
  baton->watchdog_ = std::thread([raw = baton.get()] { raw->WatchdogLoop(); });
  NameThread(baton->watchdog_, "mlship-baton");
  return baton;
}

WakeupBaton::Waiter::Waiter() { sem_init(&woken_, /*pshared=*/0, /*value=*/0); }

WakeupBaton::Waiter::~Waiter() { sem_destroy(&woken_); }

WakeupBaton::WakeupBaton(const WakeupBatonOptions& options) : options_(options) {}

WakeupBaton::~WakeupBaton() {
  std::deque<std::shared_ptr<Waiter>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(line_);
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  for (const auto& waiter : left) Wake(waiter);
}

void WakeupBaton::Arrive() {
  BatonHolder& me = this_thread_holder;
  if (me.returned != SteadyClock::time_point{}) me.back_after = SteadyClock::now() - me.returned;
  me.EndLoopIfPaused();
  me.PassOn();
}

void WakeupBaton::Answered(const std::shared_ptr<Waiter>& waiter) {
  bool wake_now = false;
  bool wake_watchdog = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      wake_now = true;
    } else if (!held_) {
      held_ = true;
      waiter->token_ = ++token_;
      wake_now = true;
    } else {
      line_.push_back(waiter);
      wake_watchdog = watchdog_idle_;
      watchdog_idle_ = false;
    }
  }
  if (wake_now) Wake(waiter);
  if (wake_watchdog) watchdog_cv_.notify_one();
}

void WakeupBaton::Wait(Waiter& waiter) {
  while (sem_wait(&waiter.woken_) != 0 && errno == EINTR) {
  }
  BatonHolder& me = this_thread_holder;
  me.PassOn();  // a baton kept from another WakeupBaton, if Arrive() was skipped
  if (me.back_after < options_.keep_if_back_within) {
    // Calls in a loop: keep the baton, pass it on when next arriving.
    if (options_.batch_policy_while_looping) me.StartLoop(options_.keep_if_back_within);
    me.baton = weak_from_this();
    me.token = waiter.token_;
  } else {
    Pass(waiter.token_);
  }
  me.returned = SteadyClock::now();
}

std::size_t WakeupBaton::num_lined_up() const {
  std::lock_guard<std::mutex> lock(mu_);
  return line_.size();
}

void WakeupBaton::Pass(uint64_t token) {
  std::shared_ptr<Waiter> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!held_ || token != token_) return;
    if (line_.empty()) {
      held_ = false;
      return;
    }
    next = HandToNextLocked();
  }
  Wake(next);
}

std::shared_ptr<WakeupBaton::Waiter> WakeupBaton::HandToNextLocked() {
  std::shared_ptr<Waiter> next = std::move(line_.front());
  line_.pop_front();
  next->token_ = ++token_;
  return next;
}

void WakeupBaton::Wake(const std::shared_ptr<Waiter>& waiter) {
  sem_post(&waiter->woken_);
}

void WakeupBaton::WatchdogLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t seen = token_;
  while (!stopping_) {
    if (line_.empty() && token_ == seen) {
      // Quiet for a whole period: sleep until someone lines up.
      watchdog_idle_ = true;
      watchdog_cv_.wait(lock, [&] { return stopping_ || !watchdog_idle_; });
      seen = token_;
      continue;
    }
    seen = token_;
    watchdog_cv_.wait_for(lock, options_.watchdog_period, [&] { return stopping_; });
    if (stopping_) break;
    if (!line_.empty() && token_ == seen) {
      // Nobody passed the baton for a whole period while callers waited: take
      // it back from its holder and hand it on.
      std::shared_ptr<Waiter> next = HandToNextLocked();
      lock.unlock();
      Wake(next);
      lock.lock();
    }
  }
}

}  // namespace mlship
