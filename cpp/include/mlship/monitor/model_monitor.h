// ModelMonitor: everything a server knows about how one model version is
// doing: metrics, recent latency and throughput, input drift and anomalies
// against a reference, and its health against an SLO. It reports; it does
// not decide which version serves (the deployment layer's router does, e.g.
// its fallback policy reads JudgeSlo).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mlship/monitor/alert.h"
#include "mlship/monitor/anomaly.h"
#include "mlship/monitor/counter_history.h"
#include "mlship/monitor/drift_monitor.h"
#include "mlship/monitor/health_policy.h"
#include "mlship/monitor/latency_window.h"
#include "mlship/monitor/model_metrics.h"
#include "mlship/monitor/prediction_drift.h"
#include "mlship/monitor/prediction_window.h"
#include "mlship/clock.h"
#include "mlship/monitor/reference_profile.h"
#include "mlship/status.h"

namespace mlship::monitor {

struct ModelMonitorOptions {
  // --- Affects behaviour ---

  // The model name and version every metric is labelled with.
  std::string model = "model";
  std::string version = "1";
  // The batcher's max_batch_size; sizes the batch-size histogram.
  int64_t max_batch_size = 32;
  // How far back Stats() looks, in whole seconds. Range 1..3600. Default 60.
  int64_t stats_window_seconds = 60;
  // How often drift is judged on the live window, off the request path.
  // Default 10 s: PSI over a window of thousands of rows moves slowly, and a
  // check costs a sort per feature. Must be positive.
  std::chrono::milliseconds drift_check_interval{10'000};
  // Live window, sample floor and thresholds for drift (window_size 5000,
  // min_samples 500, PSI 0.2, KS p < 0.01 and D >= 0.1 by default; see
  // drift_monitor.h). on_drift and check_interval are ignored: the monitor
  // raises alerts itself and runs the checks on its own thread.
  DriftMonitorOptions drift;
  // Range tolerance (default: one reference range beyond the extremes) and
  // whether anomalous requests are refused (default false: counted only).
  AnomalyDetectorOptions anomalies;
  // Quantile bins (default 10) and the KS sample (default 2000 values).
  ReferenceProfileOptions reference;
  // Whether the model is a classifier whose predicted-class mix is compared
  // with the one it predicted on the reference. Read by the deployment, which
  // knows the model's outputs: nullopt (default) decides from them (one
  // floating-point output shaped [rows, classes] with classes >= 2; the
  // predicted class is the argmax), true insists (an error if the outputs do
  // not fit), false turns it off. The live window, min_samples and
  // psi_threshold are drift's (above).
  std::optional<bool> classifier;
  // The longest window, in seconds, JudgeSlo will be asked to judge (the
  // router's SLO window), so enough history is kept. Default 0: only
  // stats_window_seconds.
  int64_t health_window_seconds = 0;
  // Time for the monitor's thread, its windows and its judgements. Default
  // (null): the real steady clock. Not owned; must outlive the monitor.
  Clock* clock = nullptr;
  // Called with every alert, on the monitor's thread (or the thread that
  // asked for a drift check or a restore), without the monitor's locks held.
  // Keep it quick. May be empty.
  std::function<void(const AlertEvent&)> on_alert;
  // Writes alert lines. Default: one line on stderr.
  std::function<void(const std::string&)> log;

  // --- Affects performance; most users should leave this alone ---

  // How often the monitor's thread takes counter snapshots (for windowed
  // throughput, batch size and error rate) and judges the SLO. Default 250 ms.
  std::chrono::milliseconds tick_interval{250};
};

// Checks every ModelMonitorOptions field (drift, anomaly, profile and SLO
// settings included) and names the first bad one with its value. Create
// calls it; flag parsers call it to refuse bad values before loading a model.
Status ValidateModelMonitorOptions(const ModelMonitorOptions& options);

// Recent behaviour, over ModelMonitorOptions::stats_window_seconds.
struct MonitorStats {
  // Latency percentiles, mean and throughput of successful requests.
  LatencyStats latency;
  // Rows per forward pass over the window (0 without executions).
  double mean_batch_size = 0.0;
  // Requests that failed over the window, for any reason.
  int64_t failed_requests = 0;
  // The window length actually covered, in seconds.
  double window_seconds = 0.0;
};

// Totals and recent figures at one moment, for the dashboard.
struct MonitorSnapshot {
  // Seconds since the monitor started.
  double uptime_seconds = 0.0;
  // Counter totals.
  double succeeded = 0.0;
  double failed = 0.0;
  double inferences = 0.0;
  double executions = 0.0;
  // Gauges.
  double queue_depth = 0.0;
  double inflight = 0.0;
  // Latency and throughput over the last few seconds.
  LatencyStats recent;
};

// The current reference and what is measured against it. Immutable apart
// from the (thread-safe) drift window and metrics.
struct ReferenceState {
  // Column names: "0", "1", ... for tabular inputs, "mean", "std", ... for
  // summarised ones.
  std::vector<std::string> feature_names;
  // The live window and its statistics.
  std::unique_ptr<DriftMonitor> drift;
  // Accepted value ranges.
  std::optional<AnomalyDetector> anomalies;
  // Per-feature metrics.
  ModelMetrics::FeatureMetrics metrics;

