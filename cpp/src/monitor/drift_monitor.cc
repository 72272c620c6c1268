// DriftMonitor: a ring buffer of live rows, judged against a reference.
#include "mlship/monitor/drift_monitor.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "mlship/monitor/prometheus.h"
#include "mlship/thread_name.h"

namespace mlship::monitor {
namespace {

// Upper bound on window_size × features, so a typo cannot allocate the
// machine away (2^28 floats = 1 GiB).
constexpr int64_t kMaxWindowValues = int64_t{1} << 28;

}  // namespace

std::string DriftEvent::ToString() const {
  std::string out = "feature " + std::to_string(feature) + " drifted:";
  out += " psi " + FormatPrometheusNumber(psi) + (psi_exceeded ? " (over threshold)" : "");
  out += ", ks D " + FormatPrometheusNumber(ks_statistic) + " p " + FormatPrometheusNumber(ks_pvalue) +
         (ks_exceeded ? " (over threshold)" : "");
  out += ", on " + std::to_string(live_count) + " live values";
  return out;
}

StatusOr<std::unique_ptr<DriftMonitor>> DriftMonitor::Create(ReferenceProfile profile, DriftMonitorOptions options) {
  if (options.window_size < 1 || options.window_size > 10'000'000) {
    return Status::InvalidArgument("window_size must be in 1..10000000; was " + std::to_string(options.window_size));
  }
  if (options.window_size > kMaxWindowValues / std::max<int64_t>(profile.num_features(), 1)) {
    return Status::InvalidArgument("window_size " + std::to_string(options.window_size) + " x " +
                                   std::to_string(profile.num_features()) +
                                   " features exceeds the 2^28-value window limit; lower window_size");
  }
  if (options.min_samples < 1 || options.min_samples > options.window_size) {
    return Status::InvalidArgument("min_samples must be in 1..window_size (" + std::to_string(options.window_size) +
                                   "); was " + std::to_string(options.min_samples));
  }
  if (!(options.psi_threshold > 0.0) || !std::isfinite(options.psi_threshold)) {
    return Status::InvalidArgument("psi_threshold must be a positive number; was " +
                                   FormatPrometheusNumber(options.psi_threshold));
  }
  if (!(options.ks_pvalue_threshold >= 0.0 && options.ks_pvalue_threshold <= 1.0)) {
    return Status::InvalidArgument("ks_pvalue_threshold must be in [0, 1]; was " +
                                   FormatPrometheusNumber(options.ks_pvalue_threshold));
  }
  if (!(options.ks_min_statistic >= 0.0 && options.ks_min_statistic <= 1.0)) {
    return Status::InvalidArgument("ks_min_statistic must be in [0, 1]; was " +
                                   FormatPrometheusNumber(options.ks_min_statistic));
  }
  if (!(options.psi_epsilon > 0.0 && options.psi_epsilon < 1.0)) {
    return Status::InvalidArgument("psi_epsilon must be in (0, 1); was " + FormatPrometheusNumber(options.psi_epsilon));
  }
  if (options.check_interval.count() < 0) {
    return Status::InvalidArgument("check_interval must not be negative; was " +
                                   std::to_string(options.check_interval.count()) + " ms");
  }
  return std::unique_ptr<DriftMonitor>(new DriftMonitor(std::move(profile), std::move(options)));
}

DriftMonitor::DriftMonitor(ReferenceProfile profile, DriftMonitorOptions options)
    : profile_(std::move(profile)),
      options_(std::move(options)),
      num_features_(profile_.num_features()),
      window_(static_cast<size_t>(options_.window_size * num_features_)),
      was_drifted_(static_cast<size_t>(num_features_), false) {
  // Every member is initialised by now, so the thread may run Compute().
  if (options_.check_interval.count() > 0) {
    timer_ = std::thread([this] { TimerLoop(); });
    NameThread(timer_, "mlship-drift");
  }
}

DriftMonitor::~DriftMonitor() {
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void DriftMonitor::TimerLoop() {
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!timer_cv_.wait_for(lock, options_.check_interval, [this] { return stopping_; })) {
    lock.unlock();
    Compute();
    lock.lock();
  }
}

Status DriftMonitor::Observe(const float* rows, int64_t n, int64_t features) {
  if (features != num_features_) {
    return Status::InvalidArgument("drift monitor expected " + std::to_string(num_features_) +
                                   " features per row (as in the reference profile); got " + std::to_string(features));
  }
  if (n < 0) return Status::InvalidArgument("row count must be >= 0; was " + std::to_string(n));
  if (n == 0) return Status::Ok();
  if (rows == nullptr) return Status::InvalidArgument("rows are null");
  const int64_t capacity = options_.window_size;
  if (n > capacity) {  // only the newest rows would survive anyway
    rows += (n - capacity) * num_features_;
    n = capacity;
  }
  std::lock_guard<std::mutex> lock(window_mu_);
  // At most two copies: up to the end of the ring, then from its start.
  const int64_t first = std::min(n, capacity - next_row_);
  std::memcpy(window_.data() + next_row_ * num_features_, rows,
              static_cast<size_t>(first * num_features_) * sizeof(float));
  if (n > first) {
    std::memcpy(window_.data(), rows + first * num_features_,
                static_cast<size_t>((n - first) * num_features_) * sizeof(float));
  }
  next_row_ = (next_row_ + n) % capacity;
  rows_held_ = std::min(capacity, rows_held_ + n);
  return Status::Ok();
}

DriftReport DriftMonitor::Compute() {
  std::vector<DriftEvent> events;
  DriftReport report;
  {
    std::lock_guard<std::mutex> compute_lock(compute_mu_);
    std::vector<float> rows;
    {
      // Until the ring wraps, the held rows are its first rows_held_ slots;
      // after, all slots. Row order does not matter to the statistics.
      std::lock_guard<std::mutex> lock(window_mu_);
      report.window_rows = rows_held_;
      rows.assign(window_.begin(), window_.begin() + rows_held_ * num_features_);
    }
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMajor> matrix(rows.data(), report.window_rows, num_features_);
    std::vector<double> values;
    values.reserve(static_cast<size_t>(report.window_rows));
    report.features.resize(static_cast<size_t>(num_features_));
    for (int64_t j = 0; j < num_features_; ++j) {
      const FeatureProfile& reference = profile_.feature(j);
      FeatureDrift& verdict = report.features[static_cast<size_t>(j)];
      verdict.feature = j;
      values.clear();
      for (int64_t i = 0; i < report.window_rows; ++i) {
        float v = matrix(i, j);
        if (std::isfinite(v)) values.push_back(v);
      }
      verdict.live_count = static_cast<int64_t>(values.size());
      verdict.judged = verdict.live_count >= options_.min_samples;
      if (!values.empty()) {
        std::vector<double> live = reference.BinProportions(values);
        // Both sides are validated proportions over the same bins.
        verdict.psi = Psi(reference.bin_proportions, live, options_.psi_epsilon).value();
        std::sort(values.begin(), values.end());
        KsResult ks = KsTest(reference.sorted_sample, values);
        verdict.ks_statistic = ks.statistic;
        verdict.ks_pvalue = ks.pvalue;
      }
      bool psi_exceeded = verdict.psi >= options_.psi_threshold;
      bool ks_exceeded =
          verdict.ks_pvalue < options_.ks_pvalue_threshold && verdict.ks_statistic >= options_.ks_min_statistic;
      verdict.drifted = verdict.judged && (psi_exceeded || ks_exceeded);
      if (verdict.drifted) report.drifted_features.push_back(j);
      if (verdict.drifted && !was_drifted_[static_cast<size_t>(j)]) {
        events.push_back(DriftEvent{j, verdict.psi, verdict.ks_statistic, verdict.ks_pvalue, psi_exceeded, ks_exceeded,
                                    verdict.live_count});
      }
      was_drifted_[static_cast<size_t>(j)] = verdict.drifted;
    }
    std::lock_guard<std::mutex> report_lock(report_mu_);
    last_report_ = report;
  }
  // Outside the locks, so a callback may call back into the monitor.
  if (options_.on_drift) {
    for (const DriftEvent& event : events) options_.on_drift(event);
  }
  return report;
}

DriftReport DriftMonitor::LastReport() const {
  std::lock_guard<std::mutex> lock(report_mu_);
  return last_report_;
}

int64_t DriftMonitor::window_rows() const {
  std::lock_guard<std::mutex> lock(window_mu_);
  return rows_held_;
}

}  // namespace mlship::monitor
