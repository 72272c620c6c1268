#include "mlship/runtime/run_with_isolation.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "batching/test_task.h"

namespace mlship {
namespace {

using testing::Answers;
using testing::MakeTask;
using testing::TestTask;

// An exception message followed by a stack trace, as c10::Error gives.
constexpr const char* kTracedMessage = "shape mismatch\n  frame #0 at 0xdeadbeef";

// A closed batch of tasks with the given ids.
std::unique_ptr<Batch<TestTask>> MakeBatch(Answers* answers, std::initializer_list<int> ids) {
  auto batch = std::make_unique<Batch<TestTask>>("k");
  for (int id : ids) {
    auto task = MakeTask(id, answers);
    EXPECT_TRUE(batch->AddTask(task).ok());
  }
  batch->Close();
  return batch;
}

// Runs a whole batch: succeeds (answering every task) unless it holds task
// `poison`, in which case it answers none and fails.
auto RunWholeUnless(int poison) {
  return [poison](Batch<TestTask>& batch) {
    for (int i = 0; i < batch.num_tasks(); ++i) {
      if (batch.task(i).id() == poison) return Status::InferenceFailed("batch failed");
    }
    for (int i = 0; i < batch.num_tasks(); ++i) batch.mutable_task(i)->Succeed();
    return Status::Ok();
  };
}

// Runs one task: fails for `poison`, else answers it with success.
auto RunOneUnless(int poison, int* calls) {
  return [poison, calls](TestTask& task) {
    ++*calls;
    if (task.id() == poison) {
      return Status::InvalidArgument("task " + std::to_string(poison) + " is malformed");
    }
    task.Succeed();
    return Status::Ok();
  };
}

TEST(RunWithIsolationTest, SuccessfulBatchRunsOnceAsAWhole) {
  Answers answers;
  auto batch = MakeBatch(&answers, {1, 2, 3});
  int one_calls = 0;
  IsolationOutcome outcome =
      RunWithIsolation(*batch, RunWholeUnless(-1), RunOneUnless(-1, &one_calls));
  EXPECT_TRUE(outcome.ran_whole);
  EXPECT_EQ(outcome.retried_alone, 0);
  EXPECT_EQ(outcome.failed, 0);
  EXPECT_EQ(one_calls, 0);
  for (int id : {1, 2, 3}) {
    ASSERT_EQ(answers.For(id).size(), 1u);
    EXPECT_TRUE(answers.For(id)[0].ok());
  }
}

TEST(RunWithIsolationTest, FailingBatchIsRetriedOneByOne) {
  Answers answers;
  auto batch = MakeBatch(&answers, {1, 2, 3});
  int one_calls = 0;
  IsolationOutcome outcome =
      RunWithIsolation(*batch, RunWholeUnless(2), RunOneUnless(2, &one_calls));
  EXPECT_FALSE(outcome.ran_whole);
  EXPECT_EQ(outcome.retried_alone, 3);
  EXPECT_EQ(outcome.failed, 1);
  EXPECT_EQ(one_calls, 3);
  // The bad request fails alone, with its own error; the others succeed.
  ASSERT_EQ(answers.For(2).size(), 1u);
  EXPECT_TRUE(answers.For(2)[0].IsInvalidArgument());
  EXPECT_EQ(answers.For(2)[0].message(), "task 2 is malformed");
  for (int id : {1, 3}) {
    ASSERT_EQ(answers.For(id).size(), 1u);
    EXPECT_TRUE(answers.For(id)[0].ok());
  }
}

TEST(RunWithIsolationTest, SingleTaskBatchFailureIsNotRetried) {
  Answers answers;
  auto batch = MakeBatch(&answers, {7});
  int one_calls = 0;
  IsolationOutcome outcome =
      RunWithIsolation(*batch, RunWholeUnless(7), RunOneUnless(7, &one_calls));
  EXPECT_EQ(one_calls, 0);
  EXPECT_EQ(outcome.failed, 1);
  ASSERT_EQ(answers.For(7).size(), 1u);
  EXPECT_EQ(answers.For(7)[0].code(), StatusCode::kInferenceFailed);
  EXPECT_EQ(answers.For(7)[0].message(), "batch failed");
}

TEST(RunWithIsolationTest, ExceptionsBecomeInferenceFailedWithoutTheirStackTrace) {
  Answers answers;
  auto batch = MakeBatch(&answers, {1, 2});
  IsolationOutcome outcome = RunWithIsolation(
      *batch,
      [](Batch<TestTask>&) -> Status { throw std::runtime_error(kTracedMessage); },
      [](TestTask& task) -> Status {
        if (task.id() == 2) throw 42;
        task.Succeed();
        return Status::Ok();
      });
  EXPECT_EQ(outcome.retried_alone, 2);
  EXPECT_EQ(outcome.failed, 1);
  ASSERT_EQ(answers.For(1).size(), 1u);
  EXPECT_TRUE(answers.For(1)[0].ok());
  ASSERT_EQ(answers.For(2).size(), 1u);
  EXPECT_EQ(answers.For(2)[0].code(), StatusCode::kInferenceFailed);

  Answers single_answers;
  auto single = MakeBatch(&single_answers, {3});
  RunWithIsolation(
      *single,
      [](Batch<TestTask>&) -> Status { throw std::runtime_error(kTracedMessage); },
      [](TestTask&) { return Status::Ok(); });
  ASSERT_EQ(single_answers.For(3).size(), 1u);
  const std::string message = single_answers.For(3)[0].message();
  EXPECT_NE(message.find("shape mismatch"), std::string::npos) << message;
  EXPECT_EQ(message.find("0xdeadbeef"), std::string::npos) << message;
}

TEST(RunWithIsolationTest, EmptyBatchRunsNothing) {
  Batch<TestTask> batch("k");
  batch.Close();
  bool called = false;
  IsolationOutcome outcome = RunWithIsolation(
      batch,
      [&](Batch<TestTask>&) {
        called = true;
        return Status::Ok();
      },
      [&](TestTask&) {
        called = true;
        return Status::Ok();
      });
  EXPECT_FALSE(called);
  EXPECT_FALSE(outcome.ran_whole);
}

}  // namespace
}  // namespace mlship
