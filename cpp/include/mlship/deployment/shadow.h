// Shadow traffic: a candidate version sees copies of live requests, never
// answers them, and is compared with the version that did.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace mlship {

// How a shadow's answers compare with the primary's, on the same requests.
struct ShadowFigures {
  // Copies run on the shadow and compared.
  int64_t compared = 0;
  // Copies not sent: sampled out, or the shadow had no spare capacity.
  int64_t skipped = 0;
  // Copies the shadow failed on while the primary answered.
  int64_t failed = 0;
  // Rows compared, and rows whose argmax agreed (a classifier: see
  // CompareShadow; for other outputs rows agree when every element is
  // within 1e-5).
  int64_t rows = 0;
  int64_t agreeing_rows = 0;
  // Over every element of the first output.
  double max_abs_diff = 0.0;
  double sum_abs_diff = 0.0;
  int64_t elements = 0;
  // Shadow latency (arrival to answer), summed over `compared`.
  double sum_latency_seconds = 0.0;

  double agreement() const { return rows > 0 ? static_cast<double>(agreeing_rows) / static_cast<double>(rows) : 1.0; }
  double mean_abs_diff() const { return elements > 0 ? sum_abs_diff / static_cast<double>(elements) : 0.0; }
  double mean_latency_seconds() const {
    return compared > 0 ? sum_latency_seconds / static_cast<double>(compared) : 0.0;
  }
  // The share of rows that disagree: the divergence a rollout guard judges.
  double divergence() const { return 1.0 - agreement(); }
  // `this` minus `earlier` (counts and sums; the max stays this one's).
  ShadowFigures Since(const ShadowFigures& earlier) const;
};

// Compares the first output of a shadow with the primary's. Shapes that
// differ count every row as disagreeing. `classifier` is the version's
// option: true compares argmax per row, false every value, nullopt (auto)
// argmax for a [rows, classes >= 2] output.
ShadowFigures CompareShadow(const std::vector<at::Tensor>& primary, const std::vector<at::Tensor>& shadow,
                            std::optional<bool> classifier = std::nullopt);

// Running totals for one (model, shadow version), and the copies in
// flight. Thread-safe.
class ShadowStats {
 public:
  // Claims a slot for one more copy in flight when fewer than `limit` are;
  // false (counted as skipped) otherwise. Finished() gives it back.
  bool TryStart(int limit);
  void Finished();
  void Add(const ShadowFigures& one, double latency_seconds);
  void Skipped();
  void Failed();
  ShadowFigures Snapshot() const;

 private:
  mutable std::mutex mu_;
  ShadowFigures total_;  // GUARDED_BY(mu_)
  int in_flight_ = 0;    // GUARDED_BY(mu_)
};

}  // namespace mlship
