// ModelMetrics: the Prometheus metrics of one served model version, looked
// up once so the request path only touches atomics.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/monitor/metrics.h"
#include "mlship/status.h"

namespace mlship::monitor {

// Why a request failed: the Status code names ("invalid_argument",
// "unavailable", "deadline_exceeded", "inference_failed", ...) plus
// "input_anomaly" for requests refused by the anomaly check.
inline constexpr std::string_view kInputAnomalyReason = "input_anomaly";

// Every family is labelled model and version; the per-feature ones add
// `feature`, the anomaly counter adds `kind`, the failure counter `reason`.
// README.md ("Monitoring") documents each metric.
//
// Thread-safe: the pointers are fixed after Create (per-feature ones after
// AddFeatures, which hands out fresh vectors), and every metric is atomic.
class ModelMetrics {
 public:
  // Registers the families in `registry` (which must outlive this) and
  // creates the children for `model` and `version`. `max_batch_size` sizes
  // the batch-size histogram's buckets.
  static StatusOr<std::unique_ptr<ModelMetrics>> Create(MetricsRegistry& registry, std::string model,
                                                        std::string version, int64_t max_batch_size);

  // The failure counter for `reason` (a Status code name or
  // kInputAnomalyReason); created on first use for unknown reasons.
  Counter* RequestsFailed(std::string_view reason);
  // The counter of HTTP requests refused by the server that were not
  // inference requests for this model, for `reason` (see
  // serving::RefusalReasonFor); created on first use.
  Counter* HttpRequestsRefused(std::string_view reason);

  // Per-feature children for a reference with these feature names.
  struct FeatureMetrics {
    // Indexed by feature.
    std::vector<Gauge*> drift_psi;
    std::vector<Gauge*> drift_ks_statistic;
    std::vector<Gauge*> drift_detected;
    // Indexed by feature × 3 + kind (0 nan, 1 inf, 2 out_of_range).
    std::vector<Counter*> anomalies;
  };
  StatusOr<FeatureMetrics> AddFeatures(const std::vector<std::string>& feature_names);

  // The predicted-class drift children, made when the first classifier
  // reference is set (so a regression model's /metrics shows none of them).
  struct PredictionMetrics {
    // PSI of the live predicted-class shares against the reference's.
    Gauge* psi = nullptr;
    // 1 while the predicted-class mix is judged drifted, else 0.
    Gauge* detected = nullptr;
    // Predictions in the live window.
    Gauge* window_rows = nullptr;
    // Prediction drift alerts raised.
    Counter* alerts = nullptr;
  };
  StatusOr<PredictionMetrics> AddPredictionMetrics();

  // Requests answered with outputs.
  Counter* requests_succeeded = nullptr;
  // Rows run through the model, and forward passes (batches) run:
  // mean batch size = inferences / executions.
  Counter* inferences = nullptr;
  Counter* executions = nullptr;
  // From arrival to answer, of successful requests.
  Histogram* request_duration = nullptr;
  // From arrival until its batch started running.
  Histogram* queue_duration = nullptr;
  // One forward pass of a batch.
  Histogram* compute_duration = nullptr;
  // Rows per forward pass.
  Histogram* batch_size = nullptr;
  // Requests waiting in the batcher (set when metrics are read).
  Gauge* queue_depth = nullptr;
  // Requests accepted and not yet answered.
  Gauge* inflight_requests = nullptr;
  // Drift alerts raised (one per check that found newly drifted features).
  Counter* drift_alerts = nullptr;
  // Rows in the live drift window.
  Gauge* drift_window_rows = nullptr;
  // 1 while the fallback model serves, else 0.
  Gauge* fallback_active = nullptr;
  // Switches to the fallback model.
  Counter* fallback_switches = nullptr;

 private:
  ModelMetrics() = default;

  // The label values every child starts with.
  std::vector<std::string> labels_;
  // Families whose children are made later.
  MetricFamily<Counter>* failed_family_ = nullptr;
  MetricFamily<Counter>* http_refused_family_ = nullptr;
  MetricFamily<Gauge>* psi_family_ = nullptr;
  MetricFamily<Gauge>* ks_family_ = nullptr;
  MetricFamily<Gauge>* detected_family_ = nullptr;
  MetricFamily<Counter>* anomaly_family_ = nullptr;
  MetricFamily<Gauge>* prediction_psi_family_ = nullptr;
  MetricFamily<Gauge>* prediction_detected_family_ = nullptr;
  MetricFamily<Gauge>* prediction_rows_family_ = nullptr;
  MetricFamily<Counter>* prediction_alerts_family_ = nullptr;
  // Failure counters for the Status codes, made at Create so lookups on the
  // request path need no lock; indexed by the code's integer value.
  std::array<Counter*, 16> failed_by_code_{};
  // The input_anomaly failure counter.
  Counter* failed_anomaly_ = nullptr;
};

}  // namespace mlship::monitor
