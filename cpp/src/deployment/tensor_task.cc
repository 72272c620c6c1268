// TensorTask and batch keys.
#include "mlship/deployment/tensor_task.h"

#include <c10/core/ScalarType.h>

namespace mlship {

TensorTask::TensorTask(std::vector<at::Tensor> inputs, std::string key, int64_t rows, int64_t batch_size_for_batcher,
                       TimePoint deadline, TensorCallback done)
    : inputs_(std::move(inputs)),
      key_(std::move(key)),
      rows_(rows),
      batcher_size_(batch_size_for_batcher),
      deadline_(deadline),
      enqueued_(std::chrono::steady_clock::now()),
      done_(std::move(done)) {}

void TensorTask::Answer(StatusOr<std::vector<at::Tensor>> result) {
  if (answered_.exchange(true)) return;
  // Inputs are released before the callback so their memory is free by the
  // time the caller sees the answer.
  inputs_.clear();
  done_(std::move(result));
}

std::string BatchKeyFor(const std::vector<at::Tensor>& inputs) {
  std::string key;
  for (const auto& t : inputs) {
    if (!key.empty()) key += ';';
    key += c10::toString(t.scalar_type());
    key += '[';
    for (int64_t d = 1; d < t.dim(); ++d) {
      if (d > 1) key += ',';
      key += std::to_string(t.size(d));
    }
    key += ']';
  }
  return key;
}

}  // namespace mlship
