// BestLatencyMicros: steady_clock around Model::RunUnchecked, round-robin.
#include "latency.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "mlship/engine/signature_torch.h"

namespace mlship::optimize_internal {

std::vector<double> BestLatencyMicros(const std::vector<const Model*>& models, int64_t batch, int runs) {
  constexpr double kFailed = std::numeric_limits<double>::infinity();
  std::vector<double> best(models.size(), kFailed);
  if (models.empty()) return best;
  const Signature& sig = models.front()->signature();
  std::vector<at::Tensor> inputs = SyntheticInputs(sig.inputs, sig.batchable() ? batch : 1);
  std::vector<bool> failed(models.size(), false);
  for (int i = 0; i < std::max(runs, 1) + 2; ++i) {
    for (std::size_t m = 0; m < models.size(); ++m) {
      if (failed[m]) continue;
      auto start = std::chrono::steady_clock::now();
      bool ok = models[m]->RunUnchecked(inputs).ok();
      double micros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      if (!ok) {
        failed[m] = true;
        best[m] = kFailed;
      } else if (i >= 2) {  // the first two calls warm up
        best[m] = std::min(best[m], micros);
      }
    }
  }
  return best;
}

}  // namespace mlship::optimize_internal
