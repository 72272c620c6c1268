// The golden check, through the version's own request path.
#include "mlship/deployment/golden_check.h"

#include <future>

#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/output_compare.h"

namespace mlship {

Status CheckGolden(ModelVersion& version, const GoldenData& golden) {
  const Signature& sig = version.model().signature();
  const std::string who = "version '" + version.id().version + "' of model '" + version.id().model + "'";
  if (golden.inputs.size() != sig.inputs.size()) {
    return Status::InvalidArgument(who + ": the golden data has " + std::to_string(golden.inputs.size()) +
                                   " input(s); the model takes " + std::to_string(sig.inputs.size()));
  }
  auto answer = std::make_shared<std::promise<StatusOr<std::vector<at::Tensor>>>>();
  std::future<StatusOr<std::vector<at::Tensor>>> future = answer->get_future();
  version.Enter(
      golden.inputs, TensorTask::TimePoint::max(),
      [answer](StatusOr<std::vector<at::Tensor>> result) { answer->set_value(std::move(result)); },
      /*run_here=*/false);
  StatusOr<std::vector<at::Tensor>> outputs = future.get();
  if (!outputs.ok()) {
    return Status::FailedPrecondition(who + " failed on its golden inputs: " + outputs.status().message());
  }
  if (outputs->size() != golden.outputs.size()) {
    return Status::InvalidArgument(who + ": the golden data has " + std::to_string(golden.outputs.size()) +
                                   " output(s); the model gives " + std::to_string(outputs->size()));
  }
  for (std::size_t i = 0; i < outputs->size(); ++i) {
    const at::Tensor& expected = golden.outputs[i];
    Tolerance tol;
    StatusOr<DType> dtype = FromScalarType(expected.scalar_type());
    if (dtype.ok()) tol = DefaultTolerance(*dtype);
    if (golden.rtol) tol.rtol = *golden.rtol;
    if (golden.atol) tol.atol = *golden.atol;
    // bf16 outputs are stored widened (numpy has no bfloat16).
    at::Tensor actual = (*outputs)[i];
    if (actual.scalar_type() != expected.scalar_type() && actual.scalar_type() == at::kBFloat16) {
      actual = actual.to(expected.scalar_type());
    }
    const OutputComparison c = CompareOutputs(actual, expected, tol);
    if (!c.ok) {
      const std::string name = i < sig.outputs.size() ? sig.outputs[i].name : "output " + std::to_string(i);
      return Status::FailedPrecondition(who + " does not reproduce its golden outputs, so it takes no traffic: " +
                                        "output '" + name + "': " + c.message);
    }
  }
  return Status::Ok();
}

}  // namespace mlship
