// Batch: the tasks that will run as one forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mlship/batching/task.h"
#include "mlship/status.h"

namespace mlship {

// A thread-safe collection of Tasks that will run as one forward pass.
//
// A Batch is either open (tasks can be added) or closed (its tasks are fixed
// forever). It only moves from open to closed. Every task in it has the
// batch's key, so their tensors can be concatenated. The batcher hands only
// closed batches to its callback; the consumer answers each task (through
// mutable_task) and owns the batch until it is done.
template <BatchTask TaskT>
class Batch {
 public:
  // An open, empty batch for tasks with key `batch_key`.
  explicit Batch(std::string batch_key) : batch_key_(std::move(batch_key)) {}
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // Appends `task`, taking ownership only on success. FailedPrecondition when
  // the batch is closed; InvalidArgument when the task is null, has fewer than
  // one row, or carries another key.
  Status AddTask(std::unique_ptr<TaskT>& task) {
    if (task == nullptr) return Status::InvalidArgument("cannot add a null task to a batch");
    if (task->size() < 1) {
      return Status::InvalidArgument("a task must have at least 1 row; had " +
                                     std::to_string(task->size()));
    }
    if (task->batch_key() != batch_key_) {
      return Status::InvalidArgument("task with batch key '" + task->batch_key() +
                                     "' cannot join a batch for key '" + batch_key_ + "'");
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::FailedPrecondition("cannot add a task to a closed batch");
    size_ += task->size();
    tasks_.push_back(std::move(task));
    return Status::Ok();
  }

  // Fixes the tasks forever. Idempotent.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }

  // Whether Close() has been called.
  bool IsClosed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  // The key every task in the batch shares.
  const std::string& batch_key() const { return batch_key_; }

  // Total rows: the sum of size() over the tasks.
  int64_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return size_;
  }

  // Number of tasks.
  int num_tasks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(tasks_.size());
  }

  // Whether the batch has no tasks.
  bool empty() const { return num_tasks() == 0; }

  // The i-th task in arrival order, 0 <= i < num_tasks() (else throws
  // std::out_of_range). The task stays valid for the batch's lifetime: tasks
  // are never removed.
  const TaskT& task(int i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return *tasks_.at(static_cast<size_t>(i));
  }
  // The same, for answering it (the consumer's job).
  TaskT* mutable_task(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.at(static_cast<size_t>(i)).get();
  }

 private:
  // Set at construction; immutable, so read without the lock.
  const std::string batch_key_;
  // Guards the fields below.
  mutable std::mutex mu_;
  // The tasks, in arrival order. GUARDED_BY(mu_).
  std::vector<std::unique_ptr<TaskT>> tasks_;
  // Sum of the tasks' size(). GUARDED_BY(mu_).
  int64_t size_ = 0;
  // Once true, never false again. GUARDED_BY(mu_).
  bool closed_ = false;
};

}  // namespace mlship
