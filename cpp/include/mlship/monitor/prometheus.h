// Rendering metrics in the Prometheus text exposition format, version 0.0.4.
//
// https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlship/monitor/metric_snapshot.h"

namespace mlship::monitor {

// The Content-Type to serve PrometheusText() with.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Renders families as "# HELP" (omitted when help is empty), "# TYPE" and one
// line per series. Histograms expose cumulative name_bucket{le="..."} series
// ending with le="+Inf", then name_sum and name_count.
std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families);

// The shortest decimal that round-trips (std::to_chars), or "+Inf", "-Inf",
// "NaN": 1 -> "1", 0.25 -> "0.25", 1e-05 -> "1e-05".
std::string FormatPrometheusNumber(double value);

// A label value with backslash, double quote and newline escaped as \\, \"
// and \n.
std::string EscapeLabelValue(std::string_view value);

// Help text with backslash and newline escaped as \\ and \n.
std::string EscapeHelp(std::string_view help);

}  // namespace mlship::monitor
