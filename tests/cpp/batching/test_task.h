// Test helpers for the batching and runtime tests: a BatchTask that records
// its answers, and a sink that collects the batches a batcher hands off.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mlship/batching/batch.h"
#include "mlship/batching/task.h"
#include "mlship/status.h"

namespace mlship::testing {

// How long a test waits for something another thread should do. Generous: it
// only bounds a test that is about to fail, so it never hangs.
inline constexpr std::chrono::seconds kGenerousTimeout{30};

// A thread-safe record of how tasks were answered: OK for "ran", else the
// status they were failed with.
class Answers {
 public:
  // Records an answer for task `id`.
  void Record(int id, Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      by_id_[id].push_back(std::move(status));
      ++count_;
    }
    cv_.notify_all();
  }

  // Waits until at least `n` answers in all were recorded; false on timeout.
  bool WaitForCount(int64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGenerousTimeout, [&] { return count_ >= n; });
  }

  // Answers recorded so far, in all.
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

  // The answers recorded for task `id`, in order.
  std::vector<Status> For(int id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? std::vector<Status>{} : it->second;
  }

  // Every task id with at least one answer, and its answers.
  std::map<int, std::vector<Status>> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    return by_id_;
  }

 private:
  // Guards the fields below.
  mutable std::mutex mu_;
  // Signalled on every Record. Waited on with mu_.
  std::condition_variable cv_;
  // Answers by task id. GUARDED_BY(mu_).
  std::map<int, std::vector<Status>> by_id_;
  // Total answers recorded. GUARDED_BY(mu_).
  int64_t count_ = 0;
};

// A BatchTask for tests.
class TestTask {
 public:
  TestTask(int id, Answers* answers, int64_t size = 1, std::string key = "k",
           std::chrono::steady_clock::time_point deadline = kNoDeadline)
      : id_(id), answers_(answers), size_(size), key_(std::move(key)), deadline_(deadline) {}

  int64_t size() const { return size_; }
  const std::string& batch_key() const { return key_; }
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  void Fail(Status status) { answers_->Record(id_, std::move(status)); }

  // Answers the task with success, as a consumer that ran it would.
  void Succeed() { answers_->Record(id_, Status::Ok()); }
  int id() const { return id_; }

 private:
  // Identifies the task in Answers.
  const int id_;
  // Where answers go; not owned.
  Answers* const answers_;
  // Rows.
  const int64_t size_;
  // Compatibility key.
  const std::string key_;
  // Deadline; kNoDeadline for none.
  const std::chrono::steady_clock::time_point deadline_;
};

static_assert(BatchTask<TestTask>);

// Makes a task; shorthand for tests.
inline std::unique_ptr<TestTask> MakeTask(
    int id, Answers* answers, int64_t size = 1, std::string key = "k",
    std::chrono::steady_clock::time_point deadline = kNoDeadline) {
  return std::make_unique<TestTask>(id, answers, size, std::move(key), deadline);
}

// The ids of a batch's tasks, in order.
inline std::vector<int> TaskIds(const Batch<TestTask>& batch) {
  std::vector<int> ids;
  for (int i = 0; i < batch.num_tasks(); ++i) ids.push_back(batch.task(i).id());
  return ids;
}

// Collects the batches a DynamicBatcher hands off. Thread-safe.
class BatchSink {
 public:
  // A batch callback that stores the batch here.
  std::function<void(std::unique_ptr<Batch<TestTask>>)> Callback() {
    return [this](std::unique_ptr<Batch<TestTask>> batch) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        batches_.push_back(std::move(batch));
      }
      cv_.notify_all();
    };
  }

  // Waits until at least `n` batches arrived; false on timeout.
  bool WaitForBatches(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGenerousTimeout, [&] { return batches_.size() >= n; });
  }

  // Number of batches so far.
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_.size();
  }

  // The task ids of batch `i` (which must have arrived).
  std::vector<int> Ids(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return TaskIds(*batches_.at(i));
  }

  // Batch `i` (which must have arrived); stays owned by the sink.
  Batch<TestTask>* batch(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_.at(i).get();
  }

 private:
  // Guards batches_.
  mutable std::mutex mu_;
  // Signalled on every batch. Waited on with mu_.
  std::condition_variable cv_;
  // The batches in arrival order. GUARDED_BY(mu_).
  std::vector<std::unique_ptr<Batch<TestTask>>> batches_;
};

}  // namespace mlship::testing
