// The Model base: input checks, InferenceMode, threads and error capture
// shared by every format.
#include "mlship/engine/error_text.h"
#include "mlship/engine/model.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include "mlship/engine/validate.h"

namespace mlship {

std::string_view ModelFormatName(ModelFormat format) {
  return format == ModelFormat::kTorchScript ? "torchscript" : "aotinductor";
}

StatusOr<std::vector<at::Tensor>> Model::Run(const std::vector<at::Tensor>& inputs) const {
  RETURN_IF_ERROR(ValidateInputs(signature_, inputs));
  return RunUnchecked(inputs);
}

StatusOr<std::vector<at::Tensor>> Model::RunUnchecked(const std::vector<at::Tensor>& inputs,
                                                      int intra_op_threads) const {
  // The intra-op thread count is a per-thread OpenMP setting: set it on the
  // calling thread only when it differs, which is once per thread.
  const int threads = intra_op_threads > 0 ? intra_op_threads : intra_op_threads_;
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
  try {
    c10::InferenceMode guard;
    std::vector<at::Tensor> contiguous;
    contiguous.reserve(inputs.size());
    for (const auto& t : inputs) contiguous.push_back(t.is_contiguous() ? t : t.contiguous());
    auto outputs = Forward(contiguous);
    if (outputs.size() != signature_.outputs.size()) {
      return Status::InferenceFailed("model returned " + std::to_string(outputs.size()) +
                                     " output(s); its signature declares " +
                                     std::to_string(signature_.outputs.size()));
    }
    return outputs;
  } catch (const std::exception& e) {
    // what_without_backtrace(): messages never carry C++ stack traces.
    return Status::InferenceFailed(std::string("model forward failed: ") + ErrorSummary(e));
  }
}

}  // namespace mlship
