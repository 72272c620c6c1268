// Linux scheduling policy of the calling thread: SCHED_OTHER <-> SCHED_BATCH,
// and SCHED_IDLE for work that may only use spare CPU.
//
// Used for threads that call Deployment::Predict in a loop (see
// runtime/wakeup_baton.h): under SCHED_BATCH a woken thread does not preempt
// the one running, so the thread that woke it goes on to sleep first.
#pragma once

namespace mlship {

// Switches the calling thread from SCHED_OTHER (Linux's default) to
// SCHED_BATCH, keeping its nice value. True when it did; false, changing
// nothing, when the thread runs under any other policy (real-time,
// SCHED_IDLE, already SCHED_BATCH: somebody chose it), when the system call
// fails, or off Linux.
bool SwitchThisThreadToBatchPolicy();

// Switches the calling thread from SCHED_BATCH back to SCHED_OTHER, keeping
// its nice value. Does nothing when the thread is not under SCHED_BATCH now
// (its owner changed the policy meanwhile) or off Linux.
void SwitchThisThreadBackFromBatchPolicy();

// Switches the calling thread to SCHED_IDLE for good: it runs only when no
// other thread wants the CPU, and any waking thread preempts it. Falls back
// to nice 19 where SCHED_IDLE is refused. An unprivileged thread cannot
// switch back, so only threads that do nothing else call this. True when
// SCHED_IDLE took effect.
bool SwitchThisThreadToIdlePolicy();

// The calling thread's policy, e.g. SCHED_OTHER; -1 off Linux (for tests).
int ThisThreadPolicy();

}  // namespace mlship
