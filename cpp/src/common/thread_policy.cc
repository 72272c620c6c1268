// SCHED_OTHER <-> SCHED_BATCH, and SCHED_IDLE, for the calling thread.
#include "mlship/thread_policy.h"

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
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

bool SwitchThisThreadToIdlePolicy() {
  const sched_param param{};
  if (sched_setscheduler(0, SCHED_IDLE, &param) == 0) return true;
  // setpriority with a thread id sets that thread's nice value on Linux.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  return false;
}

int ThisThreadPolicy() { return sched_getscheduler(0); }
#else
bool SwitchThisThreadToBatchPolicy() { return false; }

void SwitchThisThreadBackFromBatchPolicy() {}

bool SwitchThisThreadToIdlePolicy() { return false; }

int ThisThreadPolicy() { return -1; }
#endif

}  // namespace mlship
