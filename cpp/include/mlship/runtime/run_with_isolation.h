// RunWithIsolation: one bad request fails alone, not with its whole batch.
#pragma once

#include <concepts>
#include <exception>
#include <functional>
#include <string>

#include "mlship/batching/batch.h"
#include "mlship/batching/task.h"
#include "mlship/status.h"

namespace mlship {

// What RunWithIsolation did, for metrics and logs.
struct IsolationOutcome {
  // True when the whole batch ran successfully in one go.
  bool ran_whole = false;
  // Tasks run one by one after the whole batch failed (0 when it did not).
  int retried_alone = 0;
  // Tasks RunWithIsolation answered with an error through Task::Fail.
  int failed = 0;
};

namespace internal {

// Calls `fn(arg)`, turning an escaping exception into InferenceFailed with the
// first line of its message (later lines are often stack traces, which must
// not reach clients).
template <typename Fn, typename Arg>
Status CallCatching(Fn& fn, Arg& arg) {
  try {
    return std::invoke(fn, arg);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return Status::InferenceFailed("running the batch raised an exception: " + what);
  } catch (...) {
    return Status::InferenceFailed("running the batch raised an unknown exception");
  }
}

}  // namespace internal

// Runs `batch` with per-task fault isolation:
//
//   1. run_whole(batch) runs the whole batch (one forward pass). On OK it
//      must have answered every task; on error it must have answered none.
//   2. If it fails and the batch holds one task, that task is failed with the
//      error.
//   3. If it fails and the batch holds several, each task is retried alone
//      with run_one(task), which on OK must have answered the task; a task
//      whose run_one fails is failed with run_one's error. So one malformed
//      or poisonous request fails alone, and the others still get answers, at
//      the cost of one extra pass per task when a batch fails.
//
// Exceptions escaping run_whole / run_one count as InferenceFailed. Every
// task is answered exactly once when the contracts above are kept. Runs on the
// calling thread (normally an InstancePool worker).
template <BatchTask TaskT, typename RunWhole, typename RunOne>
  requires std::invocable<RunWhole&, Batch<TaskT>&> && std::invocable<RunOne&, TaskT&>
IsolationOutcome RunWithIsolation(Batch<TaskT>& batch, RunWhole run_whole, RunOne run_one) {
  IsolationOutcome outcome;
  const int num_tasks = batch.num_tasks();
  if (num_tasks == 0) return outcome;
  Status whole = internal::CallCatching(run_whole, batch);
  if (whole.ok()) {
    outcome.ran_whole = true;
    return outcome;
  }
  if (num_tasks == 1) {
    batch.mutable_task(0)->Fail(std::move(whole));
    outcome.failed = 1;
    return outcome;
  }
  for (int i = 0; i < num_tasks; ++i) {
    TaskT& task = *batch.mutable_task(i);
    ++outcome.retried_alone;
    Status alone = internal::CallCatching(run_one, task);
    if (!alone.ok()) {
      task.Fail(std::move(alone));
      ++outcome.failed;
    }
  }
  return outcome;
}

}  // namespace mlship
