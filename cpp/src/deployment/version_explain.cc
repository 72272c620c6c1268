// ModelVersion::Explain: explanations of served requests, checked at once
// (bad parameters and the per-request budget answer before queueing), then
// run on the version's own low-priority ExplainQueue, never on the inference
// workers.
#include <ATen/ATen.h>

#include "mlship/deployment/host_tensor_convert.h"
#include "mlship/deployment/model_version.h"
#include "mlship/engine/dtype_torch.h"
#include "mlship/engine/explain.h"

namespace mlship {
namespace {

std::vector<serving::ExplainMethodInfo> MethodInfos(const Model& model) {
  const ExplainSupport support = SupportedExplainMethods(model);
  std::vector<serving::ExplainMethodInfo> out;
  for (ExplainMethod method : AllExplainMethods()) {
    serving::ExplainMethodInfo info;
    info.name = std::string(ExplainMethodName(method));
    info.supported = support.Supports(method);
    if (!info.supported) info.reason = "it needs gradients, and " + support.no_gradients_reason;
    out.push_back(std::move(info));
  }
  return out;
}

// The engine's options for `p`, with baselines as tensors.
StatusOr<ExplainOptions> OptionsFor(const serving::ExplainParameters& p, const std::vector<at::Tensor>& inputs,
                                    const VersionOptions& version_options) {
  ExplainOptions o;
  ASSIGN_OR_RETURN(o.method, ParseExplainMethod(p.method));
  o.targets = p.targets;
  o.steps = p.steps;
  o.samples = p.samples;
  o.window = p.window;
  o.seed = p.seed;
  o.max_evaluations = version_options.explain_max_evaluations;
  o.intra_op_threads = 1;  // one core: explanations take what inference leaves
  if (!p.baselines.empty()) {
    for (const auto& host : p.baselines) o.baselines.push_back(ToTensor(host));
  } else if (p.baseline_value) {
    for (const auto& x : inputs) {
      std::vector<int64_t> shape = x.sizes().vec();
      shape[0] = 1;
      o.baselines.push_back(at::full(shape, *p.baseline_value, x.options()));
    }
  }
  return o;
}

}  // namespace

const std::vector<serving::ExplainMethodInfo>& ModelVersion::explain_methods() const {
  std::call_once(explain_methods_once_, [this] { explain_methods_ = MethodInfos(*model_); });
  return explain_methods_;
}

StatusOr<ExplainQueue*> ModelVersion::ExplainQueueStarted() {
  std::lock_guard<std::mutex> lock(explain_mu_);
  if (explain_stopped_) return Status::Unavailable("model version " + id_.version + " is stopping");
  if (!explain_queue_) {
    ExplainQueueOptions q;
    q.max_queue_size = options_.explain_queue_size;
    q.thread_name = "mlship-explain";
    ASSIGN_OR_RETURN(explain_queue_, ExplainQueue::Create(q));
  }
  return explain_queue_.get();
}

void ModelVersion::StopExplanations() {
  std::unique_ptr<ExplainQueue> queue;
  {
    std::lock_guard<std::mutex> lock(explain_mu_);
    explain_stopped_ = true;
    queue = std::move(explain_queue_);
  }
  if (queue) queue->Stop();
}

void ModelVersion::Explain(serving::ExplainRequest request, serving::ExplainCallback done) {
  if (draining_.load()) {
    done(Status::Unavailable("model version " + id_.version + " is stopping"));
    return;
  }
  std::vector<at::Tensor> inputs;
  for (const auto& host : request.request.inputs) inputs.push_back(ToTensor(host));
  StatusOr<ExplainOptions> options = OptionsFor(request.parameters, inputs, options_);
  if (!options.ok()) {
    done(options.status());
    return;
  }
  // Everything that can be said before running, said now (not after a wait
  // in the queue): the method, the parameters' ranges, the budget.
  const ExplainSupport support = SupportedExplainMethods(*model_);
  if (!support.Supports(options->method)) {
    done(UnsupportedMethodError(options->method, support));
    return;
  }
  StatusOr<int64_t> cost = ExplainEvaluations(*model_, inputs, *options);
  if (!cost.ok()) {
    done(cost.status());
    return;
  }
  if (*cost > options_.explain_max_evaluations) {
    done(Status::InvalidArgument(
        "this explanation needs " + std::to_string(*cost) + " model evaluations (rows run forward); the budget is " +
        std::to_string(options_.explain_max_evaluations) +
        " per request (explain_max_evaluations): send fewer rows, or lower steps or samples"));
    return;
  }
  StatusOr<ExplainQueue*> queue = ExplainQueueStarted();
  if (!queue.ok()) {
    done(queue.status());
    return;
  }
  auto shared_done = std::make_shared<serving::ExplainCallback>(std::move(done));
  Status submitted = (*queue)->Submit([model = model_, inputs = std::move(inputs), options = std::move(*options),
                                       deadline = request.request.deadline, version = id_.version,
                                       shared_done](Status status) {
    serving::ExplainCallback& done = *shared_done;
    if (!status.ok()) return done(status);
    if (std::chrono::steady_clock::now() > deadline) {
      return done(Status::DeadlineExceeded("the explanation waited past its deadline behind others"));
    }
    StatusOr<Explanation> result = mlship::Explain(*model, inputs, options);
    if (!result.ok()) return done(result.status());
    serving::ExplainResponse response;
    response.model_version = version;
    response.evaluations = result->evaluations;
    const Signature& sig = model->signature();
    auto add = [&response](std::string name, const at::Tensor& t) -> Status {
      ASSIGN_OR_RETURN(DType dtype, FromScalarType(t.scalar_type()));
      response.tensors.push_back(ToHostTensor(std::move(name), t, dtype));
      return Status::Ok();
    };
    for (std::size_t i = 0; i < result->outputs.size(); ++i) {
      Status s = add(i < sig.outputs.size() ? sig.outputs[i].name : "output_" + std::to_string(i), result->outputs[i]);
      if (!s.ok()) return done(Status::Internal(s.message()));
    }
    for (std::size_t i = 0; i < result->attributions.size(); ++i) {
      Status s = add(sig.inputs[i].name + "_attribution", result->attributions[i]);
      if (!s.ok()) return done(Status::Internal(s.message()));
    }
    Status s = add("explain_target", result->targets);
    if (s.ok() && result->delta.defined()) s = add("explain_delta", result->delta);
    if (!s.ok()) return done(Status::Internal(s.message()));
    done(std::move(response));
  });
  if (!submitted.ok()) (*shared_done)(submitted);
}

}  // namespace mlship
