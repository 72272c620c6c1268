// Where shadow copies run: one thread of their own at idle priority, so a
// copy only ever takes CPU that live requests leave unused.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace mlship {

// One idle-priority thread (SCHED_IDLE on Linux, else nice 19) running one
// job at a time, with no queue: a job offered while another waits or runs
// is refused, so copies back off instead of piling up when there is no
// spare CPU. The thread starts with the first job. Thread-safe.
class ShadowRunner {
 public:
  ShadowRunner() = default;
  // Drops a job that has not started and waits for the one running (as an
  // instance pool waits for its workers).
  ~ShadowRunner();
  ShadowRunner(const ShadowRunner&) = delete;
  ShadowRunner& operator=(const ShadowRunner&) = delete;

  // True when no job runs or waits: one offered now would be taken.
  bool Idle() const;
  // Hands `job` to the thread; false (dropping nothing, running nothing)
  // when it is busy.
  bool TryRun(std::function<void()> job);
  // Whether the thread got SCHED_IDLE (false before the first job, or when
  // only nice 19 was allowed); for tests and the docs' claim.
  bool idle_policy() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::function<void()> job_;  // GUARDED_BY(mu_): offered, not started
  bool running_ = false;       // GUARDED_BY(mu_)
  bool stop_ = false;          // GUARDED_BY(mu_)
  bool idle_policy_ = false;   // GUARDED_BY(mu_)
  std::thread thread_;         // started by the first TryRun, under mu_
};

}  // namespace mlship
