// The metric families of a served model, and their children.
#include "mlship/monitor/model_metrics.h"

namespace mlship::monitor {
namespace {

// Request, queue and compute durations: 100 µs to 10 s in 1-2.5-5 steps,
// finer at the low end than the client libraries' defaults (which start at
// 5 ms), because CPU models often answer in a millisecond.
std::vector<double> DurationBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// Powers of two up to the first at or above max_batch_size.
std::vector<double> BatchSizeBuckets(int64_t max_batch_size) {
  std::vector<double> bounds;
  for (int64_t b = 1;; b *= 2) {
    bounds.push_back(static_cast<double>(b));
    if (b >= max_batch_size || b >= (int64_t{1} << 40)) break;
  }
  return bounds;
}

std::vector<std::string> With(std::vector<std::string> base, std::initializer_list<std::string> more) {
  base.insert(base.end(), more);
  return base;
}

}  // namespace

StatusOr<std::unique_ptr<ModelMetrics>> ModelMetrics::Create(MetricsRegistry& registry, std::string model,
                                                             std::string version, int64_t max_batch_size) {
  std::unique_ptr<ModelMetrics> m(new ModelMetrics());
  m->labels_ = {std::move(model), std::move(version)};
  const std::vector<std::string> names = {"model", "version"};
  auto counter = [&](const char* name, const char* help) -> StatusOr<Counter*> {
    ASSIGN_OR_RETURN(auto* family, registry.AddCounter({name, help, names}));
    return family->WithLabels(m->labels_);
  };
  auto gauge = [&](const char* name, const char* help) -> StatusOr<Gauge*> {
    ASSIGN_OR_RETURN(auto* family, registry.AddGauge({name, help, names}));
    return family->WithLabels(m->labels_);
  };
  auto histogram = [&](const char* name, const char* help, std::vector<double> bounds) -> StatusOr<Histogram*> {
    ASSIGN_OR_RETURN(auto* family, registry.AddHistogram({name, help, names}, std::move(bounds)));
    return family->WithLabels(m->labels_);
  };
  ASSIGN_OR_RETURN(m->requests_succeeded,
                   counter("mlship_requests_succeeded_total", "Requests answered with outputs."));
  ASSIGN_OR_RETURN(m->failed_family_,
                   registry.AddCounter({"mlship_requests_failed_total",
                                        "Requests answered with an error, by reason (the error code).",
                                        With(names, {"reason"})}));
  ASSIGN_OR_RETURN(m->http_refused_family_,
                   registry.AddCounter({"mlship_http_requests_refused_total",
                                        "HTTP requests the server refused that were not inference requests for "
                                        "this model (unknown model or endpoint, malformed HTTP, oversized headers, "
                                        "connection limit, wrong token elsewhere), by reason.",
                                        With(names, {"reason"})}));
  ASSIGN_OR_RETURN(m->inferences, counter("mlship_inferences_total",
                                          "Rows run through the model; divided by executions: mean batch size."));
  ASSIGN_OR_RETURN(m->executions, counter("mlship_executions_total", "Forward passes (batches) run."));
  ASSIGN_OR_RETURN(m->request_duration, histogram("mlship_request_duration_seconds",
                                                  "Time from arrival to answer of successful requests.",
                                                  DurationBuckets()));
  ASSIGN_OR_RETURN(m->queue_duration, histogram("mlship_queue_duration_seconds",
                                                "Time requests waited in the batcher before their batch ran.",
                                                DurationBuckets()));
  ASSIGN_OR_RETURN(m->compute_duration,
                   histogram("mlship_compute_duration_seconds", "Time of one forward pass.", DurationBuckets()));
  ASSIGN_OR_RETURN(m->batch_size, histogram("mlship_batch_size", "Rows per forward pass.",
                                            BatchSizeBuckets(max_batch_size)));
  ASSIGN_OR_RETURN(m->queue_depth, gauge("mlship_queue_depth", "Requests waiting in the batcher."));
  ASSIGN_OR_RETURN(m->inflight_requests,
                   gauge("mlship_inflight_requests", "Requests accepted and not yet answered."));
  ASSIGN_OR_RETURN(m->drift_alerts, counter("mlship_drift_alerts_total",
                                            "Drift alerts: checks that found features newly drifted."));
  ASSIGN_OR_RETURN(m->drift_window_rows, gauge("mlship_drift_window_rows", "Live rows in the drift window."));
  ASSIGN_OR_RETURN(m->psi_family_, registry.AddGauge({"mlship_drift_psi",
                                                      "Population stability index of a feature, live vs reference.",
                                                      With(names, {"feature"})}));
  ASSIGN_OR_RETURN(m->ks_family_, registry.AddGauge({"mlship_drift_ks_statistic",
                                                     "Two-sample Kolmogorov-Smirnov D of a feature, live vs reference.",
                                                     With(names, {"feature"})}));
  ASSIGN_OR_RETURN(m->detected_family_, registry.AddGauge({"mlship_drift_detected",
                                                           "1 while a feature is judged drifted, else 0.",
                                                           With(names, {"feature"})}));
  ASSIGN_OR_RETURN(m->anomaly_family_,
                   registry.AddCounter({"mlship_input_anomalies_total",
                                        "Input values that were NaN, infinite or far outside the reference range.",
                                        With(names, {"feature", "kind"})}));
  ASSIGN_OR_RETURN(m->prediction_psi_family_,
                   registry.AddGauge({"mlship_prediction_drift_psi",
                                      "Population stability index of the predicted-class shares, live vs reference.",
                                      names}));
  ASSIGN_OR_RETURN(m->prediction_detected_family_,
                   registry.AddGauge({"mlship_prediction_drift_detected",
                                      "1 while the predicted-class mix is judged drifted, else 0.", names}));
  ASSIGN_OR_RETURN(m->prediction_rows_family_,
                   registry.AddGauge({"mlship_prediction_window_rows", "Predictions in the live class window.", names}));
  ASSIGN_OR_RETURN(m->prediction_alerts_family_,
                   registry.AddCounter({"mlship_prediction_drift_alerts_total",
                                        "Prediction drift alerts: checks that found the predicted-class mix newly "
                                        "drifted.",
                                        names}));
  ASSIGN_OR_RETURN(m->fallback_active, gauge("mlship_fallback_active", "1 while the fallback model serves, else 0."));
  ASSIGN_OR_RETURN(m->fallback_switches,
                   counter("mlship_fallback_switches_total", "Switches of traffic to the fallback model."));
  for (int code = 1; code <= static_cast<int>(StatusCode::kResourceExhausted); ++code) {
    const std::string reason(StatusCodeName(static_cast<StatusCode>(code)));
    ASSIGN_OR_RETURN(m->failed_by_code_[static_cast<size_t>(code)],
                     m->failed_family_->WithLabels(With(m->labels_, {reason})));
  }
  ASSIGN_OR_RETURN(m->failed_anomaly_,
                   m->failed_family_->WithLabels(With(m->labels_, {std::string(kInputAnomalyReason)})));
  return m;
}

Counter* ModelMetrics::RequestsFailed(std::string_view reason) {
  if (reason == kInputAnomalyReason) return failed_anomaly_;
  for (int code = 1; code <= static_cast<int>(StatusCode::kResourceExhausted); ++code) {
    if (StatusCodeName(static_cast<StatusCode>(code)) == reason) return failed_by_code_[static_cast<size_t>(code)];
  }
  auto child = failed_family_->WithLabels(With(labels_, {std::string(reason)}));
  return child.ok() ? *child : failed_by_code_[static_cast<size_t>(StatusCode::kInternal)];
}

Counter* ModelMetrics::HttpRequestsRefused(std::string_view reason) {
  auto child = http_refused_family_->WithLabels(With(labels_, {std::string(reason)}));
  // The label count is fixed, so WithLabels cannot fail; count somewhere
  // rather than nowhere if it ever did.
  return child.ok() ? *child : failed_by_code_[static_cast<size_t>(StatusCode::kInternal)];
}

StatusOr<ModelMetrics::PredictionMetrics> ModelMetrics::AddPredictionMetrics() {
  PredictionMetrics p;
  ASSIGN_OR_RETURN(p.psi, prediction_psi_family_->WithLabels(labels_));
  ASSIGN_OR_RETURN(p.detected, prediction_detected_family_->WithLabels(labels_));
  ASSIGN_OR_RETURN(p.window_rows, prediction_rows_family_->WithLabels(labels_));
  ASSIGN_OR_RETURN(p.alerts, prediction_alerts_family_->WithLabels(labels_));
  return p;
}

StatusOr<ModelMetrics::FeatureMetrics> ModelMetrics::AddFeatures(const std::vector<std::string>& feature_names) {
  FeatureMetrics f;
  static const char* const kKinds[] = {"nan", "inf", "out_of_range"};
  for (const std::string& feature : feature_names) {
    const auto labels = With(labels_, {feature});
    ASSIGN_OR_RETURN(Gauge * psi, psi_family_->WithLabels(labels));
    ASSIGN_OR_RETURN(Gauge * ks, ks_family_->WithLabels(labels));
    ASSIGN_OR_RETURN(Gauge * detected, detected_family_->WithLabels(labels));
    f.drift_psi.push_back(psi);
    f.drift_ks_statistic.push_back(ks);
    f.drift_detected.push_back(detected);
    for (const char* kind : kKinds) {
      ASSIGN_OR_RETURN(Counter * c, anomaly_family_->WithLabels(With(labels_, {feature, kind})));
      f.anomalies.push_back(c);
    }
  }
  return f;
}

}  // namespace mlship::monitor
