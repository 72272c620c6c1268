"""Requests refused at the HTTP layer are counted: in mlship_requests_failed_total when an
inference URL names the model, else in mlship_http_requests_refused_total."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from prometheus_client.parser import text_string_to_metric_families

import mlship

INFER = "/v2/models/m/infer"


class Slow(torch.nn.Module):
    """Tens of milliseconds per call on one thread, whatever the batch: a queue builds up."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(512, 512) / 512**0.5, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Depends on x, so freezing cannot fold the loop into a constant.
        h = torch.ones(256, 512) + x.sum() * 0.0
        for _ in range(12):
            h = torch.tanh(h @ self.w)
        return x + h.mean() * 0.0


@pytest.fixture(scope="module")
def small() -> mlship.Model:
    return mlship.load(torch.nn.Linear(4, 2).eval(), example_inputs=torch.zeros(1, 4))


@pytest.fixture(scope="module")
def slow() -> mlship.Model:
    return mlship.load(Slow().eval(), example_inputs=torch.zeros(1, 4), threads=1)


def _scraped(url: str, headers: dict | None = None) -> dict[tuple[str, str], float]:
    """(metric, reason) -> value from GET /metrics, parsed by prometheus_client."""
    status, text, _ = request(url, "GET", "/metrics", headers=headers)
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if "reason" in s.labels:
                out[(s.name, s.labels["reason"])] = s.value
    return out


def test_bad_requests_for_the_model_count_as_failed_and_the_rest_as_refused(small):
    name = small.signature.inputs[0].name
    good = infer_body(name, np.ones((2, 4), np.float32))
    limits = mlship.Limits(max_body_bytes=4096, max_header_bytes=2048)
    with mlship.deploy(small, name="m", port=0, limits=limits) as dep:
        assert request(dep.url, "POST", INFER, good)[0] == 200
        assert request(dep.url, "POST", INFER, "{not json")[0] == 400
        assert request(dep.url, "POST", INFER, infer_body(name, np.ones((2, 3), np.float32)))[0] == 400
        assert request(dep.url, "POST", INFER, b"[" + b" " * 8000 + b"]")[0] == 413
        assert request(dep.url, "POST", "/v2/models/other/infer", good)[0] == 404
        assert request(dep.url, "GET", "/v2", headers={"X-Padding": "p" * 4000})[0] == 431
        assert request(dep.url, "GET", "/no-such-page")[0] == 404
        assert request(dep.url, "GET", INFER)[0] == 405

        m = dep.metrics()
        failed = m["mlship_requests_failed_total"]
        assert failed["invalid_argument"] == 2
        assert failed["resource_exhausted"] == 1
        assert failed["method_not_allowed"] == 1
        assert failed["not_found"] == 0, "an unknown model has no series of its own"
        assert m["mlship_requests_succeeded_total"] == 1
        refused = m["mlship_http_requests_refused_total"]
        assert refused == {"not_found": 2, "header_too_large": 1}
        assert dep.stats()["failed_requests"] == 4

        scraped = _scraped(dep.url)
        assert scraped[("mlship_requests_failed_total", "invalid_argument")] == 2
        assert scraped[("mlship_http_requests_refused_total", "header_too_large")] == 1


def test_a_wrong_token_is_counted(small):
    token = "k" * 32
    name = small.signature.inputs[0].name
    with mlship.deploy(small, name="m", port=0, token=token) as dep:
        body = infer_body(name, np.ones((1, 4), np.float32))
        assert request(dep.url, "POST", INFER, body, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert request(dep.url, "POST", INFER, body)[0] == 401
        assert request(dep.url, "GET", "/metrics")[0] == 401
        scraped = _scraped(dep.url, headers={"Authorization": f"Bearer {token}"})
        assert scraped[("mlship_requests_failed_total", "unauthenticated")] == 2
        assert scraped[("mlship_http_requests_refused_total", "unauthenticated")] == 1


def _burst(dep: mlship.Deployment, name: str, count: int) -> list[int]:
    """`count` concurrent HTTP requests (bounded: each has a 30 s client timeout)."""
    body = infer_body(name, np.ones((1, 4), np.float32))
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: request(dep.url, "POST", INFER, body)[0], range(count)))


def test_overload_and_timeouts_are_counted_as_the_clients_saw_them(slow):
    name = slow.signature.inputs[0].name
    with mlship.deploy(slow, name="m", port=0, max_batch_size=1, max_queue_size=1, instances=1,
                       intra_op_threads=1) as dep:
        statuses = _burst(dep, name, 8)
        assert set(statuses) <= {200, 503} and statuses.count(503) >= 1, statuses
        m = dep.metrics()
        assert m["mlship_requests_failed_total"]["unavailable"] == statuses.count(503)
        assert m["mlship_requests_succeeded_total"] == statuses.count(200)

    with mlship.deploy(slow, name="m", port=0, max_batch_size=1, instances=1, intra_op_threads=1,
                       timeout_ms=5) as dep:
        statuses = _burst(dep, name, 6)
        assert set(statuses) <= {200, 504} and statuses.count(504) >= 1, statuses
        assert dep.metrics()["mlship_requests_failed_total"]["deadline_exceeded"] == statuses.count(504)


def test_the_connection_limit_is_counted(small):
    import socket

    with mlship.deploy(small, name="m", port=0, limits=mlship.Limits(max_connections=1)) as dep:
        with socket.create_connection(("127.0.0.1", dep.port), timeout=10) as held:
            held.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 200 " in held.recv(4096)
            with socket.create_connection(("127.0.0.1", dep.port), timeout=10) as extra:
                assert b" 503 " in extra.recv(4096)
        for _ in range(100):  # the held connection's slot frees within a moment; at most ~5 s
            if request(dep.url, "GET", "/v2/health/live")[0] == 200:
                break
        assert dep.metrics()["mlship_http_requests_refused_total"]["unavailable"] >= 1
