#include "mlship/batching/batch.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "test_task.h"

namespace mlship {
namespace {

using testing::Answers;
using testing::MakeTask;
using testing::TaskIds;
using testing::TestTask;

TEST(BatchTest, NewBatchIsOpenAndEmpty) {
  Batch<TestTask> batch("k");
  EXPECT_FALSE(batch.IsClosed());
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.size(), 0);
  EXPECT_EQ(batch.num_tasks(), 0);
  EXPECT_EQ(batch.batch_key(), "k");
}

TEST(BatchTest, AddingTasksSumsTheirRowsAndKeepsArrivalOrder) {
  Answers answers;
  Batch<TestTask> batch("k");
  auto a = MakeTask(1, &answers, 3);
  auto b = MakeTask(2, &answers, 2);
  ASSERT_TRUE(batch.AddTask(a).ok());
  ASSERT_TRUE(batch.AddTask(b).ok());
  EXPECT_EQ(a, nullptr);  // ownership moved
  EXPECT_EQ(batch.size(), 5);
  EXPECT_EQ(batch.num_tasks(), 2);
  EXPECT_EQ(TaskIds(batch), (std::vector<int>{1, 2}));
}

TEST(BatchTest, ClosedBatchRejectsTasksAndCallerKeepsThem) {
  Answers answers;
  Batch<TestTask> batch("k");
  batch.Close();
  EXPECT_TRUE(batch.IsClosed());
  batch.Close();  // idempotent
  EXPECT_TRUE(batch.IsClosed());
  auto task = MakeTask(1, &answers);
  Status status = batch.AddTask(task);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(batch.num_tasks(), 0);
}

TEST(BatchTest, RejectsTaskWithAnotherKey) {
  Answers answers;
  Batch<TestTask> batch("float[3]");
  auto task = MakeTask(1, &answers, 1, "float[4]");
  Status status = batch.AddTask(task);
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_NE(status.message().find("float[4]"), std::string::npos);
  EXPECT_NE(status.message().find("float[3]"), std::string::npos);
  EXPECT_NE(task, nullptr);
}

TEST(BatchTest, RejectsNullAndEmptyTasks) {
  Answers answers;
  Batch<TestTask> batch("k");
  std::unique_ptr<TestTask> null_task;
  EXPECT_TRUE(batch.AddTask(null_task).IsInvalidArgument());
  auto empty_task = MakeTask(1, &answers, 0);
  EXPECT_TRUE(batch.AddTask(empty_task).IsInvalidArgument());
  EXPECT_EQ(batch.num_tasks(), 0);
}

TEST(BatchTest, ConcurrentAddsAreAllCounted) {
  Answers answers;
  Batch<TestTask> batch("k");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto task = MakeTask(t * kPerThread + i, &answers, 2);
        EXPECT_TRUE(batch.AddTask(task).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(batch.num_tasks(), kThreads * kPerThread);
  EXPECT_EQ(batch.size(), 2 * kThreads * kPerThread);
}

}  // namespace
}  // namespace mlship
