// ModelMonitor: request-path recording, the monitor thread, drift checks,
// and health judgements against an SLO.
#include "mlship/monitor/model_monitor.h"

#include <cmath>
#include <iostream>
#include <sstream>

#include "mlship/thread_name.h"

namespace mlship::monitor {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Failures that count against the SLO: the server's fault, not the client's.
bool IsServerSideFailure(std::string_view reason) {
  return reason == StatusCodeName(StatusCode::kUnavailable) ||
         reason == StatusCodeName(StatusCode::kDeadlineExceeded) ||
         reason == StatusCodeName(StatusCode::kInternal) ||
         reason == StatusCodeName(StatusCode::kInferenceFailed) ||
         reason == StatusCodeName(StatusCode::kModelLoadFailed);
}

double SecondsBetween(Clock::TimePoint from, Clock::TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Status ValidateModelMonitorOptions(const ModelMonitorOptions& o) {
  if (o.stats_window_seconds < 1 || o.stats_window_seconds > 3600) {
    return Status::InvalidArgument("stats_window_seconds must be in 1..3600; was " +
                                   std::to_string(o.stats_window_seconds));
  }
  if (o.drift_check_interval.count() <= 0) {
    return Status::InvalidArgument("the drift check interval must be positive; was " +
                                   std::to_string(o.drift_check_interval.count()) + " ms");
  }
  if (o.tick_interval.count() <= 0) {
    return Status::InvalidArgument("the monitor tick interval must be positive; was " +
                                   std::to_string(o.tick_interval.count()) + " ms");
  }
  if (o.max_batch_size < 1) {
    return Status::InvalidArgument("max_batch_size must be >= 1; was " + std::to_string(o.max_batch_size));
  }
  if (o.health_window_seconds < 0 || o.health_window_seconds > 3600) {
    return Status::InvalidArgument("health_window_seconds must be in 0..3600; was " +
                                   std::to_string(o.health_window_seconds));
  }
  // The drift, anomaly and profile options are checked against a one-value
  // profile now, so a mistake surfaces at deploy time, not at the first
  // set_reference.
  const float zero = 0.0f;
  ASSIGN_OR_RETURN(ReferenceProfile probe, ReferenceProfile::Build(&zero, 1, 1, o.reference));
  DriftMonitorOptions drift = o.drift;
  drift.check_interval = std::chrono::milliseconds(0);
  drift.on_drift = nullptr;
  RETURN_IF_ERROR(DriftMonitor::Create(probe, drift).status());
  RETURN_IF_ERROR(AnomalyDetector::Create(probe, o.anomalies).status());
  return Status::Ok();
}

StatusOr<std::unique_ptr<ModelMonitor>> ModelMonitor::Create(ModelMonitorOptions options) {
  RETURN_IF_ERROR(ValidateModelMonitorOptions(options));
  std::unique_ptr<ModelMonitor> monitor(new ModelMonitor(std::move(options)));
  ASSIGN_OR_RETURN(monitor->metrics_, ModelMetrics::Create(monitor->registry_, monitor->options_.model,
                                                           monitor->options_.version,
                                                           monitor->options_.max_batch_size));
  LatencyWindowOptions window;
  window.window_seconds = monitor->options_.stats_window_seconds;
  window.window_seconds = std::max(window.window_seconds, monitor->options_.health_window_seconds);
  ASSIGN_OR_RETURN(monitor->latency_, LatencyWindow::Create(window));
  monitor->snapshots_.AddRestart(monitor->Take(monitor->started_));
  monitor->thread_ = std::thread([m = monitor.get()] { m->Loop(); });
  NameThread(monitor->thread_, "mlship-monitor");
  return monitor;
}

ModelMonitor::ModelMonitor(ModelMonitorOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : SystemClock::Default()),
      started_(clock_->Now()) {}

ModelMonitor::~ModelMonitor() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stopping_ = true;
    loop_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ModelMonitor::RequestFinished(std::string_view failure_reason, double seconds) {
  metrics_->inflight_requests->Decrement();
  if (failure_reason.empty()) {
    metrics_->requests_succeeded->Increment();
    metrics_->request_duration->Observe(seconds);
    latency_->Record(seconds, clock_->Now());
    return;
  }
  metrics_->RequestsFailed(failure_reason)->Increment();
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (IsServerSideFailure(failure_reason)) server_failures_.fetch_add(1, std::memory_order_relaxed);
}

void ModelMonitor::RequestRefused(std::string_view reason) {
  metrics_->RequestsFailed(reason)->Increment();
  failures_.fetch_add(1, std::memory_order_relaxed);
}

void ModelMonitor::BatchExecuted(int64_t rows, double seconds) {
  metrics_->executions->Increment();
  metrics_->inferences->Increment(static_cast<double>(rows));
  metrics_->batch_size->Observe(static_cast<double>(rows));
  metrics_->compute_duration->Observe(seconds);
}

Status ModelMonitor::CheckInputs(const float* rows, int64_t n, int64_t features) {
  const ReferenceState* ref = Reference();
  if (ref == nullptr || features != static_cast<int64_t>(ref->feature_names.size())) return Status::Ok();
  StatusOr<AnomalyReport> report = ref->anomalies->Check(rows, n, features);
  if (!report.ok() || !report->any()) return Status::Ok();
  for (std::size_t f = 0; f < report->features.size(); ++f) {
    const FeatureAnomalies& a = report->features[f];
    if (a.nan_count > 0) ref->metrics.anomalies[f * 3 + 0]->Increment(static_cast<double>(a.nan_count));
    if (a.inf_count > 0) ref->metrics.anomalies[f * 3 + 1]->Increment(static_cast<double>(a.inf_count));
    if (a.out_of_range_count > 0) {
      ref->metrics.anomalies[f * 3 + 2]->Increment(static_cast<double>(a.out_of_range_count));
    }
  }
  if (!options_.anomalies.reject_anomalies) return Status::Ok();
  AnomalyDetectorOptions rejecting = options_.anomalies;
  StatusOr<AnomalyDetector> rejecter = AnomalyDetector::Create(ref->drift->profile(), rejecting);
  if (!rejecter.ok()) return rejecter.status();
  Status refused = rejecter->Check(rows, n, features).status();
  if (refused.ok()) return Status::InvalidArgument("the input holds anomalous values");
  return Status::InvalidArgument("input refused as anomalous (reject_anomalies is on): " + refused.message());
}

void ModelMonitor::ObserveInputs(const float* rows, int64_t n, int64_t features) {
  const ReferenceState* ref = Reference();
  if (ref == nullptr || features != static_cast<int64_t>(ref->feature_names.size())) return;
  (void)ref->drift->Observe(rows, n, features);
}

int64_t ModelMonitor::reference_classes() const {
  const ReferenceState* ref = Reference();
  return ref == nullptr || !ref->predictions ? 0 : ref->predictions->num_classes();
}

void ModelMonitor::ObservePredictions(const int64_t* classes, int64_t n, int64_t num_classes) {
  const ReferenceState* ref = Reference();
  if (ref == nullptr || !ref->predictions || num_classes != ref->predictions->num_classes()) return;
  ref->predictions->Observe(classes, n);
}

int64_t ModelMonitor::reference_features() const {
  const ReferenceState* ref = Reference();
  return ref == nullptr ? 0 : static_cast<int64_t>(ref->feature_names.size());
}

Status ModelMonitor::SetReference(const float* data, int64_t rows, int64_t features,
                                  std::vector<std::string> feature_names, std::optional<ClassProfile> classes) {
  if (static_cast<int64_t>(feature_names.size()) != features) {
    return Status::InvalidArgument("the reference has " + std::to_string(features) + " features but " +
                                   std::to_string(feature_names.size()) + " feature names");
  }
  if (classes && classes->total < 1) {
    return Status::InvalidArgument("the reference's predicted classes must count at least one prediction; got none");
  }
  ASSIGN_OR_RETURN(ReferenceProfile profile, ReferenceProfile::Build(data, rows, features, options_.reference));
  auto state = std::make_unique<ReferenceState>();
  AnomalyDetectorOptions counting = options_.anomalies;
  counting.reject_anomalies = false;  // CheckInputs counts first, then refuses
  ASSIGN_OR_RETURN(AnomalyDetector detector, AnomalyDetector::Create(profile, counting));
  state->anomalies.emplace(std::move(detector));
  DriftMonitorOptions drift = options_.drift;
  drift.check_interval = std::chrono::milliseconds(0);  // checked by this monitor's thread
  // Runs inside CheckDrift, which holds reference_mu_.
  drift.on_drift = [this](const DriftEvent& event) { pending_drift_.push_back(event); };
  ASSIGN_OR_RETURN(state->drift, DriftMonitor::Create(std::move(profile), std::move(drift)));
  ASSIGN_OR_RETURN(state->metrics, metrics_->AddFeatures(feature_names));
  state->feature_names = std::move(feature_names);
  if (classes) {
    const auto num_classes = static_cast<int64_t>(classes->counts.size());
    ASSIGN_OR_RETURN(state->predictions, PredictionWindow::Create(options_.drift.window_size, num_classes));
    ASSIGN_OR_RETURN(state->prediction_metrics, metrics_->AddPredictionMetrics());
    // A new reference starts from a clean verdict.
    state->prediction_metrics.psi->Set(0.0);
    state->prediction_metrics.detected->Set(0.0);
    state->prediction_metrics.window_rows->Set(0.0);
    state->reference_classes = std::move(classes);
  }
  std::lock_guard<std::mutex> lock(reference_mu_);
  reference_.store(state.get(), std::memory_order_release);
  references_.push_back(std::move(state));
  return Status::Ok();
}

DriftReport ModelMonitor::CheckDrift() {
  DriftReport report;
  std::optional<AlertEvent> feature_alert;
  std::optional<AlertEvent> prediction_alert;
  {
    std::lock_guard<std::mutex> lock(reference_mu_);
    const ReferenceState* ref = Reference();
    if (ref == nullptr) return report;
    pending_drift_.clear();
    report = ref->drift->Compute();
    metrics_->drift_window_rows->Set(static_cast<double>(report.window_rows));
    for (const FeatureDrift& f : report.features) {
      const auto i = static_cast<std::size_t>(f.feature);
      if (i >= ref->feature_names.size() || !f.judged) continue;
      ref->metrics.drift_psi[i]->Set(f.psi);
      ref->metrics.drift_ks_statistic[i]->Set(f.ks_statistic);
      ref->metrics.drift_detected[i]->Set(f.drifted ? 1.0 : 0.0);
    }
    if (!pending_drift_.empty()) feature_alert = FeatureDriftAlertLocked(*ref);
    if (ref->predictions) prediction_alert = CheckPredictionsLocked(*ref);
  }
  if (feature_alert) {
    metrics_->drift_alerts->Increment();
    Emit(*feature_alert);
  }
  if (prediction_alert) Emit(*prediction_alert);
  return report;
}

AlertEvent ModelMonitor::FeatureDriftAlertLocked(const ReferenceState& ref) {
  AlertEvent alert;
  alert.kind = "drift";
  // One line however many features drifted: names and figures of the
  // first few; every feature's full figures travel in alert.drift.
  constexpr std::size_t kNamedInMessage = 8;
  std::ostringstream message;
  message.precision(3);
  message << "input drift in " << pending_drift_.size() << " feature(s) against the reference: ";
  for (std::size_t k = 0; k < pending_drift_.size(); ++k) {
    const DriftEvent& event = pending_drift_[k];
    const std::string& name = ref.feature_names[static_cast<std::size_t>(event.feature)];
    alert.features.push_back(name);
    if (k < kNamedInMessage) {
      message << (k == 0 ? "" : ", ") << "'" << name << "' (psi " << event.psi << ", ks D " << event.ks_statistic
              << ")";
    }
  }
  if (pending_drift_.size() > kNamedInMessage) {
    message << " and " << pending_drift_.size() - kNamedInMessage << " more";
  }
  alert.message = message.str();
  alert.drift = std::move(pending_drift_);
  pending_drift_.clear();
  return alert;
}

std::optional<AlertEvent> ModelMonitor::CheckPredictionsLocked(const ReferenceState& ref) {
  PredictionDriftOptions judging;
  judging.min_samples = options_.drift.min_samples;
  judging.psi_threshold = options_.drift.psi_threshold;
  judging.psi_epsilon = options_.drift.psi_epsilon;
  PredictionDriftReport verdict = JudgePredictionDrift(*ref.reference_classes, ref.predictions->Profile(), judging);
  const ModelMetrics::PredictionMetrics& m = ref.prediction_metrics;
  m.window_rows->Set(static_cast<double>(verdict.window_rows));
  if (verdict.judged) {
    m.psi->Set(verdict.psi);
    m.detected->Set(verdict.drifted ? 1.0 : 0.0);
  }
  {
    std::lock_guard<std::mutex> lock(ref.prediction_report_mu);
    ref.last_prediction_report = verdict;
  }
  const bool newly_drifted = verdict.drifted && !ref.predictions_drifted;
  // An unjudged window keeps the previous state, like a feature's.
  if (verdict.judged) ref.predictions_drifted = verdict.drifted;
  if (!newly_drifted) return std::nullopt;
  m.alerts->Increment();
  // The class whose share moved most says what changed.
  std::size_t moved = 0;
  for (std::size_t c = 1; c < verdict.live_shares.size(); ++c) {
    if (std::abs(verdict.live_shares[c] - verdict.reference_shares[c]) >
        std::abs(verdict.live_shares[moved] - verdict.reference_shares[moved])) {
      moved = c;
    }
  }
  std::ostringstream message;
  message.precision(3);
  message << "the predicted-class mix drifted against the reference: psi " << verdict.psi << " (>= "
          << judging.psi_threshold << ") over " << verdict.window_rows << " predictions; class " << moved
          << " went from " << verdict.reference_shares[moved] * 100 << "% to " << verdict.live_shares[moved] * 100
          << "% of predictions";
  AlertEvent alert;
  alert.kind = "prediction_drift";
  alert.message = message.str();
  alert.prediction = std::move(verdict);
  return alert;
}

std::optional<PredictionDriftReport> ModelMonitor::LastPredictionDrift() const {
  const ReferenceState* ref = Reference();
  if (ref == nullptr) return std::nullopt;
  std::lock_guard<std::mutex> lock(ref->prediction_report_mu);
  return ref->last_prediction_report;
}

DriftReport ModelMonitor::LastDriftReport() const {
  const ReferenceState* ref = Reference();
  return ref == nullptr ? DriftReport{} : ref->drift->LastReport();
}

std::vector<std::string> ModelMonitor::FeatureNames() const {
  const ReferenceState* ref = Reference();
  return ref == nullptr ? std::vector<std::string>{} : ref->feature_names;
}

CounterSnapshot ModelMonitor::Take(Clock::TimePoint now) const {
  CounterSnapshot s;
  s.time = now;
  s.succeeded = metrics_ ? metrics_->requests_succeeded->Value() : 0.0;
  s.failed = static_cast<double>(failures_.load(std::memory_order_relaxed));
  s.server_failed = static_cast<double>(server_failures_.load(std::memory_order_relaxed));
  s.inferences = metrics_ ? metrics_->inferences->Value() : 0.0;
  s.executions = metrics_ ? metrics_->executions->Value() : 0.0;
  return s;
}

CounterSnapshot ModelMonitor::Baseline(Clock::TimePoint now, double seconds,
                                              Clock::TimePoint floor) const {
  const auto target = std::max(now - std::chrono::duration_cast<SteadyClock::duration>(
                                         std::chrono::duration<double>(seconds)),
                               floor);
  return snapshots_.Baseline(target);
}

MonitorStats ModelMonitor::Stats() const {
  const auto now = clock_->Now();
  MonitorStats stats;
  stats.latency = latency_->Summarize(now, options_.stats_window_seconds);
  CounterSnapshot base;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    base = Baseline(now, static_cast<double>(options_.stats_window_seconds), started_);
  }
  const CounterSnapshot current = Take(now);
  const double executions = current.executions - base.executions;
  stats.mean_batch_size = executions > 0 ? (current.inferences - base.inferences) / executions : 0.0;
  stats.failed_requests = static_cast<int64_t>(current.failed - base.failed);
  stats.window_seconds = SecondsBetween(base.time, now);
  return stats;
}

MonitorSnapshot ModelMonitor::Snapshot(int64_t recent_seconds) const {
  const auto now = clock_->Now();
  const CounterSnapshot c = Take(now);
  MonitorSnapshot s;
  s.uptime_seconds = SecondsBetween(started_, now);
  s.succeeded = c.succeeded;
  s.failed = c.failed;
  s.inferences = c.inferences;
  s.executions = c.executions;
  s.queue_depth = metrics_->queue_depth->Value();
  s.inflight = metrics_->inflight_requests->Value();
  s.recent = latency_->Summarize(now, recent_seconds);
  return s;
}

HealthWindow ModelMonitor::WindowSince(Clock::TimePoint since) const {
  const auto now = clock_->Now();
  HealthWindow window;
  std::lock_guard<std::mutex> lock(health_mu_);
  const double seconds = std::min(3600.0, std::max(0.0, SecondsBetween(since, now)));
  const CounterSnapshot base = Baseline(now, seconds, std::max(since, started_));
  const CounterSnapshot current = Take(now);
  window.requests = static_cast<int64_t>((current.succeeded - base.succeeded) + (current.failed - base.failed));
  window.server_failures = static_cast<int64_t>(current.server_failed - base.server_failed);
  const auto span = static_cast<int64_t>(std::ceil(SecondsBetween(base.time, now)));
  window.p99_seconds = latency_->Summarize(now, std::max<int64_t>(span, 1)).p99_seconds;
  return window;
}

void ModelMonitor::Checkpoint() {
  std::lock_guard<std::mutex> lock(health_mu_);
  snapshots_.AddRestart(Take(clock_->Now()));
}

void ModelMonitor::KeepHistory(int64_t seconds) {
  seconds = std::min<int64_t>(seconds, 3600);
  int64_t current = keep_extra_seconds_.load();
  while (seconds > current && !keep_extra_seconds_.compare_exchange_weak(current, seconds)) {
  }
}

std::optional<std::string> ModelMonitor::JudgeSlo(const SloOptions& slo, Clock::TimePoint since) const {
  if (!slo.any()) return std::nullopt;
  const auto now = clock_->Now();
  HealthWindow window;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    const CounterSnapshot base = Baseline(now, static_cast<double>(slo.window_seconds), std::max(since, started_));
    const CounterSnapshot current = Take(now);
    window.requests = static_cast<int64_t>((current.succeeded - base.succeeded) + (current.failed - base.failed));
    window.server_failures = static_cast<int64_t>(current.server_failed - base.server_failed);
    const auto seconds = static_cast<int64_t>(std::ceil(SecondsBetween(base.time, now)));
    window.p99_seconds = latency_->Summarize(now, std::max<int64_t>(seconds, 1)).p99_seconds;
  }
  return JudgeHealth(slo, window);
}

