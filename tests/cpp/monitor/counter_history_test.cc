// CounterHistory: which snapshot a window is counted from, above all when
// several share one instant (as they do on a fake clock).
#include "mlship/monitor/counter_history.h"

#include <gtest/gtest.h>

namespace mlship::monitor {
namespace {

using std::chrono::seconds;

CounterSnapshot At(Clock::TimePoint time, double succeeded) {
  CounterSnapshot s;
  s.time = time;
  s.succeeded = succeeded;
  return s;
}

const Clock::TimePoint kStart{seconds(1000)};

TEST(CounterHistory, TheBaselineIsTheNewestSnapshotAtOrBeforeTheTarget) {
  CounterHistory history;
  history.AddRestart(At(kStart, 0));
  history.AddTick(At(kStart + seconds(1), 5));
  history.AddTick(At(kStart + seconds(2), 9));
  EXPECT_EQ(history.Baseline(kStart + seconds(1)).succeeded, 5);
  EXPECT_EQ(history.Baseline(kStart + seconds(1) + std::chrono::milliseconds(500)).succeeded, 5);
  EXPECT_EQ(history.Baseline(kStart + seconds(5)).succeeded, 9);
  EXPECT_EQ(history.Baseline(kStart - seconds(5)).succeeded, 0) << "none before: the oldest";
}

TEST(CounterHistory, ATickAtTheInstantOfARestartPointDoesNotHideTheRequestsSinceIt) {
  // A rollout step starts (restart point with 300 requests counted), 40
  // requests come, and only then does the monitor's tick for that same
  // instant land. The step's window must still count the 40.
  CounterHistory history;
  history.AddRestart(At(kStart, 0));
  history.AddTick(At(kStart + seconds(11), 300));
  history.AddRestart(At(kStart + seconds(11), 300));
  history.AddTick(At(kStart + seconds(11), 340));
  EXPECT_EQ(history.Baseline(kStart + seconds(11)).succeeded, 300);
}

TEST(CounterHistory, ARestartPointHidesWhatCameBeforeItAtTheSameInstant) {
  CounterHistory history;
  history.AddRestart(At(kStart, 0));
  history.AddRestart(At(kStart, 30));  // e.g. a fallback switch: judge afresh from here
  EXPECT_EQ(history.Baseline(kStart).succeeded, 30);
}

TEST(CounterHistory, TicksOfOneInstantCountFromTheFirst) {
  CounterHistory history;
  history.AddRestart(At(kStart, 0));
  history.AddTick(At(kStart + seconds(1), 4));
  history.AddTick(At(kStart + seconds(1), 8));
  EXPECT_EQ(history.Baseline(kStart + seconds(1)).succeeded, 4);
}

TEST(CounterHistory, ALateTickKeepsTheHistoryInTimeOrder) {
  // The tick read its time before a restart point at a later time was added.
  CounterHistory history;
  history.AddRestart(At(kStart, 0));
  history.AddRestart(At(kStart + seconds(2), 10));
  history.AddTick(At(kStart + seconds(1), 12));
  EXPECT_EQ(history.Baseline(kStart + seconds(1)).succeeded, 0);
  EXPECT_EQ(history.Baseline(kStart + seconds(2)).succeeded, 10);
}

TEST(CounterHistory, PruningKeepsTheNewestSnapshotBeyondTheHorizon) {
  CounterHistory history;
  for (int s = 0; s < 10; ++s) history.AddTick(At(kStart + seconds(s), s));
  history.Prune(kStart + seconds(5));
  EXPECT_EQ(history.size(), 5u);
  EXPECT_EQ(history.Baseline(kStart).succeeded, 5) << "the oldest kept";
}

}  // namespace
}  // namespace mlship::monitor
