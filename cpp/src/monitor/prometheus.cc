// The Prometheus text exposition format 0.0.4.
#include "mlship/monitor/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace mlship::monitor {
namespace {

void AppendNumber(std::string& out, double value) { out += FormatPrometheusNumber(value); }

void AppendCount(std::string& out, uint64_t value) {
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  (void)ec;  // 24 chars always hold a uint64_t
  out.append(buffer, end);
}

// Appends {a="x",b="y"} (plus le="..." when `le` is given); nothing when
// there are no labels at all.
void AppendLabels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string* le) {
  if (names.empty() && le == nullptr) return;
  out += '{';
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendHistogram(std::string& out, const FamilySnapshot& family, const MetricSample& sample) {
  const HistogramSnapshot& h = sample.histogram;
  for (size_t i = 0; i < h.cumulative_counts.size(); ++i) {
    std::string le = i < h.bucket_bounds.size() ? FormatPrometheusNumber(h.bucket_bounds[i]) : "+Inf";
    out += family.name;
    out += "_bucket";
    AppendLabels(out, family.label_names, sample.label_values, &le);
    out += ' ';
    AppendCount(out, h.cumulative_counts[i]);
    out += '\n';
  }
  out += family.name;
  out += "_sum";
  AppendLabels(out, family.label_names, sample.label_values, nullptr);
  out += ' ';
  AppendNumber(out, h.sum);
  out += '\n';
  out += family.name;
  out += "_count";
  AppendLabels(out, family.label_names, sample.label_values, nullptr);
  out += ' ';
  AppendCount(out, h.count);
  out += '\n';
}

}  // namespace

std::string FormatPrometheusNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];  // the shortest round-trip form of a double fits in 24
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buffer, end);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      out += EscapeHelp(family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += MetricTypeName(family.type);
    out += '\n';
    for (const MetricSample& sample : family.samples) {
      if (family.type == MetricType::kHistogram) {
        AppendHistogram(out, family, sample);
        continue;
      }
      out += family.name;
      AppendLabels(out, family.label_names, sample.label_values, nullptr);
      out += ' ';
      AppendNumber(out, sample.value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace mlship::monitor
