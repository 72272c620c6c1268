// MetricFamily: one metric name with labels, and a child metric per set of
// label values, e.g. mlship_requests_total{model="digits",code="200"}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mlship/monitor/counter.h"
#include "mlship/monitor/gauge.h"
#include "mlship/monitor/histogram.h"
#include "mlship/monitor/metric_snapshot.h"
#include "mlship/monitor/metric_type.h"
#include "mlship/status.h"

namespace mlship::monitor {

// What a family is called and which labels its children carry.
struct MetricDescriptor {
  // Prometheus metric name; see ValidateMetricName for the rules.
  std::string name;
  // One line saying what is measured and in which unit.
  std::string help;
  // Label names, in the order label values are given to WithLabels. May be
  // empty, and then the family has exactly one child.
  std::vector<std::string> label_names;
};

namespace internal {

// The type-erased face of a family that MetricsRegistry keeps and renders.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  // Copies the family's description and its children's current values.
  virtual FamilySnapshot Snapshot() const = 0;
};

// Copies one child's value into a sample (one overload per metric type).
inline void FillSample(const Counter& metric, MetricSample& sample) { sample.value = metric.Value(); }
inline void FillSample(const Gauge& metric, MetricSample& sample) { sample.value = metric.Value(); }
inline void FillSample(const Histogram& metric, MetricSample& sample) { sample.histogram = metric.Snapshot(); }

}  // namespace internal

// A family of metrics of one type (Counter, Gauge or Histogram) that share a
// name and label names and differ in label values.
//
// Thread-safe. WithLabels() takes the family's mutex, so look a child up once
// (e.g. when a model version is loaded) and keep the pointer for the request
// path: children live as long as the family, which lives as long as the
// MetricsRegistry that made it. Updating a child takes no lock.
template <typename Metric>
class MetricFamily final : public internal::FamilyBase {
 public:
  // Makes a new child (a histogram needs its bucket bounds).
  using ChildFactory = std::function<std::unique_ptr<Metric>()>;

  // Use MetricsRegistry::Add*; it validates the descriptor first.
  MetricFamily(MetricDescriptor descriptor, MetricType type, ChildFactory make_child)
      : descriptor_(std::move(descriptor)), type_(type), make_child_(std::move(make_child)) {
    // An unlabelled family exports its one child from the start, at zero.
    if (descriptor_.label_names.empty()) children_.emplace(std::vector<std::string>{}, make_child_());
  }

  // The child for `label_values` (one per label name, same order), created on
  // first use. InvalidArgument when the number of values is wrong.
  StatusOr<Metric*> WithLabels(const std::vector<std::string>& label_values) {
    if (label_values.size() != descriptor_.label_names.size()) {
      std::string names;
      for (const auto& n : descriptor_.label_names) names += (names.empty() ? "" : ", ") + n;
      return Status::InvalidArgument("metric \"" + descriptor_.name + "\" has " +
                                     std::to_string(descriptor_.label_names.size()) + " label(s) (" + names +
                                     "); got " + std::to_string(label_values.size()) + " value(s)");
    }
    std::lock_guard<std::mutex> lock(children_mu_);
    auto it = children_.find(label_values);
    if (it == children_.end()) it = children_.emplace(label_values, make_child_()).first;
    return it->second.get();
  }

  // The name, help and label names given at registration.
  const MetricDescriptor& descriptor() const { return descriptor_; }

  FamilySnapshot Snapshot() const override {
    FamilySnapshot snapshot{descriptor_.name, descriptor_.help, type_, descriptor_.label_names, {}};
    std::lock_guard<std::mutex> lock(children_mu_);
    snapshot.samples.reserve(children_.size());
    for (const auto& [values, child] : children_) {
      MetricSample sample;
      sample.label_values = values;
      internal::FillSample(*child, sample);
      snapshot.samples.push_back(std::move(sample));
    }
    return snapshot;
  }

 private:
  // Name, help and label names; immutable.
  const MetricDescriptor descriptor_;
  // Counter, gauge or histogram; immutable.
  const MetricType type_;
  // Makes children; immutable.
  const ChildFactory make_child_;
  // Guards children_ (the map, not the children's values, which are atomic).
  mutable std::mutex children_mu_;
  // Children keyed by label values; ordered so snapshots are deterministic.
  // Never erased, so pointers handed out stay valid. GUARDED_BY(children_mu_)
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

}  // namespace mlship::monitor
