"""A real Prometheus server (Debian's `prometheus`) scrapes a live deployment on loopback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import torch

import mlship

PROMETHEUS = shutil.which("prometheus")
TOKEN = "p" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture
def prometheus(tmp_path):
    """Starts Prometheus on a free loopback port; yields a function that points it at a deployment."""
    if PROMETHEUS is None:
        pytest.fail("the Debian package 'prometheus' is not installed (make system-deps installs it)")
    procs = []
    logs = []

    def start(target_port: int) -> int:
        port = _free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: mlship\n"
            f"    authorization:\n      credentials: {TOKEN}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        )
        return port

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for log in logs:
        log.close()


def test_prometheus_scrapes_the_request_counter(prometheus, mlp, digits):
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    x = digits[1]
    sent = 37
    with mlship.deploy(model, name="digits", version="7", port=0, token=TOKEN) as dep:
        for i in range(sent):
            dep.predict(x[i : i + 2])
        with pytest.raises(mlship.InvalidInputError):
            dep.predict(np.zeros((1, 5), np.float32))
        port = prometheus(dep.port)
        expr = 'mlship_requests_succeeded_total{model="digits",version="7"}'
        result = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # bounded: Prometheus starts, then scrapes every second
            try:
                result = _query(port, expr)
            except OSError:
                result = []
            if result:
                break
            time.sleep(0.5)
        assert len(result) == 1, f"Prometheus never returned {expr}"
        assert float(result[0]["value"][1]) == sent
        assert result[0]["metric"]["job"] == "mlship"
        failed = _query(port, 'mlship_requests_failed_total{model="digits",reason="invalid_argument"}')
        assert float(failed[0]["value"][1]) == 1
        up = _query(port, 'up{job="mlship"}')
        assert float(up[0]["value"][1]) == 1  # the bearer token was accepted
