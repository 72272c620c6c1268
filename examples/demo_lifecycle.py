"""mlship's model lifecycle: a verified repository, one server for its models and versions, a hot
swap to a new version under load, a rollback, and a guarded rollout of a bad version that
rolls itself back, with no failed request.

Run with `make demo` (after the main demo). Each stage prints what it did.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import models  # noqa: E402

import mlship  # noqa: E402

ADMIN = "demo-admin-" + "0" * 21


def stage(title: str) -> None:
    print(f"\n=== {title}")


def post(url: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    conn.request("POST", path, body=json.dumps(body) if body else "", headers=headers)
    response = conn.getresponse()
    raw = response.read()
    return response.status, json.loads(raw) if raw else {}


class Load:
    """Four HTTP clients sending the rows of `x` in turn, one per request, counting answers per
    version (bounded in time)."""

    def __init__(self, url: str, x: np.ndarray, name: str) -> None:
        self.url, self.stop, self.lock = url, threading.Event(), threading.Lock()
        self.by_version: dict[str, int] = {}
        self.failed = 0
        self.bodies = [{"inputs": [{"name": name, "shape": [1, x.shape[1]], "datatype": "FP32",
                                    "data": row.tolist()}]} for row in x]
        self.threads = [threading.Thread(target=self._client) for _ in range(4)]
        for t in self.threads:
            t.start()

    def _client(self) -> None:
        deadline = time.monotonic() + 120
        sent = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            status, body = post(self.url, "/v2/models/digits/infer", self.bodies[sent % len(self.bodies)])
            sent += 1
            with self.lock:
                if status == 200:
                    self.by_version[body["model_version"]] = self.by_version.get(body["model_version"], 0) + 1
                else:
                    self.failed += 1

    def finish(self) -> dict[str, int]:
        self.stop.set()
        for t in self.threads:
            t.join()
        return dict(self.by_version)


def main() -> None:
    stage("1. Train two versions of the digits MLP")
    X_train, X_test, y_train, y_test = models.digits_split()
    v1 = mlship.load(models.train(models.DigitsMLP(), X_train, y_train, epochs=2), example_inputs=X_test[:1])
    v2 = mlship.load(models.train(models.DigitsMLP(), X_train, y_train, epochs=15), example_inputs=X_test[:1])
    for label, m in (("v1", v1), ("v2", v2)):
        print(f"{label}: accuracy {np.mean(m(X_test).argmax(1) == y_test):.3f}")

    stage("2. Add v1 to a repository, with golden outputs and metadata (every file hashed)")
    root = Path(tempfile.mkdtemp(prefix="mlship-demo-repo-"))
    repo = mlship.Repository(root)
    manifest = repo.add("digits", v1, aliases=["stable"], golden=X_test[:8], reference=X_train,
                        metadata={"epochs": 2, "accuracy": float(np.mean(v1(X_test).argmax(1) == y_test))})
    print(f"{root}/digits/{manifest['version']}: {', '.join(manifest['files'])}")
    print(f"sha256 of model.pt: {manifest['files']['model.pt']['sha256'][:16]}...")

    stage("3. Serve the repository (loopback; the repository endpoints need the admin token)")
    server = mlship.serve(root, port=0, admin_token=ADMIN)
    print(f"serving {[m['name'] for m in server.models()]} at {server.url}")

    stage("4. Add v2 and move the traffic to it while four clients keep sending")
    load = Load(server.url, X_test[:64], v1.signature.inputs[0].name)
    time.sleep(1.0)
    repo.add("digits", v2, golden=X_test[:8], metadata={"epochs": 15})
    status, _ = post(server.url, "/v2/repository/models/digits/load", token=ADMIN)
    print(f"POST /v2/repository/models/digits/load -> {status}: v2 loaded, warmed up, checked, switched in")
    time.sleep(1.0)
    default = next(m["default"] for m in server.models() if m["name"] == "digits")
    print(f"default version now {default}; stable alias still -> {repo.aliases('digits')['stable']}")

    stage("5. Roll back: point the default at the stable alias (v1), still under load")
    repo.set_settings("digits", default_version="stable")
    server.load("digits")
    time.sleep(1.0)
    counts = load.finish()
    default = next(m["default"] for m in server.models() if m["name"] == "digits")
    print(f"default version now {default}")
    print(f"answers by version: {counts}; failed requests: {load.failed}")
    text = server.metrics_text()
    swaps = [line for line in text.splitlines() if line.startswith("mlship_swaps_total")]
    print("swaps:", "; ".join(swaps))

    stage("6. Roll out a bad v3 under a guard: its shadow disagrees, the traffic goes back by itself")
    weak = models.train(models.DigitsMLP(), X_train[:60], y_train[:60], epochs=1)
    v3 = mlship.load(weak, example_inputs=X_test[:1])
    print(f"v3: accuracy {np.mean(v3(X_test).argmax(1) == y_test):.3f}")
    repo.add("digits", v3, metadata={"epochs": 1, "rows": 60})
    load = Load(server.url, X_test[:64], v1.signature.inputs[0].name)
    rollout = server.rollout("digits", "3", steps=[10, 50, 100], hold_s=5,
                             guard=mlship.Guard(max_divergence=0.05, max_error_rate=0.01, min_requests=50))
    print(f"started: {rollout}")
    status = rollout.wait(timeout=60, poll_s=0.2)
    counts = load.finish()
    print(f"{status['state']} at step {status['step']} ({status['weight']:g}%): {status['reason']}")
    print(f"answers by version: {counts}; failed requests: {load.failed}")
    print(f"stable alias -> {repo.aliases('digits')['stable']} (saved in the repository)")
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
    if load.failed:
        raise SystemExit(f"{load.failed} requests failed during the swaps")
    if status["state"] != "rolled_back":
        raise SystemExit(f"the guard should have rolled v3 back: {status}")


if __name__ == "__main__":
    main()
