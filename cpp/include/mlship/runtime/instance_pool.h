// InstancePool: the worker threads that run batches, one per model instance.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

#include "mlship/status.h"

namespace mlship {

// The default for InstancePoolOptions::instances on this machine:
// max(1, cores / 2), cores = std::thread::hardware_concurrency().
// E.g. 2 cores -> 1, 4 -> 2, 16 -> 8. The other half of the cores is left to
// whoever produces the requests: the HTTP I/O threads, or the Python threads
// calling predict in-process.
int DefaultInstanceCount();

// The machine's core count: std::thread::hardware_concurrency(), at least 1.
int CoreCount();

// The default for InstancePoolOptions::intra_op_threads: 1. A served model
// mostly sees small batches, whose forward pass gains little from intra-op
// threads but pays an OpenMP wake-up per operator. Measured on 2 cores with
// the digits MLP: 1 instance x 1 thread served ~20% more requests/s under
// wrk and ~60% more in-process predict calls/s than 1 x 2. Big models whose
// matmuls do gain should set it (see docs/serving.md).
int DefaultIntraOpThreads();

// How many model instances run batches, and with how many threads each.
//
// Choosing: keep instances × intra_op_threads close to the number of cores;
// more oversubscribes the CPU and slows everything. Many small instances
// (e.g. 8 × 1) give the best throughput for small models, whose forward pass
// barely benefits from more threads; few wide instances (1 × 16) give the
// lowest latency for big models, whose matmuls do. The default, half the
// cores × 1 thread, favours throughput for the small-batch traffic a server
// mostly sees and leaves cores for the request producers. Each instance holds
// its own copy of the model's working memory, so memory grows with instances.
struct InstancePoolOptions {
  // Worker threads, each running one batch at a time on its own model
  // instance. Default DefaultInstanceCount(); valid range >= 1.
  int instances = DefaultInstanceCount();

  // Threads each instance's forward pass may use (LibTorch's intra-op
  // parallelism). The pool only records it; the engine applies it in the
  // worker-start hook. Default DefaultIntraOpThreads(); valid range >= 1.
  int intra_op_threads = DefaultIntraOpThreads();

  // How long a worker that ran out of work keeps checking for more before it
  // sleeps. Waking a sleeping thread costs a system call on the submitting
  // thread, and on a virtual machine whose CPU went idle, tens of
  // microseconds before it runs: more than a small batch. OpenMP runtimes
  // spin for the same reason. The cost is this much CPU after each busy
  // spell. Measured on 2 cores, 2 Python threads calling predict: 14k calls/s
  // without, 23k with 100 us. Default 100 us; valid range 0 (never spin) to
  // 10 ms.
  std::chrono::microseconds idle_spin{100};

  // Work items that may wait for a free worker beyond those running. Default
  // 64; valid range >= 0. With the batcher's back-pressure a batch is only
  // formed when a worker is free, so this is rarely used; it bounds memory
  // when several producers share the pool. Submit beyond it is Unavailable.
  int max_pending = 64;

  // OK when every field is in range; otherwise InvalidArgument naming the
  // field and its value, e.g. "instances must be positive; was 0".
  Status Validate() const;
};

// A fixed set of worker threads ("instances") that run submitted work items
// in submission order, each on whichever worker is free.
//
// It exposes its free capacity (workers not yet claimed by submitted work)
// and calls a capacity listener after each work item, which is what the
// DynamicBatcher's back-pressure needs: HasFreeCapacity() as its can_accept,
// NotifyCapacity() as the listener.
//
// Thread-safe: every method may be called from any thread, except that
// Shutdown and the destructor must not be called from a work item.
class InstancePool {
 public:
  // One unit of work; receives the index (0..instances-1) of the instance
  // (worker) running it. Should not throw: an escaping exception is caught
  // and counted (uncaught_exceptions()), since nobody could answer for it.
  using WorkItem = std::function<void(int instance_index)>;
  // Runs once on each worker thread before it takes any work, e.g. to set
  // the thread's intra-op thread count. Must not throw.
  using WorkerStartHook = std::function<void(int instance_index)>;

