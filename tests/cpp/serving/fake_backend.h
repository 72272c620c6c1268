// FakeBackend: a scriptable Backend for the HTTP server tests.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "mlship/serving/backend.h"

namespace mlship::serving::testing {

// Serves one model, "doubler", in versions "1" and "2" (the default):
// input x: FP32[-1, 3]; outputs y: FP32[-1, 3] (= 2x) and rows: INT64[1]
// (the batch size). How Infer answers is set with set_behavior().
//
// Thread-safe; answers from its own worker thread in kComputeOnWorker and
// from Release() in kHold. The destructor joins the worker.
class FakeBackend : public Backend {
 public:
  enum class Behavior {
    kCompute,          // answer inline, before Infer returns
    kComputeOnWorker,  // answer later, from another thread
    kHold,             // keep the callback until Release()
    kFailInference,    // InferenceFailed (500)
    kUnavailable,      // Unavailable (503)
    kDeadline,         // DeadlineExceeded (504)
    kInvalid,          // InvalidArgument (400), as a backend-side check would
    kThrow,            // throw from Infer
    kDrop,             // destroy the callback without calling it
    kAnswerTwice,      // call the callback twice (the second must be ignored)
    kWrongOutputSize,  // answer with an inconsistent output tensor
  };

  FakeBackend();
  ~FakeBackend() override;

  void set_behavior(Behavior behavior) { behavior_.store(behavior); }
  void set_live(bool live) { live_.store(live); }
  void set_ready(bool ready) { ready_.store(ready); }
  void set_model_ready(bool ready) { model_ready_.store(ready); }

  // Backend.
  bool Live() const override { return live_.load(); }
  bool Ready() const override { return ready_.load(); }
  std::vector<ModelInfo> Models() const override;
  StatusOr<ModelInfo> Find(std::string_view name, std::string_view version) const override;
  bool ModelReady(std::string_view name, std::string_view version) const override;
  void Infer(InferRequest request, InferCallback done) override;
  void RequestRefused(const RefusedRequest& refused) override;
  // Fixed: max_batch_size 8, max_queue_delay 500 us, preferred sizes {4},
  // 2 instances.
  StatusOr<ModelConfigInfo> Config(std::string_view name, std::string_view version) const override;
  // One row per version asked for (both for an empty version): success
  // count = Infer calls so far, 1000 ns each; fail 0; queue 10 ns each;
  // one execution per call.
  StatusOr<std::vector<ModelStatistics>> Statistics(std::string_view name, std::string_view version) const override;

  // One RequestRefused call, with its views copied.
  struct Refusal {
    std::string model;
    std::string reason;
    int http_status = 0;
    bool operator==(const Refusal&) const = default;
    // Readable in test failures.
    friend void PrintTo(const Refusal& r, std::ostream* os) {
      *os << "{\"" << r.model << "\", \"" << r.reason << "\", " << r.http_status << "}";
    }
  };
  // Every refusal reported so far, in order.
  std::vector<Refusal> refusals() const;

  // Waits (up to `timeout`) until `count` requests are held in kHold.
  bool WaitForHeld(std::size_t count, std::chrono::milliseconds timeout);
  // Answers every held request (computing the outputs) from the calling thread.
  void Release();
  // How many times Infer was called.
  int infer_calls() const { return infer_calls_.load(); }
  // The last request Infer received.
  std::optional<InferRequest> last_request() const;

  // The doubler's outputs for `request`: y = 2x and rows = batch size.
  static InferResponse Compute(const InferRequest& request);

 private:
  void WorkerLoop();

  std::atomic<Behavior> behavior_{Behavior::kCompute};
  std::atomic<bool> live_{true};
  std::atomic<bool> ready_{true};
  std::atomic<bool> model_ready_{true};
  std::atomic<int> infer_calls_{0};

  // Guards last_request_, held_, jobs_ and stopping_.
  mutable std::mutex mu_;
  // Signals a new job or a new held request.
  std::condition_variable changed_;
  // The last request Infer received. Guarded by mu_.
  std::optional<InferRequest> last_request_;
  // Requests kept in kHold. Guarded by mu_.
  std::vector<std::pair<InferRequest, InferCallback>> held_;
  // Refusals reported. Guarded by mu_.
  std::vector<Refusal> refusals_;
  // Work for the worker thread. Guarded by mu_.
  std::deque<std::function<void()>> jobs_;
  // Tells the worker to exit. Guarded by mu_.
  bool stopping_ = false;
  // Runs jobs_ (kComputeOnWorker).
  std::thread worker_;
};

}  // namespace mlship::serving::testing
