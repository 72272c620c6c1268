// MetricsRegistry: validated registration and snapshots of all families.
#include "mlship/monitor/registry.h"

#include "mlship/monitor/buckets.h"
#include "mlship/monitor/metric_name.h"
#include "mlship/monitor/prometheus.h"

namespace mlship::monitor {
namespace {

// The series names a family exposes; histograms expose three besides.
std::vector<std::string> SeriesNames(const std::string& name, MetricType type) {
  if (type != MetricType::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

}  // namespace

Status MetricsRegistry::ReserveNamesLocked(const MetricDescriptor& descriptor, MetricType type) {
  RETURN_IF_ERROR(ValidateMetricName(descriptor.name, type));
  for (size_t i = 0; i < descriptor.label_names.size(); ++i) {
    const std::string& label = descriptor.label_names[i];
    Status valid = ValidateLabelName(label, type);
    if (!valid.ok()) return Status::InvalidArgument("metric \"" + descriptor.name + "\": " + valid.message());
    for (size_t j = 0; j < i; ++j) {
      if (descriptor.label_names[j] == label) {
        return Status::InvalidArgument("metric \"" + descriptor.name + "\" lists label \"" + label + "\" twice");
      }
    }
  }
  std::vector<std::string> series = SeriesNames(descriptor.name, type);
  for (const std::string& s : series) {
    if (series_names_.count(s) != 0) {
      return Status::InvalidArgument("metric \"" + descriptor.name + "\" collides with the already registered "
                                     "series \"" + s + "\"; each metric needs its own name");
    }
  }
  series_names_.insert(series.begin(), series.end());
  return Status::Ok();
}

StatusOr<MetricFamily<Counter>*> MetricsRegistry::AddCounter(MetricDescriptor descriptor) {
  std::lock_guard<std::mutex> lock(families_mu_);
  RETURN_IF_ERROR(ReserveNamesLocked(descriptor, MetricType::kCounter));
  std::string name = descriptor.name;
  auto family = std::make_unique<MetricFamily<Counter>>(std::move(descriptor), MetricType::kCounter,
                                                        [] { return std::make_unique<Counter>(); });
  MetricFamily<Counter>* result = family.get();
  families_.emplace(std::move(name), std::move(family));
  return result;
}

StatusOr<MetricFamily<Gauge>*> MetricsRegistry::AddGauge(MetricDescriptor descriptor) {
  std::lock_guard<std::mutex> lock(families_mu_);
  RETURN_IF_ERROR(ReserveNamesLocked(descriptor, MetricType::kGauge));
  std::string name = descriptor.name;
  auto family = std::make_unique<MetricFamily<Gauge>>(std::move(descriptor), MetricType::kGauge,
                                                      [] { return std::make_unique<Gauge>(); });
  MetricFamily<Gauge>* result = family.get();
  families_.emplace(std::move(name), std::move(family));
  return result;
}

StatusOr<MetricFamily<Histogram>*> MetricsRegistry::AddHistogram(MetricDescriptor descriptor,
                                                                 std::vector<double> bucket_bounds) {
  Status bounds_ok = ValidateBucketBounds(bucket_bounds);
  if (!bounds_ok.ok()) return Status::InvalidArgument("metric \"" + descriptor.name + "\": " + bounds_ok.message());
  std::lock_guard<std::mutex> lock(families_mu_);
  RETURN_IF_ERROR(ReserveNamesLocked(descriptor, MetricType::kHistogram));
  std::string name = descriptor.name;
  // Bounds were validated above, so Create cannot fail here.
  auto family = std::make_unique<MetricFamily<Histogram>>(
      std::move(descriptor), MetricType::kHistogram,
      [bounds = std::move(bucket_bounds)] { return std::move(Histogram::Create(bounds)).value(); });
  MetricFamily<Histogram>* result = family.get();
  families_.emplace(std::move(name), std::move(family));
  return result;
}

std::vector<FamilySnapshot> MetricsRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(families_mu_);
  std::vector<FamilySnapshot> snapshots;
  snapshots.reserve(families_.size());
  for (const auto& [name, family] : families_) snapshots.push_back(family->Snapshot());
  return snapshots;
}

std::string MetricsRegistry::PrometheusText() const { return RenderPrometheusText(Snapshot()); }

}  // namespace mlship::monitor
