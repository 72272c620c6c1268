// FeatureImportance: a running global feature importance (mean |attribution|
// per feature) of the live requests a version explains by sampling, beside
// the same figure on its drift reference, and how far the two are apart.
//
// Thread-safety: every method is safe for concurrent use.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mlship::monitor {

class FeatureImportance {
 public:
  explicit FeatureImportance(int64_t features);

  struct Snapshot {
    // Live rows explained so far.
    int64_t rows = 0;
    // Mean |attribution| per feature over those rows (empty before any).
    std::vector<double> live;
    // The same on the drift reference (empty until computed).
    std::vector<double> reference;
    int64_t reference_rows = 0;
    // How much of the importance moved between reference and live: the
    // total variation distance of the two importance shares, 0 (the same
    // features matter as much) .. 1 (entirely different ones). -1 while
    // either side is missing.
    double shift = -1;
  };

  int64_t features() const { return features_; }
  // Adds one explained row: `abs_attribution` holds features() values >= 0.
  void Add(const float* abs_attribution);
  // The reference's mean |attribution| per feature, over `rows` rows.
  void SetReference(std::vector<double> mean_abs, int64_t rows);
  Snapshot Get() const;
  // {"rows": n, "reference_rows": m, "shift": s or null, "features": [{"feature": name,
  // "live": x, "reference": y or null}, ...]} with `names` (one per feature).
  std::string ToJson(const std::vector<std::string>& names) const;

  // The total variation distance between a's and b's shares (see shift).
  static double Shift(const std::vector<double>& a, const std::vector<double>& b);

 private:
  const int64_t features_;
  mutable std::mutex mu_;
  int64_t rows_ = 0;                     // GUARDED_BY(mu_)
  std::vector<double> sums_;             // GUARDED_BY(mu_)
  std::vector<double> reference_;        // GUARDED_BY(mu_)
  int64_t reference_rows_ = 0;           // GUARDED_BY(mu_)
};

}  // namespace mlship::monitor
