// Bucket bounds for histograms: validation and the usual layouts.
#pragma once

#include <cstdint>
#include <vector>

#include "mlship/status.h"

namespace mlship::monitor {

// The Prometheus client libraries' default buckets, in seconds:
// 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10.
// They suit request latencies from a few milliseconds to ten seconds.
std::vector<double> DefaultLatencyBuckets();

// `count` bounds start, start·factor, start·factor², ...
// Requires start > 0, factor > 1 and count >= 1.
StatusOr<std::vector<double>> ExponentialBuckets(double start, double factor, int64_t count);

// `count` bounds start, start + width, start + 2·width, ...
// Requires width > 0 and count >= 1.
StatusOr<std::vector<double>> LinearBuckets(double start, double width, int64_t count);

// OK when every bound is finite and they strictly increase. An empty list is
// allowed (the histogram then has only the implicit +Inf bucket).
Status ValidateBucketBounds(const std::vector<double>& bounds);

}  // namespace mlship::monitor
