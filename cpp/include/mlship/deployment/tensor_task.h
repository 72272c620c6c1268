// TensorTask: one request on its way through the batcher to a model.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlship/batching/task.h"
#include "mlship/status.h"

namespace mlship {

// Called once with the request's outputs (flat, in signature order) or error.
using TensorCallback = std::function<void(StatusOr<std::vector<at::Tensor>>)>;

// A request of `rows` rows. Meets the BatchTask concept (batching/task.h).
//
// Requests that can share a batch have the same batch_key: the same dtype and
// non-batch dimensions for every input. A request that must run alone (its
// model has no dynamic batch dimension, or it is larger than a batch) gets a
// key of its own and a size equal to the batch limit, so the batcher closes
// its batch at once.
class TensorTask {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  TensorTask(std::vector<at::Tensor> inputs, std::string key, int64_t rows, int64_t batch_size_for_batcher,
             TimePoint deadline, TensorCallback done);

  int64_t size() const { return batcher_size_; }
  const std::string& batch_key() const { return key_; }
  TimePoint deadline() const { return deadline_; }
  // Answers with an error. The first answer wins; later ones are ignored.
  void Fail(Status status) { Answer(std::move(status)); }
  // Answers with outputs. The first answer wins.
  void Succeed(std::vector<at::Tensor> outputs) { Answer(std::move(outputs)); }

  const std::vector<at::Tensor>& inputs() const { return inputs_; }
  // Real rows (dimension 0 of the inputs).
  int64_t rows() const { return rows_; }
  TimePoint enqueued() const { return enqueued_; }

 private:
  void Answer(StatusOr<std::vector<at::Tensor>> result);

  std::vector<at::Tensor> inputs_;
  std::string key_;
  int64_t rows_;
  int64_t batcher_size_;
  TimePoint deadline_;
  TimePoint enqueued_;
  TensorCallback done_;
  std::atomic<bool> answered_{false};
};

// "FP32[64];INT64[8]": what must agree for requests to share a batch.
std::string BatchKeyFor(const std::vector<at::Tensor>& inputs);

}  // namespace mlship
