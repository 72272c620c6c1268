// internal::Queue: the batching policy, with no threads and no locks, so it
// can be tested with explicit times.
#pragma once

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mlship/batching/batch.h"
#include "mlship/batching/batcher_options.h"
#include "mlship/clock.h"
#include "mlship/batching/task.h"
#include "mlship/status.h"

namespace mlship::internal {

// Queued tasks, grouped by batch key, and the rules that turn them into
// closed batches.
//
// Invariants (true between calls):
//   - Every queued task has 1 <= size() <= max_batch_size, and the queue holds
//     at most max_queue_size tasks.
//   - Each key's tasks are in arrival order; a key with no tasks has no entry.
//   - A batch holds tasks of one key only, taken from the front of that key's
//     line without skipping any, and never more than max_batch_size rows.
//   - A task leaves the queue exactly once: in a batch, as expired, or through
//     TakeAll(). Once its deadline has passed it is never put in a batch.
//
// When several keys have a batch ready, the batch formed is for the key whose
// front task arrived first (FIFO across keys). A key that is not ready does
// not hold back a younger key that is: the oldest task's key is ready first
// anyway once its max_queue_delay is up.
//
// Not thread-safe: DynamicBatcher guards it with its mutex. It never calls
// Task::Fail (that runs user code, which must not run under that mutex);
// expired tasks are handed back for the caller to fail.
template <BatchTask TaskT>
class Queue {
 public:
  using TimePoint = Clock::TimePoint;
  using TaskList = std::vector<std::unique_ptr<TaskT>>;

  // `options` must be valid (BatcherOptions::Validate).
  explicit Queue(const BatcherOptions& options)
      : options_(options), preferred_sizes_(options.preferred_batch_sizes.begin(),
                                            options.preferred_batch_sizes.end()) {}

  // Queues `task`, which arrived at `now`, taking ownership only on success.
  // InvalidArgument when its size is outside [1, max_batch_size]; Unavailable
  // (retry later) when the queue already holds max_queue_size tasks.
  Status Add(std::unique_ptr<TaskT>& task, TimePoint now) {
    if (task == nullptr) return Status::InvalidArgument("cannot schedule a null task");
    const int64_t rows = task->size();
    if (rows < 1 || rows > options_.max_batch_size) {
      return Status::InvalidArgument(
          "a request must have between 1 and max_batch_size=" +
          std::to_string(options_.max_batch_size) + " rows; this one has " +
          std::to_string(rows) + ". Split it into smaller requests or raise max_batch_size");
    }
    if (num_tasks_ >= options_.max_queue_size) {
      return Status::Unavailable("the batch queue is full (max_queue_size=" +
                                 std::to_string(options_.max_queue_size) +
                                 " tasks); retry later");
    }
    TimePoint deadline = task->deadline();
    if (deadline == kNoDeadline && options_.default_timeout.count() > 0) {
      deadline = now + options_.default_timeout;
    }
    if (deadline != kNoDeadline) deadlines_.insert(deadline);
    KeyLine& line = lines_[task->batch_key()];
    line.rows += rows;
    line.entries.push_back(Entry{std::move(task), now, deadline, next_sequence_++});
    ++num_tasks_;
    return Status::Ok();
  }

  // Removes the tasks whose deadline is at or before `now`, appending them to
  // `*expired` (the caller fails them with DeadlineExceeded), then returns a
  // closed batch if one is ready, else null. A key's batch is ready when its
  // rows reach max_batch_size, when its queued rows reach a preferred batch
  // size (see BatcherOptions::preferred_batch_sizes), or when its front task
  // has waited max_queue_delay.
  std::unique_ptr<Batch<TaskT>> MaybeFormBatch(TimePoint now, TaskList* expired) {
    RemoveExpired(now, expired);
    const KeyLine* best = nullptr;
    const std::string* best_key = nullptr;
    int64_t best_rows = 0;
    for (const auto& [key, line] : lines_) {
      const int64_t rows = ReadyRows(line, now);
      if (rows == 0) continue;
      if (best == nullptr || line.entries.front().sequence < best->entries.front().sequence) {
        best = &line;
        best_key = &key;
        best_rows = rows;
      }
    }
    if (best == nullptr) return nullptr;
    return TakeBatch(*best_key, best_rows);
  }

