// Names of metric types as Prometheus spells them.
#include "mlship/monitor/metric_type.h"

namespace mlship::monitor {

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace mlship::monitor
