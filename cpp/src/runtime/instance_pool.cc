// InstancePool: worker threads, their queue, and capacity accounting.
#include "mlship/runtime/instance_pool.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "mlship/thread_name.h"

namespace mlship {
namespace {

// Tells the CPU this is a spin-wait loop (saves power, yields to a sibling
// hyper-thread).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The usable core count; hardware_concurrency() may report 0 when unknown.
int CoreCount() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

}  // namespace

int DefaultInstanceCount() { return std::max(1, CoreCount() / 2); }

int DefaultIntraOpThreads() { return 1; }

Status InstancePoolOptions::Validate() const {
  if (instances < 1) {
    return Status::InvalidArgument("instances must be positive; was " + std::to_string(instances));
  }
  if (intra_op_threads < 1) {
    return Status::InvalidArgument("intra_op_threads must be positive; was " +
                                   std::to_string(intra_op_threads));
  }
  if (idle_spin.count() < 0 || idle_spin > std::chrono::milliseconds(10)) {
    return Status::InvalidArgument("idle_spin must be between 0 and 10000 us; was " +
                                   std::to_string(idle_spin.count()) + " us");
  }
  if (max_pending < 0) {
    return Status::InvalidArgument("max_pending must be zero or positive; was " +
                                   std::to_string(max_pending));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<InstancePool>> InstancePool::Create(const InstancePoolOptions& options,
                                                             WorkerStartHook on_worker_start) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<InstancePool> pool(new InstancePool(options));
  // Shared by the workers; each only reads it.
  auto hook = std::make_shared<const WorkerStartHook>(std::move(on_worker_start));
  for (int i = 0; i < options.instances; ++i) {
    pool->workers_.emplace_back([raw = pool.get(), i, hook] { raw->WorkerLoop(i, *hook); });
    NameThread(pool->workers_.back(), "mlship-worker" + std::to_string(i));
  }
  std::unique_lock<std::mutex> lock(pool->mu_);
  pool->started_cv_.wait(lock, [&] { return pool->started_ == options.instances; });
  return pool;
}

InstancePool::InstancePool(const InstancePoolOptions& options) : options_(options) {}

InstancePool::~InstancePool() { Shutdown(); }

Status InstancePool::Submit(WorkItem item) {
  if (!item) return Status::InvalidArgument("cannot submit an empty work item");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return Status::Unavailable("the instance pool is shutting down");
    if (outstanding_ >= options_.instances + options_.max_pending) {
      return Status::Unavailable("all " + std::to_string(options_.instances) +
                                 " instances are busy and " + std::to_string(options_.max_pending) +
                                 " batches already wait (max_pending); retry later");
    }
    ++outstanding_;
    pending_.push_back(std::move(item));
    pending_count_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
  return Status::Ok();
}

int InstancePool::FreeCapacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max(0, options_.instances - outstanding_);
}

void InstancePool::SetCapacityListener(std::function<void()> listener) {
  std::unique_lock<std::shared_mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

void InstancePool::Shutdown() {
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

int64_t InstancePool::uncaught_exceptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return uncaught_exceptions_;
}

void InstancePool::WorkerLoop(int index, const WorkerStartHook& on_worker_start) {
  if (on_worker_start) on_worker_start(index);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++started_;
  }
  started_cv_.notify_all();
  while (true) {
    WorkItem item;
    {
      SpinForWork();
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return !pending_.empty() || shutting_down_; });
      // Shutting down and nothing left: queued work is always finished first.
      if (pending_.empty()) return;
      item = std::move(pending_.front());
      pending_.pop_front();
      pending_count_.fetch_sub(1, std::memory_order_relaxed);
    }
    RunAndRelease(std::move(item), index);
  }
}

void InstancePool::SpinForWork() const {
  if (options_.idle_spin.count() == 0) return;
  const auto until = std::chrono::steady_clock::now() + options_.idle_spin;
  while (pending_count_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
    CpuRelax();
  }
}

bool InstancePool::TryRunHere(WorkItem& item) {
  if (!item) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_ || outstanding_ >= options_.instances) return false;
    ++outstanding_;
  }
  RunAndRelease(std::move(item), kCallerThread);
  return true;
}

void InstancePool::RunAndRelease(WorkItem item, int index) {
  bool threw = false;
  try {
    item(index);
  } catch (...) {
    threw = true;
  }
  // Free what the item captured (e.g. its batch) before announcing capacity.
  item = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --outstanding_;
    if (threw) ++uncaught_exceptions_;
  }
  NotifyCapacityListener();
}

void InstancePool::NotifyCapacityListener() {
  std::shared_lock<std::shared_mutex> lock(listener_mu_);
  if (listener_) listener_();
}

}  // namespace mlship