  // Like MaybeFormBatch, but forms a batch from the oldest key's tasks even if
  // it is not ready (as many rows as fit). Null only when nothing is queued.
  // Used to drain the queue at shutdown.
  std::unique_ptr<Batch<TaskT>> FormBatchNow(TimePoint now, TaskList* expired) {
    RemoveExpired(now, expired);
    const std::string* oldest_key = nullptr;
    const KeyLine* oldest = nullptr;
    for (const auto& [key, line] : lines_) {
      if (oldest == nullptr || line.entries.front().sequence < oldest->entries.front().sequence) {
        oldest = &line;
        oldest_key = &key;
      }
    }
    if (oldest == nullptr) return nullptr;
    return TakeBatch(*oldest_key, FittingRows(*oldest));
  }

  // Removes the tasks whose deadline is at or before `now`, appending them to
  // `*expired`. Cheap when none has expired.
  void RemoveExpired(TimePoint now, TaskList* expired) {
    if (deadlines_.empty() || *deadlines_.begin() > now) return;
    for (auto it = lines_.begin(); it != lines_.end();) {
      KeyLine& line = it->second;
      std::deque<Entry> kept;
      for (Entry& entry : line.entries) {
        if (entry.deadline <= now) {
          line.rows -= entry.task->size();
          --num_tasks_;
          deadlines_.erase(deadlines_.find(entry.deadline));
          expired->push_back(std::move(entry.task));
        } else {
          kept.push_back(std::move(entry));
        }
      }
      line.entries = std::move(kept);
      it = line.entries.empty() ? lines_.erase(it) : std::next(it);
    }
  }

  // Removes and returns every queued task, oldest first. Used to fail them all
  // when stopping without draining.
  TaskList TakeAll() {
    std::vector<Entry> all;
    for (auto& [key, line] : lines_) {
      for (Entry& entry : line.entries) all.push_back(std::move(entry));
    }
    std::sort(all.begin(), all.end(),
              [](const Entry& a, const Entry& b) { return a.sequence < b.sequence; });
    TaskList tasks;
    for (Entry& entry : all) tasks.push_back(std::move(entry.task));
    lines_.clear();
    deadlines_.clear();
    num_tasks_ = 0;
    return tasks;
  }

  // When MaybeFormBatch should next be called if nothing is added: the
  // earliest time a batch becomes ready or a task expires. A time at or
  // before now means "now". TimePoint::max() when the queue is empty.
  TimePoint NextWakeup() const {
    TimePoint wakeup = NextExpiry();
    for (const auto& [key, line] : lines_) {
      const TimePoint arrived = line.entries.front().enqueued;
      const TimePoint ready = EarlyRows(line) > 0 ? arrived : arrived + options_.max_queue_delay;
      wakeup = std::min(wakeup, ready);
    }
    return wakeup;
  }

  // The earliest deadline of a queued task; TimePoint::max() when none has
  // one. A caller that cannot take a batch now still wakes then to expire it.
  TimePoint NextExpiry() const {
    return deadlines_.empty() ? TimePoint::max() : *deadlines_.begin();
  }

  // Caps the rows of the batches formed from now on at `cap` (clamped to
  // [1, max_batch_size]); max_batch_size lifts the cap. A task with more rows
  // than the cap still runs, in a batch of its own. Latency-aware batching
  // sets it from BatchCostModel.
  void set_row_cap(int64_t cap) { row_cap_ = std::clamp<int64_t>(cap, 1, options_.max_batch_size); }
  // The current cap (max_batch_size when none).
  int64_t row_cap() const { return row_cap_; }

  // How many consumers run this queue's batches side by side (clamped to at
  // least 1; default 1). With n > 1 a batch takes at most its share of its
  // key's queued rows, ceil(rows / n), so that n workers get batches of
  // similar size instead of the first taking the whole line and leaving the
  // next with the stragglers: two instances of a compute-bound CNN under load
  // alternated a large batch and a few stragglers, and p99 read 2.1x Little's
  // mean; with shares, 1.44-1.57x (docs/benchmarks.md). It caps only the size
  // of a batch, never when one is ready, so max_queue_delay and preferred
  // sizes work as before.
  void set_consumers(int64_t n) { consumers_ = std::max<int64_t>(1, n); }
  int64_t consumers() const { return consumers_; }