  // For a classifier: the classes it predicted on the reference, the live
  // predictions and their metrics; null / empty otherwise.
  std::optional<ClassProfile> reference_classes;
  std::unique_ptr<PredictionWindow> predictions;
  ModelMetrics::PredictionMetrics prediction_metrics;
  // Whether the last check judged predictions drifted (alerts fire on the
  // change). Touched only by CheckDrift, under reference_mu_.
  mutable bool predictions_drifted = false;
  // Guards last_prediction_report: readers (the dashboard, on an I/O
  // thread) must not wait for a whole drift check under reference_mu_.
  mutable std::mutex prediction_report_mu;
  // The last check's verdict on predictions. GUARDED_BY(prediction_report_mu)
  mutable std::optional<PredictionDriftReport> last_prediction_report;
};

// Thread-safety: all methods are safe for concurrent use. The Record*,
// CheckInputs and ObserveInputs methods are for the request
// path: atomics, a per-thread-shard mutex (latency) and one short mutex per
// batch (the drift window); no lock shared by every request. Everything else
// runs on the monitor's own thread or on the caller's.
class ModelMonitor {
 public:
  // Validates the options, registers the metrics in a registry of its own
  // and starts the monitor's thread.
  static StatusOr<std::unique_ptr<ModelMonitor>> Create(ModelMonitorOptions options);
  // Stops and joins the thread.
  ~ModelMonitor();
  ModelMonitor(const ModelMonitor&) = delete;
  ModelMonitor& operator=(const ModelMonitor&) = delete;

  // ---- Request path ----

  // A request was accepted.
  void RequestStarted() { metrics_->inflight_requests->Increment(); }
  // A request was answered after `seconds`: `failure_reason` empty on
  // success, else a Status code name or kInputAnomalyReason.
  void RequestFinished(std::string_view failure_reason, double seconds);
  // An inference request for this model was refused by the HTTP layer
  // before it was accepted (`reason`: a Status code name or another label,
  // see serving::RefusalReasonFor). Counted as a failed request, but never
  // against the SLO: a fallback version would not change it.
  void RequestRefused(std::string_view reason);
  // Any other HTTP request the server refused (no model to attribute it to).
  void HttpRequestRefused(std::string_view reason) { metrics_->HttpRequestsRefused(reason)->Increment(); }
  // A forward pass over `rows` rows took `seconds`.
  void BatchExecuted(int64_t rows, double seconds);
  // A request waited `seconds` before its batch started.
  void Queued(double seconds) { metrics_->queue_duration->Observe(seconds); }

  // Counts anomalies in `n` rows of `features` values. InvalidArgument
  // (reason input_anomaly) when reject is on and one was found; OK without a
  // reference, or when `features` does not match it (nothing is counted).
  Status CheckInputs(const float* rows, int64_t n, int64_t features);
  // Appends rows to the drift window (no-op without a reference).
  void ObserveInputs(const float* rows, int64_t n, int64_t features);
  // Classes of the current classifier reference; 0 without one. The request
  // path asks before computing predicted classes.
  int64_t reference_classes() const;
  // Records `n` predicted classes out of `num_classes` (lock-free; no-op
  // without a classifier reference or when num_classes differs from it).
  void ObservePredictions(const int64_t* classes, int64_t n, int64_t num_classes);
  // Features per row the reference expects; 0 without a reference.
  int64_t reference_features() const;

  // ---- Control ----

  // Profiles `rows` × `features` reference values (row-major) and starts
  // judging drift and anomalies against them. `feature_names` has one name
  // per column. `classes`, for a classifier, counts the classes the model
  // predicted on the reference (at least 2 classes and 1 prediction); live
  // predictions are then judged against it too. Replaces any earlier
  // reference (its windows are discarded).
  Status SetReference(const float* data, int64_t rows, int64_t features, std::vector<std::string> feature_names,
                      std::optional<ClassProfile> classes = std::nullopt);
  // Judges drift (features and, for a classifier, predictions) now, raising
  // alerts as the periodic check would, and returns the feature report
  // (empty without a reference).
  DriftReport CheckDrift();
  // The report of the latest drift check; empty before the first.
  DriftReport LastDriftReport() const;
  // The latest check's verdict on predictions; nullopt before the first
  // check or without a classifier reference.
  std::optional<PredictionDriftReport> LastPredictionDrift() const;
  // The current reference's feature names; empty without one.
  std::vector<std::string> FeatureNames() const;

