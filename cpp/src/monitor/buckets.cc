// Histogram bucket layouts and their validation.
#include "mlship/monitor/buckets.h"

#include <cmath>
#include <string>

#include "mlship/monitor/prometheus.h"

namespace mlship::monitor {

std::vector<double> DefaultLatencyBuckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}; }

StatusOr<std::vector<double>> ExponentialBuckets(double start, double factor, int64_t count) {
  if (!(start > 0) || !std::isfinite(start)) {
    return Status::InvalidArgument("exponential buckets need start > 0; was " + FormatPrometheusNumber(start));
  }
  if (!(factor > 1) || !std::isfinite(factor)) {
    return Status::InvalidArgument("exponential buckets need factor > 1; was " + FormatPrometheusNumber(factor));
  }
  if (count < 1) return Status::InvalidArgument("bucket count must be >= 1; was " + std::to_string(count));
  std::vector<double> bounds;
  bounds.reserve(static_cast<size_t>(count));
  double bound = start;
  for (int64_t i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  RETURN_IF_ERROR(ValidateBucketBounds(bounds));  // catches overflow to +Inf
  return bounds;
}

StatusOr<std::vector<double>> LinearBuckets(double start, double width, int64_t count) {
  if (!(width > 0) || !std::isfinite(width)) {
    return Status::InvalidArgument("linear buckets need width > 0; was " + FormatPrometheusNumber(width));
  }
  if (count < 1) return Status::InvalidArgument("bucket count must be >= 1; was " + std::to_string(count));
  std::vector<double> bounds;
  bounds.reserve(static_cast<size_t>(count));
  // start + i·width rather than repeated addition, so errors do not accumulate.
  for (int64_t i = 0; i < count; ++i) bounds.push_back(start + static_cast<double>(i) * width);
  RETURN_IF_ERROR(ValidateBucketBounds(bounds));
  return bounds;
}

Status ValidateBucketBounds(const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return Status::InvalidArgument("histogram bucket bounds must be finite (+Inf is implicit); bound " +
                                     std::to_string(i) + " was " + FormatPrometheusNumber(bounds[i]));
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return Status::InvalidArgument("histogram bucket bounds must strictly increase; bound " + std::to_string(i) +
                                     " (" + FormatPrometheusNumber(bounds[i]) + ") follows " +
                                     FormatPrometheusNumber(bounds[i - 1]));
    }
  }
  return Status::Ok();
}

}  // namespace mlship::monitor
