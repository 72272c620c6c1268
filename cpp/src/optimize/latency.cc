// MedianLatencyMicros: steady_clock around Model::RunUnchecked.
#include "latency.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include "mlship/engine/signature_torch.h"

namespace mlship::optimize_internal {

double MedianLatencyMicros(const Model& model, int64_t batch, int runs) {
  const Signature& sig = model.signature();
  std::vector<at::Tensor> inputs = SyntheticInputs(sig.inputs, sig.batchable() ? batch : 1);
  constexpr double kFailed = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 2; ++i) {
    if (!model.RunUnchecked(inputs).ok()) return kFailed;
  }
  std::vector<double> micros;
  micros.reserve(std::max(runs, 1));
  for (int i = 0; i < std::max(runs, 1); ++i) {
    auto start = std::chrono::steady_clock::now();
    if (!model.RunUnchecked(inputs).ok()) return kFailed;
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(micros.begin(), micros.begin() + micros.size() / 2, micros.end());
  return micros[micros.size() / 2];
}

}  // namespace mlship::optimize_internal
