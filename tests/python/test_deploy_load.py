"""Overload (503), timeouts (504) and stopping under load: no accepted request is lost."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request

import mlship


class Slow(torch.nn.Module):
    """Tens of milliseconds per call: enough to fill a queue on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.eye(32) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3000):
            x = torch.tanh(x @ self.w)
        return x


@pytest.fixture(scope="module")
def slow() -> mlship.Model:
    return mlship.load(Slow().eval(), example_inputs=torch.zeros(1, 32))


def infer_concurrently(dep, model, x, n: int) -> list[tuple[int, dict, dict]]:
    """n HTTP requests at once, each on its own connection."""
    body = infer_body(model.signature.inputs[0].name, x)
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: request(dep.url, "POST", "/v2/models/model/infer", body), range(n)))


def test_a_full_queue_answers_503_and_the_rest_are_correct(slow):
    x = np.full((1, 32), 0.3, np.float32)
    want = slow(x)
    with mlship.deploy(slow, port=0, max_batch_size=1, max_queue_size=1, instances=1) as dep:
        answers = infer_concurrently(dep, slow, x, 12)
        codes = [a[0] for a in answers]
        assert set(codes) <= {200, 503}, codes
        assert 503 in codes and 200 in codes
        for status, body, _ in answers:
            if status == 200:
                np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(1, 32), want, rtol=1e-5, atol=1e-5)
            else:
                assert "retry" in body["error"] or "full" in body["error"]
        # In-process callers see the same condition as OverloadedError.
        futures = [dep.submit(x) for _ in range(8)]
        outcomes = [f.exception(timeout=60) for f in futures]
        assert any(isinstance(e, mlship.OverloadedError) for e in outcomes)
        assert all(e is None or isinstance(e, mlship.OverloadedError) for e in outcomes)
        np.testing.assert_allclose(dep.predict(x), want, rtol=1e-5, atol=1e-5)


def test_requests_queued_past_their_deadline_get_504_and_never_run(slow):
    x = np.full((1, 32), 0.3, np.float32)
    with mlship.deploy(slow, port=0, max_batch_size=1, instances=1, timeout_ms=5) as dep:
        answers = infer_concurrently(dep, slow, x, 6)
        codes = [a[0] for a in answers]
        assert set(codes) <= {200, 504}, codes
        assert 504 in codes
        assert all("error" in body for status, body, _ in answers if status == 504)
        with pytest.raises(mlship.DeadlineExceededError):
            futures = [dep.submit(x, timeout=0.005) for _ in range(4)]
            for f in futures:
                f.result(timeout=60)
    with mlship.deploy(slow, port=0) as dep:
        np.testing.assert_allclose(dep.predict(x), slow(x), rtol=1e-5, atol=1e-5)


def _client(url: str, name: str, X: np.ndarray, want: np.ndarray, stop_at: float, log: list) -> None:
    """Sends requests on a keep-alive connection until the server goes away or time runs out.

    Records one outcome per request sent: "ok", "503", "refused" (never sent), or a failure string.
    """
    parts = urlsplit(url)
    conn = None
    for i in range(400):  # bounded in count
        if time.monotonic() > stop_at:  # and in time
            break
        row = i % len(X)
        body = json.dumps(infer_body(name, X[row : row + 1]))
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                conn.connect()
        except ConnectionRefusedError:
            log.append("refused")
            break
        try:
            conn.request("POST", "/v2/models/model/infer", body=body)
            response = conn.getresponse()
            payload = json.loads(response.read())
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection while draining: the request
            # was never read (a server answers every request it read), so it was not accepted.
            log.append("closed-before-read")
            conn.close()
            conn = None
            continue
        except Exception as e:  # noqa: BLE001 - a hang (timeout) or anything else is a failure
            log.append(f"failure: {type(e).__name__}: {e}")
            break
        if response.status == 200:
            got = np.array(payload["outputs"][0]["data"], np.float32).reshape(1, -1)
            ok = np.allclose(got, want[row : row + 1], atol=1e-5)
            log.append("ok" if ok else f"failure: wrong answer for row {row}")
        elif response.status == 503:
            log.append("503")
            conn.close()
            conn = None
        else:
            log.append(f"failure: HTTP {response.status} {payload}")
        if response.getheader("Connection", "").lower() == "close" and conn is not None:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def test_stopping_under_http_load_answers_every_request_correctly_or_with_503(mlp, digits):
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    X = digits[1][:50]
    want = model(X)
    name = model.signature.inputs[0].name
    dep = mlship.deploy(model, port=0, max_batch_size=8)
    logs = [[] for _ in range(8)]
    stop_at = time.monotonic() + 60
    threads = [threading.Thread(target=_client, args=(dep.url, name, X, want, stop_at, log)) for log in logs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while sum(log.count("ok") for log in logs) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    dep.stop()
    for t in threads:
        t.join(timeout=90)
        assert not t.is_alive(), "a client hung"
    outcomes = [o for log in logs for o in log]
    failures = [o for o in outcomes if o.startswith("failure")]
    assert not failures, failures[:5]
    assert outcomes.count("ok") >= 200
    # Every client ended because the server went away, not by running out of requests.
    assert all(log and log[-1] in ("refused", "503", "closed-before-read") for log in logs), [lg[-3:] for lg in logs]


def test_stopping_under_in_process_load_resolves_every_future(mlp, digits):
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    X = digits[1][:40]
    want = model(X)
    dep = mlship.deploy(model, http=False, max_batch_size=8)
    futures = []
    for i in range(2000):
        futures.append((i % 40, dep.submit(X[i % 40 : i % 40 + 1])))
        if i == 1000:
            threading.Thread(target=dep.stop).start()
    for row, f in futures:
        error = f.exception(timeout=60)
        if error is None:
            np.testing.assert_allclose(f.result(), want[row : row + 1], rtol=1e-5, atol=1e-5)
        else:
            assert isinstance(error, mlship.OverloadedError), error
    assert sum(f.exception() is None for _, f in futures) >= 1000


def test_stop_without_drain_answers_queued_requests_with_overloaded(slow):
    x = np.full((1, 32), 0.3, np.float32)
    dep = mlship.deploy(slow, http=False, max_batch_size=1, instances=1)
    futures = [dep.submit(x) for _ in range(6)]
    time.sleep(0.01)
    dep.stop(drain=False)
    errors = [f.exception(timeout=60) for f in futures]
    assert any(isinstance(e, mlship.OverloadedError) for e in errors)
    assert all(e is None or isinstance(e, mlship.OverloadedError) for e in errors)
