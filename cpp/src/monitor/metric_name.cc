// Prometheus metric and label name rules, plus mlship's unit conventions.
#include "mlship/monitor/metric_name.h"

#include <array>
#include <string>

namespace mlship::monitor {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsLetterOrUnderscore(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "name", quoted. Built by appending: GCC 12 warns (falsely, -Wrestrict) on
// the equivalent `"\"" + std::string(s) + "\""`.
std::string Quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

// Unit tokens for durations other than seconds, the Prometheus base unit.
constexpr std::array<std::string_view, 14> kNonSecondTimeUnits = {
    "ms", "msec", "millis", "milliseconds", "us", "usec", "micros", "microseconds",
    "ns", "nanos", "nanoseconds", "minutes", "hours", "days"};

// Name endings that say "this is a duration" without saying the unit.
constexpr std::array<std::string_view, 3> kDurationWords = {"_latency", "_duration", "_time"};

}  // namespace

Status ValidateMetricName(std::string_view name, MetricType type) {
  if (name.empty()) return Status::InvalidArgument("metric name is empty; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsLetterOrUnderscore(c) || c == ':' || (i > 0 && IsDigit(c));
    if (!ok) {
      return Status::InvalidArgument("metric name " + Quoted(name) + " has '" + std::string(1, c) +
                                     "' at position " + std::to_string(i) +
                                     "; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
  }
  std::string_view kind = MetricTypeName(type);
  bool has_total = EndsWith(name, "_total");
  if (type == MetricType::kCounter && !has_total) {
    return Status::InvalidArgument("counter name " + Quoted(name) + " must end in \"_total\", e.g. " +
                                   Quoted(std::string(name) + "_total"));
  }
  if (type != MetricType::kCounter && has_total) {
    return Status::InvalidArgument(std::string(kind) + " name " + Quoted(name) +
                                   " ends in \"_total\", which is reserved for counters; drop the suffix or "
                                   "register a counter");
  }
  if (type == MetricType::kHistogram) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (EndsWith(name, suffix)) {
        return Status::InvalidArgument("histogram name " + Quoted(name) + " ends in " + Quoted(suffix) +
                                       ", a suffix of the series a histogram exposes; name the measured "
                                       "quantity instead");
      }
    }
  }
  // Units: split into "_"-separated tokens and refuse non-second time units.
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('_', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view token = name.substr(start, end - start);
    for (std::string_view unit : kNonSecondTimeUnits) {
      if (token == unit) {
        std::string fixed = std::string(name.substr(0, start)) + "seconds" + std::string(name.substr(end));
        return Status::InvalidArgument("metric name " + Quoted(name) + " measures time in " + Quoted(unit) +
                                       "; durations are in seconds (the Prometheus base unit), e.g. " +
                                       Quoted(fixed));
      }
    }
    start = end + 1;
  }
  std::string_view stem = has_total ? name.substr(0, name.size() - 6) : name;
  for (std::string_view word : kDurationWords) {
    if (EndsWith(stem, word)) {
      std::string fixed = std::string(stem) + "_seconds" + (has_total ? "_total" : "");
      return Status::InvalidArgument("metric name " + Quoted(name) +
                                     " looks like a duration but does not name its unit; durations are in "
                                     "seconds, e.g. " +
                                     Quoted(fixed));
    }
  }
  return Status::Ok();
}

Status ValidateLabelName(std::string_view name, MetricType type) {
  if (name.empty()) return Status::InvalidArgument("label name is empty; expected [a-zA-Z_][a-zA-Z0-9_]*");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (!(IsLetterOrUnderscore(c) || (i > 0 && IsDigit(c)))) {
      return Status::InvalidArgument("label name " + Quoted(name) + " has '" + std::string(1, c) +
                                     "' at position " + std::to_string(i) + "; expected [a-zA-Z_][a-zA-Z0-9_]*");
    }
  }
  if (name.size() >= 2 && name.substr(0, 2) == "__") {
    return Status::InvalidArgument("label name " + Quoted(name) +
                                   " starts with \"__\", which Prometheus reserves for internal use");
  }
  if (type == MetricType::kHistogram && name == "le") {
    return Status::InvalidArgument(
        "label name \"le\" is reserved on histograms for the bucket bound; choose another name");
  }
  return Status::Ok();
}

}  // namespace mlship::monitor
