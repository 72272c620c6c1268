// AutoThreads (intra_op_threads 0, the default): one thread until a window
// of forward passes has a median of 1 ms or more, then the cores left to
// each worker, for good; and a served version that widens on a fake clock
// only when its passes are long.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <atomic>
#include <chrono>

#include "mlship/deployment/auto_threads.h"
#include "server_fixtures.h"

namespace mlship {
namespace {

AutoThreads Chooser(int wide) { return AutoThreads(AutoThreads::Options{.wide = wide}); }

TEST(AutoThreadsTest, StartsAtOneAndWidensOnceAWindowsMedianPassIsLong) {
  AutoThreads a = Chooser(4);
  EXPECT_EQ(a.threads(), 1);
  for (int i = 0; i < 7; ++i) a.Record(1, 0.005);
  EXPECT_EQ(a.threads(), 1) << "a window is 8 passes; 7 do not decide";
  a.Record(1, 0.005);
  EXPECT_EQ(a.threads(), 4);
  EXPECT_TRUE(a.widened());
  // Wide passes are shorter; they are ignored, so it never narrows again.
  for (int i = 0; i < 32; ++i) a.Record(4, 0.0001);
  EXPECT_EQ(a.threads(), 4);
}

TEST(AutoThreadsTest, ShortPassesKeepOneThreadAndHalfAWindowLongIsEnough) {
  AutoThreads a = Chooser(2);
  for (int i = 0; i < 64; ++i) a.Record(1, 0.0002);
  EXPECT_EQ(a.threads(), 1) << "an MLP's passes (0.2 ms) stay on one thread";
  // 3 long of 8: the median is short.
  for (int i = 0; i < 8; ++i) a.Record(1, i < 3 ? 0.002 : 0.0002);
  EXPECT_EQ(a.threads(), 1);
  // 4 long of 8: the median is long.
  for (int i = 0; i < 8; ++i) a.Record(1, i < 4 ? 0.002 : 0.0002);
  EXPECT_EQ(a.threads(), 2);
}

TEST(AutoThreadsTest, OneWideThreadOrAClockThatDidNotMoveNeverWidens) {
  AutoThreads single = Chooser(1);
  for (int i = 0; i < 16; ++i) single.Record(1, 1.0);
  EXPECT_EQ(single.threads(), 1);
  AutoThreads frozen = Chooser(2);
  for (int i = 0; i < 16; ++i) frozen.Record(1, 0.0);
  EXPECT_EQ(frozen.threads(), 1);
}

// Answers x * 2; each forward pass moves the fake clock by `cost` and notes
// the intra-op thread count it ran with.
class TimedModel final : public Model {
 public:
  TimedModel(FakeClock* clock, std::chrono::microseconds cost)
      : Model(RowSignature(), "<memory>", 1), clock_(clock), cost_(cost) {}
  ModelFormat format() const override { return ModelFormat::kTorchScript; }
  Status Save(const std::string&) const override { return Status::FailedPrecondition("not saved in tests"); }
  int last_threads() const { return last_threads_.load(); }

 protected:
  std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& inputs) const override {
    last_threads_ = at::get_num_threads();
    clock_->Advance(cost_);
    return {inputs[0] * 2};
  }

 private:
  FakeClock* const clock_;
  const std::chrono::microseconds cost_;
  mutable std::atomic<int> last_threads_{0};
};

// The intra-op threads of the last of `requests` passes of a one-worker
// server whose model costs `cost` a pass; intra_op_threads left at auto.
int ThreadsAfter(std::chrono::microseconds cost, int requests) {
  FakeClock clock;
  ServingOptions o = InProcess();
  o.server.clock = &clock;
  o.server.workers.instances = 1;
  EXPECT_EQ(o.version_options.intra_op_threads, 0) << "auto is the default";
  auto server = Server::Create(o).value();
  auto model = std::make_shared<TimedModel>(&clock, cost);
  EXPECT_TRUE(server->AddModel("m", {}).ok());
  EXPECT_TRUE(server->Deploy("m", "1", Source(model, o), true).ok());
  for (int i = 0; i < requests; ++i) {
    Result r = server->Predict("m", {Row(i)}, {}, PredictCallers::kIndependent);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) EXPECT_TRUE(torch::equal((*r)[0], Row(i) * 2));
  }
  return model->last_threads();
}

TEST(AutoThreadsServedTest, AComputeBoundVersionWidensToTheCoresItsWorkerHasAndAFastOneStaysAtOne) {
  const int cores = CoreCount();
  EXPECT_EQ(ThreadsAfter(std::chrono::microseconds(5000), 8), 1) << "undecided until a window is full";
  EXPECT_EQ(ThreadsAfter(std::chrono::microseconds(5000), 9), cores);
  EXPECT_EQ(ThreadsAfter(std::chrono::microseconds(100), 40), 1);
}

}  // namespace
}  // namespace mlship
