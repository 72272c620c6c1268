// NameThread: the name shows in the thread's comm, cut to Linux's limit.
#include "mlship/thread_name.h"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

namespace mlship {
namespace {

// Starts a thread, names it from here, and returns the name it then sees.
std::string NameSeenByANamedThread(const std::string& name) {
  std::promise<void> named;
  std::shared_future<void> go = named.get_future().share();
  std::string seen;
  std::thread t([&seen, go] {
    go.wait();
    seen = ThisThreadName();
  });
  NameThread(t, name);
  named.set_value();
  t.join();
  return seen;
}

TEST(ThreadNameTest, NamesTheThreadBeforeItRuns) {
  EXPECT_EQ(NameSeenByANamedThread("mlship-worker0"), "mlship-worker0");
}

TEST(ThreadNameTest, CutsLongNamesToFifteenBytes) {
  EXPECT_EQ(NameSeenByANamedThread("mlship-a-very-long-thread-name"), "mlship-a-very-l");
}

TEST(ThreadNameTest, LeavesTheNamingThreadAlone) {
  const std::string before = ThisThreadName();
  NameSeenByANamedThread("mlship-other");
  EXPECT_EQ(ThisThreadName(), before);
}

}  // namespace
}  // namespace mlship
