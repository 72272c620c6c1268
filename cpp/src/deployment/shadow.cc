// Comparing a shadow's outputs with the primary's; the running totals.
#include "mlship/deployment/shadow.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace mlship {

ShadowFigures ShadowFigures::Since(const ShadowFigures& earlier) const {
  ShadowFigures d = *this;
  d.compared -= earlier.compared;
  d.skipped -= earlier.skipped;
  d.failed -= earlier.failed;
  d.rows -= earlier.rows;
  d.agreeing_rows -= earlier.agreeing_rows;
  d.sum_abs_diff -= earlier.sum_abs_diff;
  d.elements -= earlier.elements;
  d.sum_latency_seconds -= earlier.sum_latency_seconds;
  return d;
}

namespace {

// The index of the largest value in row[0, n); a NaN counts as the largest
// and the first of equal values wins, as at::argmax.
int64_t ArgMax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j) {
    if (std::isnan(row[best])) break;
    if (std::isnan(row[j]) || row[j] > row[best]) best = j;
  }
  return best;
}

// CompareShadow for two contiguous float32 outputs of the same shape, in one
// pass over the elements. The comparison runs on a worker thread after an
// answer; a dozen ATen operators (conversions, reductions, item()) cost tens
// of microseconds there per request, which this plain loop does not.
ShadowFigures CompareFloats(const at::Tensor& a, const at::Tensor& b, bool by_argmax, ShadowFigures f) {
  const float* x = a.data_ptr<float>();
  const float* y = b.data_ptr<float>();
  f.elements = a.numel();
  const int64_t width = f.rows > 0 ? f.elements / f.rows : 0;
  for (int64_t r = 0; r < f.rows; ++r) {
    const float* xr = x + r * width;
    const float* yr = y + r * width;
    bool close = true;
    for (int64_t j = 0; j < width; ++j) {
      const double d = std::fabs(static_cast<double>(xr[j]) - static_cast<double>(yr[j]));
      f.sum_abs_diff += d;
      f.max_abs_diff = std::max(f.max_abs_diff, d);
      close = close && d <= 1e-5;
    }
    if (by_argmax ? ArgMax(xr, width) == ArgMax(yr, width) : close) ++f.agreeing_rows;
  }
  return f;
}

}  // namespace

ShadowFigures CompareShadow(const std::vector<at::Tensor>& primary, const std::vector<at::Tensor>& shadow,
                            std::optional<bool> classifier) {
  ShadowFigures f;
  f.compared = 1;
  if (primary.empty() || shadow.empty()) return f;
  {
    const at::Tensor& a = primary[0];
    const at::Tensor& b = shadow[0];
    if (a.dim() >= 1 && a.sizes() == b.sizes() && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
        a.device().is_cpu() && b.device().is_cpu() && a.is_contiguous() && b.is_contiguous()) {
      f.rows = a.size(0);
      const bool by_argmax = a.dim() == 2 && classifier.value_or(a.size(1) >= 2);
      return CompareFloats(a, b, by_argmax, f);
    }
  }
  const at::Tensor a = primary[0].to(at::kDouble);
  const at::Tensor b = shadow[0].to(at::kDouble);
  const int64_t rows = a.dim() > 0 ? a.size(0) : 1;
  f.rows = rows;
  if (a.sizes() != b.sizes()) return f;  // nothing agrees
  const at::Tensor diff = (a - b).abs();
  f.elements = diff.numel();
  if (f.elements > 0) {
    f.max_abs_diff = diff.max().item<double>();
    f.sum_abs_diff = diff.sum().item<double>();
  }
  if (a.dim() == 2 && classifier.value_or(a.size(1) >= 2)) {
    f.agreeing_rows = (a.argmax(1) == b.argmax(1)).sum().item<int64_t>();
  } else if (a.dim() >= 1) {
    f.agreeing_rows = (diff.reshape({rows, -1}) <= 1e-5).all(1).sum().item<int64_t>();
  } else {
    f.agreeing_rows = diff.item<double>() <= 1e-5 ? 1 : 0;
  }
  return f;
}

void ShadowStats::Add(const ShadowFigures& one, double latency_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  total_.compared += one.compared;
  total_.rows += one.rows;
  total_.agreeing_rows += one.agreeing_rows;
  total_.max_abs_diff = std::max(total_.max_abs_diff, one.max_abs_diff);
  total_.sum_abs_diff += one.sum_abs_diff;
  total_.elements += one.elements;
  total_.sum_latency_seconds += latency_seconds;
}

bool ShadowStats::TryStart(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (in_flight_ >= limit) {
    ++total_.skipped;
    return false;
  }
  ++in_flight_;
  return true;
}

void ShadowStats::Finished() {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
}

void ShadowStats::Skipped() {
  std::lock_guard<std::mutex> lock(mu_);
  ++total_.skipped;
}

void ShadowStats::Failed() {
  std::lock_guard<std::mutex> lock(mu_);
  ++total_.failed;
}

ShadowFigures ShadowStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace mlship
