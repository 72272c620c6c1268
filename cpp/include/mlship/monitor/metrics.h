// Everything needed to define, update and export metrics, in one include:
// Counter, Gauge, Histogram (+ bucket layouts), MetricFamily, MetricsRegistry
// and the Prometheus text renderer. Each lives in its own header.
#pragma once

#include "mlship/monitor/buckets.h"
#include "mlship/monitor/counter.h"
#include "mlship/monitor/gauge.h"
#include "mlship/monitor/histogram.h"
#include "mlship/monitor/metric_family.h"
#include "mlship/monitor/metric_name.h"
#include "mlship/monitor/metric_snapshot.h"
#include "mlship/monitor/prometheus.h"
#include "mlship/monitor/registry.h"
