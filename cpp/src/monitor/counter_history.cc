#include "mlship/monitor/counter_history.h"

#include <algorithm>

namespace mlship::monitor {

void CounterHistory::AddTick(CounterSnapshot snapshot) { Add(snapshot, /*restart=*/false); }

void CounterHistory::AddRestart(CounterSnapshot snapshot) { Add(snapshot, /*restart=*/true); }

void CounterHistory::Add(CounterSnapshot snapshot, bool restart) {
  // Never before the newest kept: the history stays in time order.
  if (!entries_.empty()) snapshot.time = std::max(snapshot.time, entries_.back().snapshot.time);
  entries_.push_back({snapshot, restart});
}

const CounterSnapshot& CounterHistory::Baseline(Clock::TimePoint target) const {
  const Entry* best = &entries_.front();
  for (const Entry& e : entries_) {
    if (e.snapshot.time > target) break;
    // A later instant always wins; within one instant only a restart point
    // replaces what came first.
    if (e.snapshot.time > best->snapshot.time || e.restart) best = &e;
  }
  return best->snapshot;
}

void CounterHistory::Prune(Clock::TimePoint horizon) {
  while (entries_.size() > 1 && entries_[1].snapshot.time <= horizon) entries_.pop_front();
}

}  // namespace mlship::monitor