void ModelMonitor::RecordFallbackState(bool fallback_active, bool switched_to_fallback) {
  {
    // Judging restarts from here: a counter snapshot at the switch.
    std::lock_guard<std::mutex> lock(health_mu_);
    snapshots_.AddRestart(Take(clock_->Now()));
  }
  metrics_->fallback_active->Set(fallback_active ? 1.0 : 0.0);
  if (switched_to_fallback) metrics_->fallback_switches->Increment();
}

void ModelMonitor::RaiseAlert(AlertEvent event) { Emit(event); }

void ModelMonitor::Emit(const AlertEvent& event) {
  AlertEvent full = event;
  full.model = options_.model;
  full.version = options_.version;
  const std::string line = "mlship alert [" + full.model + " v" + full.version + "] " + full.kind + ": " + full.message;
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
  if (!options_.on_alert) return;
  try {
    options_.on_alert(full);
  } catch (...) {
    // An alert sink that throws must not take the monitor thread down.
  }
}

void ModelMonitor::Tick(Clock::TimePoint now) {
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    snapshots_.AddTick(Take(now));
    const int64_t keep_seconds =
        std::max({options_.stats_window_seconds, options_.health_window_seconds, keep_extra_seconds_.load()});
    const auto horizon = now - std::chrono::seconds(keep_seconds + 2);
    snapshots_.Prune(horizon);
  }
  if (now >= next_drift_check_) {
    next_drift_check_ = now + options_.drift_check_interval;
    CheckDrift();
  }
}

void ModelMonitor::Loop() {
  auto next_tick = clock_->Now() + options_.tick_interval;
  next_drift_check_ = clock_->Now() + options_.drift_check_interval;
  std::unique_lock<std::mutex> lock(loop_mu_);
  while (!stopping_) {
    loop_waiter_.WaitUntil(lock, next_tick);
    if (stopping_) break;
    const auto now = clock_->Now();
    if (now < next_tick) continue;  // woken early (spuriously, or the clock moved less)
    next_tick = now + options_.tick_interval;
    lock.unlock();
    Tick(now);
    lock.lock();
  }
}

}  // namespace mlship::monitor
