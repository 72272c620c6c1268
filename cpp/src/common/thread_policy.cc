// SCHED_OTHER <-> SCHED_BATCH for the calling thread.
#include "mlship/thread_policy.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace mlship {

#if defined(__linux__)
namespace {
// On Linux, pid 0 in sched_setscheduler names the calling thread (not the
// process), and both policies take priority 0; the nice value is kept.
bool Switch(int from, int to) {
  if (sched_getscheduler(0) != from) return false;
  const sched_param param{};
  return sched_setscheduler(0, to, &param) == 0;
}
}  // namespace

bool SwitchThisThreadToBatchPolicy() { return Switch(SCHED_OTHER, SCHED_BATCH); }

void SwitchThisThreadBackFromBatchPolicy() { Switch(SCHED_BATCH, SCHED_OTHER); }

int ThisThreadPolicy() { return sched_getscheduler(0); }
#else
bool SwitchThisThreadToBatchPolicy() { return false; }

void SwitchThisThreadBackFromBatchPolicy() {}

int ThisThreadPolicy() { return -1; }
#endif

}  // namespace mlship
