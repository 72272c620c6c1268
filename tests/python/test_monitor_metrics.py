"""Metrics on the request path: dep.metrics(), dep.stats(), GET /metrics, and monitoring off."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from metrics_helpers import settled_metrics
from prometheus_client.parser import text_string_to_metric_families

import mlship

INFER = "/v2/models/digits/infer"


@pytest.fixture(scope="module")
def model(mlp) -> mlship.Model:
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every series of a Prometheus text page, parsed by the reference client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counts_match_what_was_sent_in_process_and_over_http(model, digits):
    x = digits[1]
    name = model.signature.inputs[0].name
    with mlship.deploy(model, name="digits", version="3", port=0) as dep:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: dep.predict(x[i % 100 : i % 100 + 2]), range(40)))  # 40 requests, 80 rows
        for i in range(5):
            status, body, _ = request(dep.url, "POST", INFER, infer_body(name, x[i : i + 3]))  # 5 requests, 15 rows
            assert status == 200, body
        with pytest.raises(mlship.InvalidInputError):
            dep.predict(np.zeros((2, 63), np.float32))
        m = settled_metrics(dep, rows=95)
        assert m["mlship_requests_succeeded_total"] == 45
        assert m["mlship_requests_failed_total"]["invalid_argument"] == 1
        assert m["mlship_requests_failed_total"]["inference_failed"] == 0
        assert m["mlship_inferences_total"] == 95
        assert 1 <= m["mlship_executions_total"] <= 45
        assert m["mlship_request_duration_seconds"]["count"] == 45
        assert m["mlship_request_duration_seconds"]["buckets"]["+Inf"] == 45
        assert m["mlship_batch_size"]["sum"] == 95
        assert m["mlship_batch_size"]["count"] == m["mlship_executions_total"]
        assert m["mlship_compute_duration_seconds"]["count"] == m["mlship_executions_total"]
        assert m["mlship_queue_duration_seconds"]["count"] == 45
        assert m["mlship_inflight_requests"] == 0
        assert m["mlship_queue_depth"] == 0
        assert m["mlship_fallback_active"] == 0

        status, text, headers = request(dep.url, "GET", "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        series = _samples(text.decode())
        labels = (("model", "digits"), ("version", "3"))
        assert series[("mlship_requests_succeeded_total", labels)] == 45
        assert series[("mlship_requests_failed_total", (*labels[:1], ("reason", "invalid_argument"), labels[1]))] == 1
        assert series[("mlship_inferences_total", labels)] == 95
        assert series[("mlship_request_duration_seconds_count", labels)] == 45
        assert dep.metrics_text() == text.decode()


def test_stats_summarise_the_recent_window(model, digits):
    x = digits[1]
    with mlship.deploy(model, port=0, http=False, max_batch_size=8) as dep:
        empty = dep.stats()
        assert empty["requests"] == 0 and empty["p99_ms"] == 0 and empty["mean_batch_size"] == 0
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: dep.predict(x[i % 50 : i % 50 + 1]), range(200)))
        settled_metrics(dep, rows=200)
        s = dep.stats()
        assert s["requests"] == 200 and s["failed_requests"] == 0
        assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"]
        assert s["mean_ms"] > 0 and s["throughput_rps"] > 0
        m = dep.metrics()
        assert s["mean_batch_size"] == pytest.approx(m["mlship_inferences_total"] / m["mlship_executions_total"])
        assert 1 <= s["mean_batch_size"] <= 8


def test_metrics_need_the_token_when_one_is_set(model):
    with mlship.deploy(model, port=0, token="t" * 32) as dep:
        status, body, headers = request(dep.url, "GET", "/metrics")
        assert status == 401 and headers.get("WWW-Authenticate") == "Bearer"
        status, text, _ = request(dep.url, "GET", "/metrics", headers={"Authorization": "Bearer " + "t" * 32})
        assert status == 200 and b"mlship_requests_succeeded_total" in text
        status, _, _ = request(dep.url, "GET", "/v2/health/ready")
        assert status == 200


def test_monitoring_off_serves_no_metrics(model, digits):
    with mlship.deploy(model, port=0, monitoring=False) as dep:
        assert np.asarray(dep.predict(digits[1][:2])).shape == (2, 10)
        status, _, _ = request(dep.url, "GET", "/metrics")
        assert status == 404
        with pytest.raises(mlship.FailedPreconditionError, match="monitoring is off"):
            dep.metrics()
        assert dep.dashboard_url is None
    with pytest.raises(ValueError, match="need monitoring=True"):
        mlship.deploy(model, port=0, monitoring=False, reference=digits[0])


def test_failures_are_counted_by_reason_and_serving_goes_on(model, digits):
    x = digits[1]
    with mlship.deploy(model, port=0, http=False, max_queue_size=1, max_delay_ms=50, instances=1) as dep:
        futures = [dep.submit(x[:1]) for _ in range(30)]
        outcomes = [f.exception(timeout=30) for f in futures]
        overloaded = sum(isinstance(e, mlship.OverloadedError) for e in outcomes)
        m = dep.metrics()
        assert overloaded >= 1
        assert m["mlship_requests_failed_total"]["unavailable"] == overloaded
        assert m["mlship_requests_succeeded_total"] == 30 - overloaded
        assert np.asarray(dep.predict(x[:1])).shape == (1, 10)


def test_the_grafana_dashboard_queries_only_metrics_that_exist(model):
    import json
    import re
    from pathlib import Path

    board = json.loads((Path(__file__).resolve().parents[2] / "examples/grafana/mlship-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"mlship_[a-z_]+", e)}
    with mlship.deploy(model, port=0, http=False) as dep:
        text = dep.metrics_text()
    exported = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    exported |= {n + suffix for n in exported for suffix in ("_bucket", "_sum", "_count")}
    assert used and used <= exported, used - exported
    assert len(board["panels"]) >= 8