  MonitorStats Stats() const;
  // Totals now and latency over the last `recent_seconds`.
  MonitorSnapshot Snapshot(int64_t recent_seconds) const;

  // ---- Health, for routing policies ----

  // Judges this version against `slo` over its window, counting only what
  // happened after `since` (e.g. the last switch, so failures from before a
  // restore are not judged twice): the breach as a sentence naming the
  // measured value and the objective, or nothing (met, or too few
  // requests). See JudgeHealth.
  std::optional<std::string> JudgeSlo(const SloOptions& slo, Clock::TimePoint since) const;
  // What happened since `since` (requests, server-side failures, p99), as
  // far back as the history kept reaches (see KeepHistory).
  HealthWindow WindowSince(Clock::TimePoint since) const;
  // Marks now as a restart point for judgements counted "since" it.
  void Checkpoint();
  // Keeps counter history for at least `seconds` (a rollout's hold), up to
  // 3600.
  void KeepHistory(int64_t seconds);
  // Publishes a routing decision about this version: the fallback gauge,
  // and one more switch when `switched_to_fallback`.
  void RecordFallbackState(bool fallback_active, bool switched_to_fallback);
  // Logs `event` (labelled with this version) and hands it to on_alert.
  void RaiseAlert(AlertEvent event);
  // The monitor's clock.
  Clock* clock() const { return clock_; }

  // Sets the queue depth gauge before metrics are read (the batcher knows
  // it; the monitor does not).
  void SetQueueDepth(int64_t depth) { metrics_->queue_depth->Set(static_cast<double>(depth)); }
  // The registry holding this monitor's metrics.
  MetricsRegistry& registry() { return registry_; }
  const MetricsRegistry& registry() const { return registry_; }
  const ModelMonitorOptions& options() const { return options_; }

 private:
  explicit ModelMonitor(ModelMonitorOptions options);
  // Ticks until stopping_.
  void Loop();
  void Tick(Clock::TimePoint now);
  // The counters' values now.
  CounterSnapshot Take(Clock::TimePoint now) const;
  // The newest snapshot at least `seconds` old, not older than `floor`
  // (or the oldest kept).
  CounterSnapshot Baseline(Clock::TimePoint now, double seconds,
                    Clock::TimePoint floor) const;
  void Emit(const AlertEvent& event);
  // The alert for pending_drift_ (which it empties). Needs reference_mu_.
  AlertEvent FeatureDriftAlertLocked(const ReferenceState& ref);
  // Judges ref's predictions, updates their metrics, and returns the alert
  // when they have just drifted. Needs reference_mu_.
  std::optional<AlertEvent> CheckPredictionsLocked(const ReferenceState& ref);
  const ReferenceState* Reference() const { return reference_.load(std::memory_order_acquire); }

  // Validated options; immutable.
  const ModelMonitorOptions options_;
  // options_.clock, or the system clock. Not owned.
  Clock* const clock_;
  // This monitor's metrics.
  MetricsRegistry registry_;
  // Children in registry_; fixed after Create.
  std::unique_ptr<ModelMetrics> metrics_;
  // Latencies of successful requests.
  std::unique_ptr<LatencyWindow> latency_;
  // Failed requests, all and server-side only (for the SLO).
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> server_failures_{0};

  // The current reference, or null. Readers load it without a lock; it is
  // never freed before the monitor (see retired_), so a reader holding an
  // old one stays safe.
  std::atomic<const ReferenceState*> reference_{nullptr};
  // Serialises SetReference and drift checks; owns every reference ever set
  // (a few KiB to a few MiB each, bounded by how often the owner sets one).
  mutable std::mutex reference_mu_;
  std::vector<std::unique_ptr<ReferenceState>> references_;  // GUARDED_BY(reference_mu_)
  // Drift events collected during one check. GUARDED_BY(reference_mu_)
  std::vector<DriftEvent> pending_drift_;

  // History kept beyond the options' windows, in seconds (KeepHistory).
  std::atomic<int64_t> keep_extra_seconds_{0};
  // Guards snapshots_.
  mutable std::mutex health_mu_;
  // Counter values at each tick and restart point, kept for the longest
  // window asked about. GUARDED_BY(health_mu_)
  CounterHistory snapshots_;
  Clock::TimePoint next_drift_check_;      // touched only by the thread
  Clock::TimePoint started_;               // immutable

  // Stops the thread; it sleeps on clock_ through loop_waiter_.
  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  ClockWaiter loop_waiter_{clock_, &loop_mu_, &loop_cv_};
  bool stopping_ = false;  // GUARDED_BY(loop_mu_)
  std::thread thread_;
};

}  // namespace mlship::monitor
