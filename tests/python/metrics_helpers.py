"""Reading a deployment's metrics once the last batch's figures are in."""

from __future__ import annotations

import time


def settled_metrics(dep, rows: int) -> dict:
    """dep.metrics() once the last batch's figures are in: a worker records a batch just after
    it has delivered its answers, so a caller can see its answer a moment before the batch's
    counters. Polls (bounded to 5 s) until `rows` rows are counted and the compute histogram,
    recorded last, has every execution."""
    for _ in range(100):
        m = dep.metrics()
        if (m["mlship_inferences_total"] >= rows
                and m["mlship_compute_duration_seconds"]["count"] == m["mlship_executions_total"]):
            return m
        time.sleep(0.05)
    return m
