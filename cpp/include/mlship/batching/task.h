// BatchTask: what the batching layer requires of the requests it batches.
//
// The batching layer is generic and knows nothing of tensors: the engine
// instantiates it with a task type that carries a request's tensors and its
// completion, and concatenates / splits them itself.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>

#include "mlship/status.h"

namespace mlship {

// The deadline of a task that has none.
inline constexpr std::chrono::steady_clock::time_point kNoDeadline =
    std::chrono::steady_clock::time_point::max();

// A task is one request waiting to run as part of a batch. A type TaskT used
// with Batch, internal::Queue and DynamicBatcher must provide:
//
//   int64_t size() const;
//       Its rows along the batch dimension, >= 1. Constant for the task's
//       lifetime. Tasks are never split: a batch holds whole tasks.
//   const std::string& batch_key() const;
//       Its compatibility key. Only tasks with equal keys share a batch; give
//       tasks whose tensors cannot be concatenated (different non-batch
//       shapes, dtypes, model versions) different keys. Constant.
//   std::chrono::steady_clock::time_point deadline() const;
//       When the answer stops being useful; kNoDeadline for none. A task
//       still queued at its deadline is failed with DeadlineExceeded and never
//       run. Constant.
//   void Fail(Status status);
//       Answers the task with a non-OK status. Called at most once, by the
//       batching layer only for tasks it never handed to the batch callback,
//       and never with the batcher's lock held (it may run user code).
//
// Tasks are owned through std::unique_ptr<TaskT> and must not be copied by
// the layer, so TaskT need not be copyable or movable. Answering a task with
// success is the consumer's business (the batch callback's), never the
// batcher's.
template <typename T>
concept BatchTask = requires(T& task, const T& const_task, Status status) {
  { const_task.size() } -> std::convertible_to<int64_t>;
  { const_task.batch_key() } -> std::convertible_to<const std::string&>;
  { const_task.deadline() } -> std::convertible_to<std::chrono::steady_clock::time_point>;
  task.Fail(std::move(status));
};

}  // namespace mlship
