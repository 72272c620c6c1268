// DynamicBatcher: a bounded request queue plus the one scheduler thread that
// turns it into batches for a consumer (normally an InstancePool).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mlship/batching/batch.h"
#include "mlship/batching/batch_cost_model.h"
#include "mlship/batching/batcher_options.h"
#include "mlship/clock.h"
#include "mlship/batching/internal/queue.h"
#include "mlship/batching/task.h"
#include "mlship/status.h"
#include "mlship/thread_name.h"

namespace mlship {

// Collects tasks from many threads and hands them, grouped into closed
// batches, to a callback on its own scheduler thread. The batching rules are
// internal::Queue's (see BatcherOptions).
//
// Back-pressure. The optional `can_accept` function tells the scheduler
// whether the consumer could start a batch now (e.g. "an instance is idle":
// InstancePool::HasFreeCapacity). The scheduler forms a batch only when it
// returns true; while it returns false, requests keep accumulating, so that
// when an instance frees up it gets one big batch instead of a backlog of
// small ones (Triton's dynamic batcher behaves the same way). The consumer
// must call NotifyCapacity() or DispatchReady() whenever capacity may have
// come back (e.g. from InstancePool's capacity listener, after each work
// item): the scheduler does not poll. The callback must account for the
// batch synchronously (e.g. InstancePool::Submit), so that can_accept()
// reflects it when the scheduler next asks. Deadlines are enforced while
// waiting for capacity too. Without `can_accept` the consumer is assumed to
// always have room.
//
// Typical wiring. Tear down in this order: batcher->Stop(true) (hands the
// queue to the pool), pool->Shutdown() (runs it), then destroy both:
//
//   auto pool = InstancePool::Create(pool_options).value();
//   auto batcher = DynamicBatcher<MyTask>::Create(
//       options, SystemClock::Default(),
//       [&](std::unique_ptr<Batch<MyTask>> batch) {
//         std::shared_ptr<Batch<MyTask>> shared = std::move(batch);
//         Status s = pool->Submit([shared](int instance) { Run(*shared, instance); });
//         if (s.ok()) return;
//         for (int i = 0; i < shared->num_tasks(); ++i) shared->mutable_task(i)->Fail(s);
//       },
//       [&] { return pool->HasFreeCapacity(); }).value();
//   pool->SetCapacityListener([b = batcher.get()] { b->DispatchReady(); });
//
// Thread-safe: every method may be called from any thread, except that Stop
// and the destructor must not run on the scheduler thread (i.e. from the
// callbacks). The callbacks run without the batcher's lock held, on the
// scheduler thread or, through ScheduleAndDispatch and DispatchReady, on the
// calling thread; `can_accept` runs with it held, so it must be cheap and
// must not call back into the batcher.
template <BatchTask TaskT>
class DynamicBatcher {
 public:
  // Receives each closed batch; runs on the scheduler thread, or on the
  // calling thread of ScheduleAndDispatch / DispatchReady.
  using BatchCallback = std::function<void(std::unique_ptr<Batch<TaskT>>)>;
  // Says whether the consumer can take a batch now.
  using CanAcceptFn = std::function<bool()>;

  // Validates `options` and starts the scheduler thread. `clock` is not owned
  // and must outlive the batcher; `on_batch` is required; `can_accept` may be
  // null (always accept).
  static StatusOr<std::unique_ptr<DynamicBatcher>> Create(const BatcherOptions& options,
                                                          Clock* clock, BatchCallback on_batch,
                                                          CanAcceptFn can_accept = nullptr) {
    RETURN_IF_ERROR(options.Validate());
    if (clock == nullptr) return Status::InvalidArgument("DynamicBatcher needs a clock; got null");
    if (!on_batch) {
      return Status::InvalidArgument("DynamicBatcher needs a batch callback; got an empty one");
    }
    std::unique_ptr<DynamicBatcher> batcher(
        new DynamicBatcher(options, clock, std::move(on_batch), std::move(can_accept)));
    batcher->scheduler_ = std::thread([raw = batcher.get()] { raw->SchedulerLoop(); });
    NameThread(batcher->scheduler_, "mlship-batcher");
    return batcher;
  }

  // Stops with drain (every queued task is handed off), then joins.
  ~DynamicBatcher() { Stop(/*drain=*/true); }

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues `task`, taking ownership only on success (on error the caller
  // still owns it and answers it). InvalidArgument when it has more rows than
  // max_batch_size (or fewer than 1); Unavailable when the queue is full or
  // the batcher is stopping (both retryable elsewhere or later).
  Status Schedule(std::unique_ptr<TaskT>& task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return Status::Unavailable("the model is shutting down and accepts no new requests");
    }
    RETURN_IF_ERROR(queue_.Add(task, clock_->Now()));
    // Wake the scheduler only if this task moves its next wake-up earlier; a
    // scheduler that is awake will look at the queue before sleeping again.
    if (sleeping_ && WakeupTimeLocked(sleeping_without_capacity_) < sleeping_until_) {
      cv_.notify_one();
    }
    return Status::Ok();
  }

