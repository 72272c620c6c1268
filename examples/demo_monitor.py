"""mlship monitoring, end to end: serve with a reference, watch the figures, shift the inputs, get the alert.

Run with `python examples/demo_monitor.py` after `make build` (meant to become the last stage of
`make demo`). Each stage prints what it did.
"""

from __future__ import annotations

import concurrent.futures
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import models  # noqa: E402

import mlship  # noqa: E402


def stage(title: str) -> None:
    print(f"\n=== {title}")


def send(dep: mlship.Deployment, X: np.ndarray, rows_per_request: int = 4, clients: int = 8) -> None:
    starts = range(0, len(X), rows_per_request)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda s: dep.predict(X[s : s + rows_per_request]), starts))


def main() -> None:
    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=10)
    model = mlship.load(net, example_inputs=torch.zeros(1, 64))
    rng = np.random.default_rng(0)

    def on_alert(event: dict) -> None:
        print(f"ALERT ({event['kind']}): {event['message'][:300]}")

    stage("deploy with the training data as the drift reference")
    drift = mlship.DriftOptions(window=len(X_test), min_samples=300, check_interval_s=3600)  # checks run on demand here
    with mlship.deploy(model, name="digits", port=0, reference=X_train, drift=drift, on_alert=on_alert) as dep:
        print(f"dashboard: {dep.dashboard_url}   Prometheus: {dep.url}/metrics")

        stage("traffic that looks like the training data")
        send(dep, X_test[rng.permutation(len(X_test))])  # held-out rows, each once
        report = dep.check_drift()
        print(f"drift check on {report['window_rows']} rows: drifted features {report['drifted'] or 'none'}")
        print(f"predicted classes (the MLP is a classifier): PSI {report['prediction']['psi']:.3f} "
              f"against the classes it predicted on the reference")
        s = dep.stats()
        print(f"stats: {s['requests']} requests, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
              f"{s['throughput_rps']:.0f} req/s, mean batch {s['mean_batch_size']:.1f} rows")

        stage("the inputs shift: the top rows of every digit come in twice as bright (clipped)")
        shifted = X_test[rng.permutation(len(X_test))].copy()
        shifted[:, :16] = np.clip(shifted[:, :16] * 2.0, 0, 1)
        send(dep, shifted)
        report = dep.check_drift()
        print(f"drifted features: {report['drifted']}")
        print(f"predicted classes: PSI {report['prediction']['psi']:.3f}"
              f"{' (drifted)' if report['prediction']['drifted'] else ''}")
        m = dep.metrics()
        print(f"mlship_drift_alerts_total {m['mlship_drift_alerts_total']:.0f}; "
              f"requests ok {m['mlship_requests_succeeded_total']:.0f}")
        print(f"dashboard still live at {dep.dashboard_url} (for 3 more seconds)")
        time.sleep(3)


if __name__ == "__main__":
    main()
