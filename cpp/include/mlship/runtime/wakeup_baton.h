// WakeupBaton: wakes answered callers one at a time, when the one before
// them lets go of the lock they all need (Python's GIL).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <semaphore.h>

#include "mlship/status.h"

namespace mlship {

struct WakeupBatonOptions {
  // While answered callers wait, a holder that has not passed the baton on
  // for this long loses it: the watchdog thread wakes the next caller. It
  // bounds how long a holder that went off to do something else can hold the
  // others up. Default 500 us; valid range > 0. Most users should leave it.
  std::chrono::microseconds watchdog_period{500};

  // A woken caller keeps the baton after it returns (and passes it on when it
  // next calls) only if it came back within this long after its previous
  // call, i.e. it calls in a loop; otherwise it passes the baton on as it
  // returns. Default 200 us; valid range >= 0 (0: always pass on return).
  std::chrono::microseconds keep_if_back_within{200};

  // Linux: a caller found calling in a loop (as keep_if_back_within judges)
  // is switched from SCHED_OTHER to SCHED_BATCH, and back at its first call
  // after a pause. Why: a thread woken by sem_post preempts the waker, which
  // has just passed the baton and is one system call from sleeping; it runs
  // again only to go to sleep, a context switch for nothing. A SCHED_BATCH
  // thread's wake-up does not preempt (SCHED_BATCH is meant for "workloads
  // that want a deterministic scheduling policy without interactivity
  // causing extra preemptions between the workload's tasks", sched(7)).
  // Measured with 16 Python threads on 2 cores: involuntary context switches
  // went from 0.5 to 0.02 per call, calls/s up 17% (median of 6 A/B runs).
  // Threads under any other policy (real-time, SCHED_IDLE, SCHED_BATCH
  // chosen by their owner) are never touched. A thread that stops calling
  // keeps SCHED_BATCH until its next call. Default true; false leaves
  // callers' scheduling alone.
  bool batch_policy_while_looping = true;

  // OK when every field is in range; otherwise InvalidArgument naming it.
  Status Validate() const;
};

// Callers that wait for answers (e.g. threads in Deployment::Predict), and
// the order in which they are woken.
//
// Why. Python threads can only use an answer once they hold the GIL. Waking
// every answered thread at once makes them queue for it: each wakes, finds
// the GIL taken, sleeps again and is woken once more on its turn. That is
// two context switches per call instead of one, and with many threads on a
// small machine those switches, not the model, bound the calls per second.
//
// How. Answered callers line up behind a baton. Only the holder is awake;
// when it next calls (having let go of the GIL and queued the call), it
// passes the baton to the first answered caller, who finds the GIL free. A
// holder that calls again only after a while passes the baton as its call
// returns instead (see keep_if_back_within), and one that keeps it but does
// not come back (it went off to do something else) loses it to the watchdog
// thread after watchdog_period. A thread that exits passes on the baton it
// holds. While a caller calls in a loop it runs under SCHED_BATCH
// (batch_policy_while_looping).
//
// Thread-safe. The baton must outlive every Wait() on it: a waiting caller
// keeps a shared_ptr to it.
class WakeupBaton : public std::enable_shared_from_this<WakeupBaton> {
 public:
  // One call waiting for its answer. Shared between the waiting thread and
  // the one that answers, which may still be waking it as it returns.
  class Waiter {
   public:
    Waiter();
    ~Waiter();
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

   private:
    friend class WakeupBaton;
    // Posted once, when woken. A POSIX semaphore, not a mutex and condition
    // variable: glibc re-takes a condition variable's mutex marked contended,
    // so every wake-up cost one more futex system call, on the path that
    // bounds calls per second. Not std::atomic::wait (nor the C++20
    // semaphores built on it) either: libstdc++'s spins with sched_yield()
    // before it sleeps, and with many waiting threads on few cores every
    // yield is a context switch, the very cost the baton is there to save.
    sem_t woken_;
    // The baton's token when this waiter was handed it. Written before it is
    // woken, read after.
    uint64_t token_ = 0;
  };

  // Validates `options` and starts the watchdog thread.
  static StatusOr<std::shared_ptr<WakeupBaton>> Create(const WakeupBatonOptions& options);
  // Stops the watchdog and wakes whoever still waits in line.
  ~WakeupBaton();
  WakeupBaton(const WakeupBaton&) = delete;
  WakeupBaton& operator=(const WakeupBaton&) = delete;

  // Called by a thread making a call, after it let go of the shared lock and
  // queued the call, just before its Wait(): passes on the baton it holds, if
  // any (of any WakeupBaton), and notes how soon it came back. The call may
  // be answered before this; it then waits in line like any other.
  static void Arrive();

  // Called once per call, from any thread, when `waiter`'s answer is stored:
  // wakes it at once if nobody holds the baton (it then holds it), else lines
  // it up behind the holder.
  void Answered(const std::shared_ptr<Waiter>& waiter);

  // Blocks until `waiter` is woken. The calling thread then holds the baton
  // until its next Arrive(), or passes it on before returning (see
  // keep_if_back_within).
  void Wait(Waiter& waiter);

  // Callers lined up now (for tests and metrics).
  std::size_t num_lined_up() const;

 private:
  // The calling thread's record of the baton it holds (wakeup_baton.cc).
  friend struct BatonHolder;

  explicit WakeupBaton(const WakeupBatonOptions& options);
  // Passes the baton from the holder of `token`: to the first caller in
  // line, or to nobody. Does nothing if `token` is not the current one (the
  // watchdog took it back).
  void Pass(uint64_t token);
  // Hands the baton to the first caller in line, under a new token, and
  // returns it for waking once mu_ is released. REQUIRES mu_ held and a
  // non-empty line.
  std::shared_ptr<Waiter> HandToNextLocked();
  static void Wake(const std::shared_ptr<Waiter>& waiter);
  void WatchdogLoop();

  // Validated; immutable.
  const WakeupBatonOptions options_;

  mutable std::mutex mu_;
  // Wakes the watchdog: a caller lined up after a quiet spell, or stopping.
  std::condition_variable watchdog_cv_;
  // Answered callers not yet woken, in answer order. GUARDED_BY(mu_).
  std::deque<std::shared_ptr<Waiter>> line_;
  // Whether some woken caller holds the baton. GUARDED_BY(mu_).
  bool held_ = false;
  // Identifies the current holder; changes on every hand-over, so a holder
  // whose baton the watchdog took back cannot pass it. GUARDED_BY(mu_).
  uint64_t token_ = 0;
  // The watchdog sleeps without a timeout (nothing lined up for a whole
  // period). GUARDED_BY(mu_).
  bool watchdog_idle_ = false;
  // Set by the destructor. GUARDED_BY(mu_).
  bool stopping_ = false;
  // Started by Create, joined by the destructor.
  std::thread watchdog_;
};

}  // namespace mlship
