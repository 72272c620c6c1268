// ShadowRunner: one idle-priority thread, one job at a time.
#include "mlship/deployment/shadow_runner.h"

#include <utility>

#include "mlship/thread_name.h"
#include "mlship/thread_policy.h"

namespace mlship {

ShadowRunner::~ShadowRunner() {
  std::function<void()> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped = std::move(job_);
    job_ = nullptr;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // `dropped` releases what the job held (a version in use) here, outside
  // the lock.
}

bool ShadowRunner::Idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !running_ && !job_;
}

bool ShadowRunner::idle_policy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_policy_;
}

bool ShadowRunner::TryRun(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || running_ || job_) return false;
    job_ = std::move(job);
    if (!thread_.joinable()) {
      thread_ = std::thread(&ShadowRunner::Loop, this);
      NameThread(thread_, "mlship-shadow");
    }
  }
  wake_.notify_one();
  return true;
}

void ShadowRunner::Loop() {
  const bool idle = SwitchThisThreadToIdlePolicy();
  std::unique_lock<std::mutex> lock(mu_);
  idle_policy_ = idle;
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || job_; });
    if (stop_) return;
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    running_ = true;
    lock.unlock();
    job();
    job = nullptr;  // what it held goes before the runner takes the next
    lock.lock();
    running_ = false;
  }
}

}  // namespace mlship