  // Number of queued tasks, across all keys.
  int64_t num_tasks() const { return num_tasks_; }
  // Whether no task is queued.
  bool empty() const { return num_tasks_ == 0; }

 private:
  // One queued task.
  struct Entry {
    // The task; never null while queued.
    std::unique_ptr<TaskT> task;
    // When Add() was called.
    TimePoint enqueued;
    // The task's deadline, or enqueued + default_timeout when it had none;
    // kNoDeadline when neither applies.
    TimePoint deadline;
    // Arrival order across all keys.
    uint64_t sequence;
  };

  // The tasks of one batch key.
  struct KeyLine {
    // In arrival order; never empty while the line is in lines_.
    std::deque<Entry> entries;
    // Sum of the entries' task sizes.
    int64_t rows = 0;
  };

  // Rows of the batch the line would give now, or 0 if it is not ready.
  int64_t ReadyRows(const KeyLine& line, TimePoint now) const {
    const int64_t early = EarlyRows(line);
    if (early > 0) return early;
    if (now - line.entries.front().enqueued >= options_.max_queue_delay) return FittingRows(line);
    return 0;
  }

  // Rows of the batch the line gives without waiting for max_queue_delay: a
  // full batch, else the largest reachable preferred size; 0 when neither.
  int64_t EarlyRows(const KeyLine& line) const {
    if (line.rows >= row_cap_) return FittingRows(line);
    if (preferred_sizes_.empty()) return 0;
    int64_t rows = 0;
    int64_t best = 0;
    for (const Entry& entry : line.entries) {
      rows += entry.task->size();
      if (rows > row_cap_) break;
      if (preferred_sizes_.count(rows) > 0) best = rows;
    }
    return best;
  }

  // Rows of the longest front run of the line that fits in the row cap
  // (max_batch_size unless set_row_cap lowered it) and in one consumer's
  // share of the line (see set_consumers); the front task alone when it is
  // larger than that.
  int64_t FittingRows(const KeyLine& line) const {
    const int64_t share = (line.rows + consumers_ - 1) / consumers_;
    const int64_t cap = std::min(row_cap_, std::max<int64_t>(1, share));
    int64_t rows = 0;
    for (const Entry& entry : line.entries) {
      if (rows + entry.task->size() > cap) {
        if (rows == 0) rows = entry.task->size();
        break;
      }
      rows += entry.task->size();
    }
    return rows;
  }

  // Moves the front tasks of `key`'s line, `rows` rows in all (a whole number
  // of tasks), into a new closed batch.
  std::unique_ptr<Batch<TaskT>> TakeBatch(const std::string& key, int64_t rows) {
    auto line_it = lines_.find(key);
    KeyLine& line = line_it->second;
    auto batch = std::make_unique<Batch<TaskT>>(key);
    while (rows > 0) {
      Entry& entry = line.entries.front();
      const int64_t task_rows = entry.task->size();
      if (entry.deadline != kNoDeadline) deadlines_.erase(deadlines_.find(entry.deadline));
      // Cannot fail: the batch is new, open, and for this key; sizes were
      // checked in Add().
      [[maybe_unused]] Status added = batch->AddTask(entry.task);
      assert(added.ok());
      rows -= task_rows;
      line.rows -= task_rows;
      --num_tasks_;
      line.entries.pop_front();
    }
    if (line.entries.empty()) lines_.erase(line_it);
    batch->Close();
    return batch;
  }

  // Validated options. Immutable.
  const BatcherOptions options_;
  // options_.preferred_batch_sizes as a set, for lookups. Immutable.
  const std::set<int64_t> preferred_sizes_;
  // Queued tasks by key; only keys with tasks have an entry.
  std::map<std::string, KeyLine> lines_;
  // The finite deadlines of the queued tasks (one entry per task), so the
  // earliest is known without a scan.
  std::multiset<TimePoint> deadlines_;
  // Number of queued tasks across all keys.
  int64_t num_tasks_ = 0;
  // The most rows in one batch now: max_batch_size, or lower (set_row_cap).
  int64_t row_cap_ = options_.max_batch_size;
  // Consumers that share the line (set_consumers); 1 = a batch may take it all.
  int64_t consumers_ = 1;
  // The sequence number the next task gets.
  uint64_t next_sequence_ = 0;
};

}  // namespace mlship::internal
