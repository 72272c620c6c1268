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

}  // namespace

// hardware_concurrency() may report 0 when unknown.
int CoreCount() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

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

// What the pool keeps about one Producer. Shared by the Producer and its
// queued items, so an item can finish after its producer is gone.
struct InstancePool::Producer::State {
  // Called when a worker this producer may get frees up. Immutable.
  std::function<void()> on_capacity;
  // Its items submitted and not yet finished. GUARDED_BY(pool mu_)
  int outstanding = 0;
  // It asked for capacity and was refused. GUARDED_BY(pool mu_)
  bool waiting = false;
  // When it started waiting (the pool's wait_sequence_). GUARDED_BY(pool mu_)
  uint64_t waiting_since = 0;
};

InstancePool::Producer::~Producer() { Unregister(); }

void InstancePool::Producer::Unregister() {
  // Exclusive: waits for a call to on_capacity that is running now.
  std::unique_lock<std::shared_mutex> listeners(pool_->listener_mu_);
  std::lock_guard<std::mutex> lock(pool_->mu_);
  auto& all = pool_->producers_;
  all.erase(std::remove(all.begin(), all.end(), state_), all.end());
}

bool InstancePool::Producer::HasFreeCapacity() {
  std::lock_guard<std::mutex> lock(pool_->mu_);
  return !pool_->shutting_down_ && pool_->ClaimLocked(state_.get());
}

Status InstancePool::Producer::Submit(WorkItem item) { return pool_->SubmitFor(state_, std::move(item)); }

bool InstancePool::Producer::TryRunHere(WorkItem& item) { return pool_->TryRunHereFor(state_.get(), item); }

int InstancePool::Producer::outstanding() const {
  std::lock_guard<std::mutex> lock(pool_->mu_);
  return state_->outstanding;
}

void InstancePool::Producer::WaitUntilIdle() const {
  std::unique_lock<std::mutex> lock(pool_->mu_);
  pool_->producer_idle_cv_.wait(lock, [this] { return state_->outstanding == 0; });
}

std::unique_ptr<InstancePool::Producer> InstancePool::AddProducer(std::function<void()> on_capacity) {
  auto state = std::make_shared<Producer::State>();
  state->on_capacity = std::move(on_capacity);
  std::lock_guard<std::mutex> lock(mu_);
  producers_.push_back(state);
  return std::unique_ptr<Producer>(new Producer(this, std::move(state)));
}

bool InstancePool::ClaimLocked(Producer::State* self) {
  // Waiting producers with a better claim than `self`: fewer items running,
  // or as many and waiting longer. Each is owed one free worker.
  int owed = 0;
  for (const auto& p : producers_) {
    if (p.get() == self || !p->waiting) continue;
    const bool better = self == nullptr || p->outstanding < self->outstanding ||
                        (p->outstanding == self->outstanding && (!self->waiting || p->waiting_since < self->waiting_since));
    if (better) ++owed;
  }
  const int free = options_.instances - outstanding_;
  if (free > owed) {
    if (self != nullptr) self->waiting = false;
    return true;
  }
  if (self != nullptr && !self->waiting) {
    self->waiting = true;
    self->waiting_since = ++wait_sequence_;
  }
  return false;
}

Status InstancePool::Submit(WorkItem item) { return SubmitFor(nullptr, std::move(item)); }

Status InstancePool::SubmitFor(const std::shared_ptr<Producer::State>& producer, WorkItem item) {
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
    if (producer != nullptr) ++producer->outstanding;
    pending_.push_back(Pending{std::move(item), producer});
    pending_count_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
  return Status::Ok();
}

int InstancePool::FreeCapacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  int waiting = 0;
  for (const auto& p : producers_) waiting += p->waiting ? 1 : 0;
  return std::max(0, options_.instances - outstanding_ - waiting);
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
    Pending next;
    {
      SpinForWork();
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return !pending_.empty() || shutting_down_; });
      // Shutting down and nothing left: queued work is always finished first.
      if (pending_.empty()) return;
      next = std::move(pending_.front());
      pending_.pop_front();
      pending_count_.fetch_sub(1, std::memory_order_relaxed);
    }
    RunAndRelease(std::move(next.item), next.producer.get(), index);
  }
}

void InstancePool::SpinForWork() const {
  if (options_.idle_spin.count() == 0) return;
  const auto until = std::chrono::steady_clock::now() + options_.idle_spin;
  while (pending_count_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
    CpuRelax();
  }
}

bool InstancePool::TryRunHere(WorkItem& item) { return TryRunHereFor(nullptr, item); }

bool InstancePool::TryRunHereFor(Producer::State* producer, WorkItem& item) {
  if (!item) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_ || !ClaimLocked(producer)) return false;
    ++outstanding_;
    if (producer != nullptr) ++producer->outstanding;
  }
  RunAndRelease(std::move(item), producer, kCallerThread);
  return true;
}

void InstancePool::RunAndRelease(WorkItem item, Producer::State* producer, int index) {
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
    if (producer != nullptr && --producer->outstanding == 0) producer_idle_cv_.notify_all();
    if (threw) ++uncaught_exceptions_;
  }
  NotifyCapacityListener();
}

void InstancePool::NotifyCapacityListener() {
  std::shared_lock<std::shared_mutex> listeners(listener_mu_);
  if (listener_) listener_();
  std::vector<std::shared_ptr<Producer::State>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (producers_.empty()) return;
    for (const auto& p : producers_) {
      if (p->waiting) waiting.push_back(p);
    }
    // Best claim first: it gets the free worker when it asks.
    std::sort(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
      return a->outstanding != b->outstanding ? a->outstanding < b->outstanding : a->waiting_since < b->waiting_since;
    });
  }
  // Each one asks again through HasFreeCapacity; those that still find no
  // free worker wait for the next one.
  for (const auto& p : waiting) p->on_capacity();
}

}  // namespace mlship
