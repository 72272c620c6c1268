// FeatureImportance: running mean |attribution| per feature, and its shift
// from the reference's.
#include "mlship/monitor/feature_importance.h"

#include <cmath>

#include "json_out.h"

namespace mlship::monitor {
namespace {

// Importance that cannot be computed is null in the JSON, not 0.
std::string NullOrNumber(double value) { return JsonNumber(value, "null"); }

}  // namespace

FeatureImportance::FeatureImportance(int64_t features) : features_(features), sums_(features, 0.0) {}

void FeatureImportance::Add(const float* abs_attribution) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t i = 0; i < features_; ++i) sums_[i] += std::abs(abs_attribution[i]);
  ++rows_;
}

void FeatureImportance::SetReference(std::vector<double> mean_abs, int64_t rows) {
  if (static_cast<int64_t>(mean_abs.size()) != features_) return;
  std::lock_guard<std::mutex> lock(mu_);
  reference_ = std::move(mean_abs);
  reference_rows_ = rows;
}

double FeatureImportance::Shift(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || a.size() != b.size()) return -1;
  double ta = 0, tb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ta += a[i];
    tb += b[i];
  }
  if (ta <= 0 || tb <= 0) return -1;
  double distance = 0;
  for (std::size_t i = 0; i < a.size(); ++i) distance += std::abs(a[i] / ta - b[i] / tb);
  return 0.5 * distance;
}

FeatureImportance::Snapshot FeatureImportance::Get() const {
  Snapshot s;
  std::lock_guard<std::mutex> lock(mu_);
  s.rows = rows_;
  if (rows_ > 0) {
    s.live.resize(features_);
    for (int64_t i = 0; i < features_; ++i) s.live[i] = sums_[i] / static_cast<double>(rows_);
  }
  s.reference = reference_;
  s.reference_rows = reference_rows_;
  s.shift = Shift(s.live, s.reference);
  return s;
}

std::string FeatureImportance::ToJson(const std::vector<std::string>& names) const {
  const Snapshot s = Get();
  std::string j = "{\"rows\":" + std::to_string(s.rows) + ",\"reference_rows\":" + std::to_string(s.reference_rows) +
                  ",\"shift\":" + (s.shift < 0 ? std::string("null") : NullOrNumber(s.shift)) + ",\"features\":[";
  for (int64_t i = 0; i < features_; ++i) {
    if (i > 0) j += ',';
    const std::string name = i < static_cast<int64_t>(names.size()) ? names[i] : std::to_string(i);
    j += "{\"feature\":" + JsonQuoted(name) + ",\"live\":" + (s.live.empty() ? "null" : NullOrNumber(s.live[i])) +
         ",\"reference\":" + (s.reference.empty() ? "null" : NullOrNumber(s.reference[i])) + "}";
  }
  return j + "]}";
}

}  // namespace mlship::monitor
