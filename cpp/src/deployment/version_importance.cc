// Sampled explanations (explain_sample_rate): a share of the live requests
// is explained in the background, on the version's low-priority explanation
// queue, feeding a running global feature importance per version; the same
// figure is computed on the drift reference, so an operator sees when the
// model starts relying on different features. Best effort: a sample finding
// the queue full is dropped (and counted), never delaying a request.
#include <ATen/ATen.h>

#include <random>

#include "mlship/deployment/model_version.h"
#include "mlship/engine/explain.h"

namespace mlship {
namespace {

// Rows of the reference explained for its importance.
constexpr int64_t kReferenceRows = 64;

// The method sampled explanations use: integrated gradients where the model
// has gradients (16 steps), else occlusion (forward passes only).
ExplainOptions SampleOptions(const Model& model) {
  ExplainOptions o;
  o.method = SupportedExplainMethods(model).Supports(ExplainMethod::kIntegratedGradients)
                 ? ExplainMethod::kIntegratedGradients
                 : ExplainMethod::kOcclusion;
  o.steps = 16;
  o.intra_op_threads = 1;
  return o;
}

bool Coin(double rate) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < rate;
}

template <typename Family>
auto ChildOf(Family* family, const std::vector<std::string>& labels) {
  auto child = family->WithLabels(labels);
  return child.ok() ? *child : nullptr;  // by value: `child` ends here
}

}  // namespace

struct ModelVersion::Importance {
  std::unique_ptr<monitor::FeatureImportance> figures;
  std::vector<std::string> names;
  // Gauges in the monitor's registry (null without monitoring).
  std::vector<monitor::Gauge*> live;
  std::vector<monitor::Gauge*> reference;
  monitor::Gauge* shift = nullptr;
  monitor::Counter* sampled = nullptr;
  monitor::Counter* dropped = nullptr;
};

ModelVersion::Importance* ModelVersion::ImportanceState() {
  std::call_once(importance_once_, [this] {
    const Signature& sig = model_->signature();
    int64_t features = 1;
    for (std::size_t d = 1; d < sig.inputs[0].shape.size(); ++d) features *= std::max<int64_t>(1, sig.inputs[0].shape[d]);
    auto state = std::make_shared<Importance>();
    state->figures = std::make_unique<monitor::FeatureImportance>(features);
    if (monitor_ && static_cast<int64_t>(monitor_->FeatureNames().size()) == features) {
      state->names = monitor_->FeatureNames();
    } else {
      for (int64_t i = 0; i < features; ++i) state->names.push_back(sig.inputs[0].name + "[" + std::to_string(i) + "]");
    }
    if (monitor_) {
      auto& registry = monitor_->registry();
      const std::vector<std::string> labels = {"model", "version"};
      const std::vector<std::string> feature_labels = {"model", "version", "feature"};
      auto live = registry.AddGauge({"mlship_feature_importance",
                                     "Mean |attribution| of a feature over the sampled live requests "
                                     "(explain_sample_rate).",
                                     feature_labels});
      auto ref = registry.AddGauge({"mlship_feature_importance_reference",
                                    "Mean |attribution| of a feature over the drift reference.", feature_labels});
      auto shift = registry.AddGauge({"mlship_feature_importance_shift",
                                      "Share of feature importance that moved between the reference and the live "
                                      "requests (total variation distance, 0..1; -1 until both are known).",
                                      labels});
      auto sampled = registry.AddCounter({"mlship_explanations_sampled_total",
                                          "Live requests explained for the feature importance.", labels});
      auto dropped = registry.AddCounter({"mlship_explanations_sample_dropped_total",
                                          "Sampled requests not explained because the explanation queue was full.",
                                          labels});
      if (live.ok() && ref.ok() && shift.ok() && sampled.ok() && dropped.ok()) {
        const std::vector<std::string> ids = {id_.model, id_.version};
        for (const auto& name : state->names) {
          state->live.push_back(ChildOf(*live, {id_.model, id_.version, name}));
          state->reference.push_back(ChildOf(*ref, {id_.model, id_.version, name}));
        }
        state->shift = ChildOf(*shift, ids);
        state->sampled = ChildOf(*sampled, ids);
        state->dropped = ChildOf(*dropped, ids);
        if (state->shift) state->shift->Set(-1);
      }
    }
    importance_ = std::move(state);
  });
  return importance_.get();
}

void ModelVersion::PublishImportance() {
  Importance* state = ImportanceState();
  if (state->live.empty() || state->shift == nullptr) return;
  const monitor::FeatureImportance::Snapshot s = state->figures->Get();
  for (std::size_t i = 0; i < state->live.size(); ++i) {
    if (i < s.live.size() && state->live[i]) state->live[i]->Set(s.live[i]);
    if (i < s.reference.size() && state->reference[i]) state->reference[i]->Set(s.reference[i]);
  }
  state->shift->Set(s.shift);
}

void ModelVersion::SampleForImportance(const std::vector<at::Tensor>& inputs) {
  if (!Coin(options_.explain_sample_rate)) return;
  Importance* state = ImportanceState();
  StatusOr<ExplainQueue*> queue = ExplainQueueStarted();
  if (!queue.ok()) return;
  std::vector<at::Tensor> row;  // the first row of the request, copied (the request moves on)
  for (const auto& t : inputs) row.push_back(t.narrow(0, 0, 1).clone());
  Status submitted = (*queue)->Submit([this, state, model = model_, row = std::move(row)](Status status) {
    if (!status.ok()) return;
    StatusOr<Explanation> e = mlship::Explain(*model, row, SampleOptions(*model));
    if (!e.ok() || e->attributions.empty()) return;
    at::Tensor a = e->attributions[0].reshape({-1}).abs().contiguous();
    if (a.numel() != state->figures->features()) return;
    state->figures->Add(a.data_ptr<float>());
    if (state->sampled) state->sampled->Increment();
    PublishImportance();
  });
  if (!submitted.ok() && state->dropped) state->dropped->Increment();
}

void ModelVersion::ExplainReferenceImportance(const at::Tensor& reference) {
  if (options_.explain_sample_rate <= 0 || model_->signature().inputs.size() != 1) return;
  Importance* state = ImportanceState();
  StatusOr<ExplainQueue*> queue = ExplainQueueStarted();
  if (!queue.ok()) return;
  at::Tensor rows = reference.narrow(0, 0, std::min<int64_t>(kReferenceRows, reference.size(0)))
                        .to(model_->signature().inputs[0].dtype == DType::kFloat64 ? at::kDouble : at::kFloat)
                        .contiguous();
  // Waits for room: the reference is explained once, so it is worth a wait
  // (on the explanation worker, never on a request's thread).
  Status submitted = (*queue)->Submit([this, state, model = model_, rows](Status status) {
    if (!status.ok()) return;
    StatusOr<Explanation> e = mlship::Explain(*model, {rows}, SampleOptions(*model));
    if (!e.ok() || e->attributions.empty()) return;
    at::Tensor mean = e->attributions[0].reshape({rows.size(0), -1}).abs().to(at::kDouble).mean(0).contiguous();
    if (mean.numel() != state->figures->features()) return;
    std::vector<double> values(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
    state->figures->SetReference(std::move(values), rows.size(0));
    PublishImportance();
  });
  (void)submitted;  // a full queue: the reference importance waits for the next SetReference
}

std::string ModelVersion::ImportanceJson() {
  if (options_.explain_sample_rate <= 0) return "null";
  Importance* state = ImportanceState();
  return state->figures->ToJson(state->names);
}

}  // namespace mlship