  // Validates `options`, starts the workers, and returns once every worker
  // has run `on_worker_start` (may be null).
  static StatusOr<std::unique_ptr<InstancePool>> Create(const InstancePoolOptions& options,
                                                        WorkerStartHook on_worker_start = nullptr);

  // Shutdown().
  ~InstancePool();
  InstancePool(const InstancePool&) = delete;
  InstancePool& operator=(const InstancePool&) = delete;

  // Queues `item` for the next free worker. Unavailable when instances +
  // max_pending items are already outstanding (running or waiting), or after
  // Shutdown(); InvalidArgument when `item` is empty.
  Status Submit(WorkItem item);

  // The instance index a work item receives when TryRunHere runs it.
  static constexpr int kCallerThread = -1;

  // Runs `item` on the calling thread, now, if a worker is free, and returns
  // true (the item is taken); returns false without running or taking it
  // when every worker is claimed, the pool is shutting down, or `item` is
  // empty. While it runs it counts as outstanding, so
  // at most `instances` items ever run at once, and afterwards the capacity
  // listener is called on this thread. For a caller that would only wait for
  // its item: Submit costs two thread hand-offs (to a worker and back), each
  // a wake-up that on an idle machine takes longer than a small batch.
  bool TryRunHere(WorkItem& item);

  // Workers not claimed by outstanding work: instances minus items running
  // or waiting, minus one for each waiting Producer (it is owed one), never
  // below 0.
  int FreeCapacity() const;
  // FreeCapacity() > 0: a newly submitted item would start at once.
  bool HasFreeCapacity() const { return FreeCapacity() > 0; }

  // Sets the function called, on a worker thread and with no pool lock held,
  // each time a work item finishes (after its capacity is free again).
  // Replaces any previous listener; null removes it. When this returns, no
  // call to the old listener is still running, so its target may then be
  // destroyed. Must not be called from the listener itself.
  void SetCapacityListener(std::function<void()> listener);

  // Stops accepting work, lets the workers finish everything already
  // submitted, and joins them. Idempotent.
  void Shutdown();

  // One producer of work among several sharing the pool (in a server, one
  // model version's batcher). Its HasFreeCapacity is fair: when workers are
  // short, a freed worker goes to the waiting producer running the fewest
  // items (the one waiting longest among equals), so a flooded producer
  // cannot starve the others, yet a producer alone may use every worker.
  // The pool calls `on_capacity` (the producer's DispatchReady) when a
  // worker it may get frees up. Destroying the Producer unregisters it; no
  // call to its `on_capacity` is running once the destructor returns. Must
  // not be destroyed from its own `on_capacity`.
  class Producer {
   public:
    // Unregister().
    ~Producer();
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;

    // True when a worker is free that no waiting producer with a better
    // claim is owed; otherwise records this producer as waiting (it is then
    // called back) and returns false. Cheap: one short lock. For the
    // batcher's can_accept.
    bool HasFreeCapacity();
    // InstancePool::Submit, counted as this producer's.
    Status Submit(WorkItem item);
    // InstancePool::TryRunHere under the fairness rule of HasFreeCapacity.
    bool TryRunHere(WorkItem& item);
    // Items of this producer submitted and not yet finished.
    int outstanding() const;
    // Some worker is idle and no producer is waiting for one.
    bool PoolHasIdleWorker() const { return pool_->FreeCapacity() > 0; }
    // The pool's worker count.
    int pool_instances() const { return pool_->instances(); }
    // Blocks until outstanding() is 0 (e.g. after its batcher stopped, to
    // know nothing of it still runs). Must not be called from a work item.
    void WaitUntilIdle() const;
    // Stops the pool calling `on_capacity`; when this returns, no call is
    // running. Idempotent. Call it before destroying what `on_capacity`
    // touches (the Producer stays usable for its other methods).
    void Unregister();

