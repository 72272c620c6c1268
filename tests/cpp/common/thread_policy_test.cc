// SwitchThisThreadToBatchPolicy / SwitchThisThreadBackFromBatchPolicy: only
// SCHED_OTHER <-> SCHED_BATCH, never a policy somebody else chose. Each case
// runs on a thread of its own, so the test runner's policy never changes.
#include "mlship/thread_policy.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <functional>
#include <thread>

namespace mlship {
namespace {

void OnOwnThread(const std::function<void()>& body) {
  std::thread t(body);
  t.join();
}

TEST(ThreadPolicyTest, SwitchesADefaultThreadToBatchAndBack) {
  OnOwnThread([] {
    ASSERT_EQ(ThisThreadPolicy(), SCHED_OTHER);
    EXPECT_TRUE(SwitchThisThreadToBatchPolicy());
    EXPECT_EQ(ThisThreadPolicy(), SCHED_BATCH);
    SwitchThisThreadBackFromBatchPolicy();
    EXPECT_EQ(ThisThreadPolicy(), SCHED_OTHER);
  });
}

TEST(ThreadPolicyTest, KeepsTheNiceValue) {
  OnOwnThread([] {
    // On Linux PRIO_PROCESS with id 0 is the calling thread; lowering its
    // own priority needs no privilege.
    const int niced = std::min(getpriority(PRIO_PROCESS, 0) + 3, 19);
    ASSERT_EQ(setpriority(PRIO_PROCESS, 0, niced), 0);
    ASSERT_TRUE(SwitchThisThreadToBatchPolicy());
    EXPECT_EQ(getpriority(PRIO_PROCESS, 0), niced);
    SwitchThisThreadBackFromBatchPolicy();
    EXPECT_EQ(getpriority(PRIO_PROCESS, 0), niced);
  });
}

TEST(ThreadPolicyTest, LeavesAPolicyItDidNotSetAlone) {
  OnOwnThread([] {
    const sched_param param{};
    ASSERT_EQ(sched_setscheduler(0, SCHED_IDLE, &param), 0);
    EXPECT_FALSE(SwitchThisThreadToBatchPolicy());
    EXPECT_EQ(ThisThreadPolicy(), SCHED_IDLE);
    SwitchThisThreadBackFromBatchPolicy();
    EXPECT_EQ(ThisThreadPolicy(), SCHED_IDLE);
  });
  OnOwnThread([] {
    const sched_param param{};
    ASSERT_EQ(sched_setscheduler(0, SCHED_BATCH, &param), 0);
    EXPECT_FALSE(SwitchThisThreadToBatchPolicy());  // already batch: its owner chose it
    EXPECT_EQ(ThisThreadPolicy(), SCHED_BATCH);
  });
}

}  // namespace
}  // namespace mlship
