// CounterHistory: a model version's request counters over time, as
// snapshots taken on each monitor tick and at restart points (a rollout
// step, a fallback switch), and the snapshot a window is counted from.
#pragma once

#include <deque>

#include "mlship/clock.h"

namespace mlship::monitor {

// The counters' values at one moment.
struct CounterSnapshot {
  Clock::TimePoint time;
  double succeeded = 0;
  double failed = 0;
  double server_failed = 0;
  double inferences = 0;
  double executions = 0;
};

// Snapshots in time order. Not thread-safe: the monitor guards it.
//
// Many snapshots can share one instant (always on a fake clock, where time
// stands still between advances), and their order then matters: a tick
// taken at the instant of a restart point but after requests that came
// since must not become the baseline of a window counted from that restart
// point, or those requests vanish from it (a rollout step then never saw its
// min_requests and held for ever; see docs/architecture.md).
class CounterHistory {
 public:
  // Appends the snapshot of a periodic tick. Its time is raised to the
  // newest kept one, so the history stays in order when a restart point at
  // a later time was added while the tick was on its way.
  void AddTick(CounterSnapshot snapshot);
  // Appends a restart point: a window counted from its time starts at
  // these counts, whatever ticks share its instant.
  void AddRestart(CounterSnapshot snapshot);
  // The newest snapshot at or before `target` (the oldest kept when none
  // is). Among snapshots of one instant it is the last restart point, or
  // the first snapshot when none is a restart point. Needs one snapshot
  // added first.
  const CounterSnapshot& Baseline(Clock::TimePoint target) const;
  // Drops the snapshots older than `horizon`, except the newest of them
  // (the baseline of a window reaching back to the horizon).
  void Prune(Clock::TimePoint horizon);
  // How many snapshots are kept.
  std::size_t size() const { return entries_.size(); }

 private:
  void Add(CounterSnapshot snapshot, bool restart);

  struct Entry {
    CounterSnapshot snapshot;
    bool restart = false;
  };
  std::deque<Entry> entries_;
};

}  // namespace mlship::monitor
