// ExplainQueue: explanations waiting for their own low-priority worker.
//
// Explanations cost tens to thousands of forward passes each, so they never
// share the inference workers or their queue: each model version that gets
// one starts an ExplainQueue, a bounded FIFO drained by `threads` worker
// threads that run at the lowest CPU priority (nice 19 on Linux), so a flood
// of explanations takes only the CPU that inference leaves idle.
//
// Thread-safety: Submit and Stop are safe for concurrent use.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mlship/status.h"

namespace mlship {

struct ExplainQueueOptions {
  // Explanations that may wait (not counting those running); beyond it
  // Submit answers Unavailable (HTTP 503). Default 4; valid 1..4096.
  int max_queue_size = 4;
  // Worker threads. Default 1; valid 1..64.
  int threads = 1;
  // The nice value the workers set for themselves (Linux: per thread).
  // Default 19, the lowest priority; 0 keeps the server's. Valid 0..19.
  int nice = 19;
  // A name for the worker threads (Linux cuts it to 15 bytes).
  std::string thread_name = "mlship-explain";

  Status Validate() const;
};

class ExplainQueue {
 public:
  // A queued explanation: called once, on a worker, with Ok to run, or with
  // the reason it will not run (Unavailable when the queue stops first).
  using Job = std::function<void(Status)>;

  static StatusOr<std::unique_ptr<ExplainQueue>> Create(ExplainQueueOptions options);
  // Stop().
  ~ExplainQueue();
  ExplainQueue(const ExplainQueue&) = delete;
  ExplainQueue& operator=(const ExplainQueue&) = delete;

  // Queues `job`, or returns Unavailable (queue full, or stopped) without
  // calling it.
  Status Submit(Job job);
  // Jobs waiting now.
  int queued() const;
  // Jobs running now.
  int running() const;
  // Refuses new jobs, answers the waiting ones Unavailable, waits for the
  // running ones and joins the workers. Idempotent.
  void Stop();

 private:
  // What the workers share with the queue. Held by shared_ptr so a worker
  // that ends up destroying the queue (its job released the last reference
  // to the version that owns it) still finds its state: Stop() then detaches
  // that worker instead of joining itself.
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;  // signalled on a new job or on stop
    std::deque<Job> jobs;        // GUARDED_BY(mu)
    int running = 0;             // GUARDED_BY(mu)
    bool stopping = false;       // GUARDED_BY(mu)
  };

  explicit ExplainQueue(ExplainQueueOptions options);
  static void WorkerLoop(std::shared_ptr<State> state, int nice);

  const ExplainQueueOptions options_;
  const std::shared_ptr<State> state_;
  std::vector<std::thread> workers_;  // GUARDED_BY(stop_mu_) after Create
  std::mutex stop_mu_;                // serializes Stop()
};

}  // namespace mlship