  // Queues `task` like Schedule, then, if a batch is ready and the consumer
  // can take it, forms it and hands it off on the calling thread instead of
  // waking the scheduler thread. Every hand-off between threads is a wake-up,
  // and on an idle machine a wake-up takes longer than running a small
  // batch; this saves one per batch. The batch goes to `sink` when given
  // (e.g. to run it on the caller itself), else to the batch callback, so
  // both may run on the caller's thread and must be thread-safe. At most one
  // batch is formed here; the scheduler thread is woken for the rest and
  // still times what is not ready yet (max_queue_delay, deadlines).
  Status ScheduleAndDispatch(std::unique_ptr<TaskT>& task, const BatchCallback& sink = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      return Status::Unavailable("the model is shutting down and accepts no new requests");
    }
    RETURN_IF_ERROR(queue_.Add(task, clock_->Now()));
    DispatchOneLocked(lock, sink ? sink : on_batch_);
    return Status::Ok();
  }

  // Tells the scheduler that the consumer may have capacity again, so it asks
  // `can_accept` anew. Cheap; call it after every finished batch.
  void NotifyCapacity() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_one();
  }

  // Like NotifyCapacity, but forms the next ready batch (if the consumer can
  // take it) and hands it to the batch callback on the calling thread, waking
  // the scheduler only for what is left. A consumer calls it when a batch
  // finishes, so that under load its worker goes straight to the next batch
  // with no thread hand-off.
  void DispatchReady() {
    std::unique_lock<std::mutex> lock(mu_);
    DispatchOneLocked(lock, on_batch_);
  }

  // Stops accepting tasks (Schedule returns Unavailable from now on), then:
  //   drain=true:  forms and hands off every queued task (honouring
  //                can_accept, so the consumer must keep making progress),
  //                failing those whose deadline passes meanwhile;
  //   drain=false: fails every queued task with Unavailable.
  // Returns once the scheduler thread has exited; later calls do nothing.
  // A batch being handed off when Stop is called is still handed off.
  void Stop(bool drain) {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    if (!scheduler_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      drain_ = drain;
      cv_.notify_one();
    }
    scheduler_.join();
    typename internal::Queue<TaskT>::TaskList left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left = queue_.TakeAll();
    }
    for (auto& task : left) {
      task->Fail(Status::Unavailable("the model shut down before this request could run"));
    }
  }

  // Tells the batcher that a batch of `rows` rows took `seconds` to run. With
  // BatcherOptions::latency_aware it updates the cost model and, from it, the
  // largest batch formed from now on; otherwise it does nothing. Call it from
  // the consumer after each batch (any thread).
  void RecordBatch(int64_t rows, double seconds) {
    if (!latency_aware_) return;
    std::lock_guard<std::mutex> lock(mu_);
    cost_model_.Record(rows, seconds);
  }

  // How many consumers run this batcher's batches side by side. With
  // BatcherOptions::latency_aware and n > 1 a batch takes at most
  // ceil(queued rows of its key / n) rows (internal::Queue::set_consumers);
  // plain batching ignores it, so a batch may take the whole line. Default 1.
  void set_consumers(int64_t n) {
    if (!latency_aware_) return;
    std::lock_guard<std::mutex> lock(mu_);
    queue_.set_consumers(n);
  }

  // What the cost model has learned (a copy): the buckets and the cap.
  struct CostFigures {
    std::vector<BatchCostModel::Bucket> buckets;
    int64_t row_cap = 0;
  };
  CostFigures cost_figures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return CostFigures{cost_model_.buckets(), cost_model_.row_cap()};
  }

  // Number of tasks waiting to be batched.
  int64_t num_queued_tasks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.num_tasks();
  }

 private:
  DynamicBatcher(const BatcherOptions& options, Clock* clock, BatchCallback on_batch,
                 CanAcceptFn can_accept)
      : clock_(clock),
        on_batch_(std::move(on_batch)),
        can_accept_(std::move(can_accept)),
        latency_aware_(options.latency_aware),
        queue_(options),
        cost_model_(BatchCostModel::Options{.max_batch_size = options.max_batch_size}) {}

  // Forms a batch if one is ready, under the cost model's cap when latency
  // aware (drain=true ignores max_queue_delay, as at shutdown). REQUIRES mu_.
  std::unique_ptr<Batch<TaskT>> FormLocked(Clock::TimePoint now, bool now_or_never,
                                           typename internal::Queue<TaskT>::TaskList* expired) {
    if (latency_aware_) queue_.set_row_cap(cost_model_.NextBatchCap());
    std::unique_ptr<Batch<TaskT>> batch =
        now_or_never ? queue_.FormBatchNow(now, expired) : queue_.MaybeFormBatch(now, expired);
    if (latency_aware_ && batch != nullptr) cost_model_.BatchFormed();
    return batch;
  }

  // When the scheduler must next look at the queue: the next ready batch or
  // expiry, or only the next expiry when the consumer has no capacity.
  // REQUIRES mu_ held.
  Clock::TimePoint WakeupTimeLocked(bool without_capacity) const {
    return without_capacity ? queue_.NextExpiry() : queue_.NextWakeup();
  }

  // Forms at most one ready batch, if the consumer can take it, and hands it
  // to `sink` without the lock; then wakes the scheduler if the queue now
  // needs it sooner than it planned to wake. REQUIRES mu_ held by `lock`.
  void DispatchOneLocked(std::unique_lock<std::mutex>& lock, const BatchCallback& sink) {
    bool has_capacity = !can_accept_ || can_accept_();
    if (!stopping_ && has_capacity) {
      typename internal::Queue<TaskT>::TaskList expired;
      std::unique_ptr<Batch<TaskT>> batch = FormLocked(clock_->Now(), /*now_or_never=*/false, &expired);
      if (batch != nullptr || !expired.empty()) {
        DeliverUnlocked(lock, expired, std::move(batch), sink);
        has_capacity = !can_accept_ || can_accept_();
      }
    }
    if (sleeping_ && (stopping_ || WakeupTimeLocked(!has_capacity) < sleeping_until_)) cv_.notify_one();
  }

  // Fails `expired` and hands `batch` (if any) to `sink`, with mu_ released
  // meanwhile: that is user code. REQUIRES mu_ held by `lock`; held again on
  // return.
  static void DeliverUnlocked(std::unique_lock<std::mutex>& lock, typename internal::Queue<TaskT>::TaskList& expired,
                              std::unique_ptr<Batch<TaskT>> batch, const BatchCallback& sink) {
    lock.unlock();
    for (auto& task : expired) {
      task->Fail(Status::DeadlineExceeded("the request's deadline passed while it waited in the batch queue"));
    }
    expired.clear();
    if (batch != nullptr) sink(std::move(batch));
    lock.lock();
  }

  // The scheduler thread: forms batches when the consumer can take them,
  // expires overdue tasks, and sleeps until the next thing to do.
  void SchedulerLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!(stopping_ && !drain_)) {
      const Clock::TimePoint now = clock_->Now();
      const bool has_capacity = !can_accept_ || can_accept_();
      typename internal::Queue<TaskT>::TaskList expired;
      std::unique_ptr<Batch<TaskT>> batch;
      if (has_capacity) {
        // Draining ignores max_queue_delay: nothing more will arrive.
        batch = FormLocked(now, /*now_or_never=*/stopping_, &expired);
      } else {
        queue_.RemoveExpired(now, &expired);
      }
      if (batch != nullptr || !expired.empty()) {
        DeliverUnlocked(lock, expired, std::move(batch), on_batch_);
        continue;
      }
      if (stopping_ && queue_.empty()) break;
      sleeping_ = true;
      sleeping_without_capacity_ = !has_capacity;
      sleeping_until_ = WakeupTimeLocked(sleeping_without_capacity_);
      waiter_.WaitUntil(lock, sleeping_until_);
      sleeping_ = false;
    }
  }

  // Not owned; outlives the batcher.
  Clock* const clock_;
  // Receives closed batches on the scheduler thread. Immutable.
  const BatchCallback on_batch_;
  // Whether the consumer can take a batch; null = always. Immutable; called
  // with mu_ held.
  const CanAcceptFn can_accept_;

  // Serializes Stop() calls, so exactly one joins the scheduler.
  std::mutex stop_mu_;
  // Guards everything below except scheduler_. Lock order: stop_mu_ -> mu_;
  // a FakeClock's lock -> mu_ (through waiter_).
  mutable std::mutex mu_;
  // BatcherOptions::latency_aware. Immutable.
  const bool latency_aware_;
  // Signalled on new work that matters, capacity, and stop. Waited on with mu_.
  std::condition_variable cv_;
  // Sleeps on clock_ with mu_ and cv_; declared after them so it is
  // destroyed first.
  ClockWaiter waiter_{clock_, &mu_, &cv_};
  // The batching policy and the queued tasks. GUARDED_BY(mu_).
  internal::Queue<TaskT> queue_;
  // What batch sizes cost, when latency aware. GUARDED_BY(mu_).
  BatchCostModel cost_model_;
  // Set once by Stop(); Schedule rejects from then on. GUARDED_BY(mu_).
  bool stopping_ = false;
  // With stopping_: hand off the queue (true) or fail it (false).
  // GUARDED_BY(mu_).
  bool drain_ = true;
  // True while the scheduler waits in waiter_. GUARDED_BY(mu_).
  bool sleeping_ = false;
  // While sleeping_: whether it sleeps for lack of capacity (then only an
  // expiry or NotifyCapacity should wake it). GUARDED_BY(mu_).
  bool sleeping_without_capacity_ = false;
  // While sleeping_: the time it will wake up by itself. GUARDED_BY(mu_).
  Clock::TimePoint sleeping_until_ = Clock::TimePoint::max();
  // The scheduler thread. Started by Create, joined by Stop under stop_mu_.
  std::thread scheduler_;
};

}  // namespace mlship