   private:
    friend class InstancePool;
    struct State;
    Producer(InstancePool* pool, std::shared_ptr<State> state) : pool_(pool), state_(std::move(state)) {}
    InstancePool* const pool_;
    std::shared_ptr<State> state_;
  };

  // Registers a producer (see Producer). `on_capacity` must be cheap and must
  // not call back into the pool's Producer destructor.
  std::unique_ptr<Producer> AddProducer(std::function<void()> on_capacity);

  // The validated options.
  int instances() const { return options_.instances; }
  int intra_op_threads() const { return options_.intra_op_threads; }

  // Work items that threw (and were swallowed) so far.
  int64_t uncaught_exceptions() const;

 private:
  explicit InstancePool(const InstancePoolOptions& options);
  // The body of worker `index`.
  void WorkerLoop(int index, const WorkerStartHook& on_worker_start);
  // Runs `item`, counting an escaping exception, then frees its claim on a
  // worker (and its producer's) and calls the capacity listeners.
  void RunAndRelease(WorkItem item, Producer::State* producer, int index);
  // Spins for up to options_.idle_spin while no item is pending.
  void SpinForWork() const;
  // Calls the capacity listener, if any, and then the waiting producers'
  // `on_capacity`, best claim first.
  void NotifyCapacityListener();
  // Whether `producer` (null: a caller outside any producer) may take a
  // free worker now: more workers are free than waiting producers with a
  // better claim are owed. If not, marks the producer waiting. REQUIRES mu_.
  bool ClaimLocked(Producer::State* producer);
  // Queues `item` for `producer` (may be null). Unavailable when full.
  Status SubmitFor(const std::shared_ptr<Producer::State>& producer, WorkItem item);
  bool TryRunHereFor(Producer::State* producer, WorkItem& item);

  // Validated; immutable.
  const InstancePoolOptions options_;

  // Serializes Shutdown() calls, so exactly one joins the workers.
  std::mutex shutdown_mu_;
  // Guards the fields below up to listener_mu_.
  mutable std::mutex mu_;
  // Signalled when work arrives or shutdown starts. Waited on with mu_.
  std::condition_variable work_cv_;
  // Signalled as workers finish their start hook. Waited on with mu_.
  std::condition_variable started_cv_;
  // Signalled when a producer's last outstanding item finishes. Waited on
  // with mu_.
  mutable std::condition_variable producer_idle_cv_;
  // A queued item and the producer it counts against (null: none).
  struct Pending {
    WorkItem item;
    std::shared_ptr<Producer::State> producer;
  };
  // Items waiting for a worker, oldest first. GUARDED_BY(mu_).
  std::deque<Pending> pending_;
  // Registered producers. GUARDED_BY(mu_).
  std::vector<std::shared_ptr<Producer::State>> producers_;
  // Hands out the order in which producers started waiting. GUARDED_BY(mu_).
  uint64_t wait_sequence_ = 0;
  // pending_.size(), readable without mu_ by spinning workers.
  std::atomic<int> pending_count_{0};
  // Items submitted and not yet finished (waiting + running). GUARDED_BY(mu_).
  int outstanding_ = 0;
  // Workers that have run their start hook. GUARDED_BY(mu_).
  int started_ = 0;
  // Set by Shutdown(); Submit rejects from then on. GUARDED_BY(mu_).
  bool shutting_down_ = false;
  // Work items that threw. GUARDED_BY(mu_).
  int64_t uncaught_exceptions_ = 0;

  // Held shared while calling listener_ or a producer's on_capacity,
  // exclusively while replacing listener_ or removing a producer.
  // Lock order: listener_mu_ -> whatever the listener takes (a batcher's mu_,
  // which may in turn take mu_ through HasFreeCapacity). Never taken with
  // mu_ held.
  std::shared_mutex listener_mu_;
  // GUARDED_BY(listener_mu_).
  std::function<void()> listener_;

  // The workers. Written by Create, joined by Shutdown under shutdown_mu_.
  std::vector<std::thread> workers_;
};

}  // namespace mlship
