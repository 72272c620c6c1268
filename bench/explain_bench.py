"""Explanations: mlship's C++ engine against the reference implementations, and what an
explanation flood does to inference latency. Same models, same inputs, same run.

1. Integrated gradients (32 steps, zero baseline, predicted class) on the digits MLP and CNN:
   mlship.explain vs Captum's IntegratedGradients, time per explanation of a batch.
2. KernelSHAP on a breast-cancer MLP (30 features, 10 background rows, 2 * 30 + 2048
   coalitions, l1_reg off): mlship.explain vs shap's KernelExplainer, time per row.
3. Inference p50/p99 over HTTP (wrk, concurrency 8, one row per request) on the digits MLP,
   without and with an explanation flood (threads calling Deployment.explain back to back).
   Target (issue 19): the flood raises p99 by at most 20%. Rounds alternate quiet/flooded so
   a noisy neighbour hits both alike; medians of the rounds are reported.

    python bench/explain_bench.py [--quick] [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

import models  # noqa: E402
from serve_bench import request_body, wrk  # noqa: E402

import mlship  # noqa: E402


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (TorchScript profiling, allocations)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def integrated_gradients(repeats: int) -> list[tuple[str, float, float]]:
    from captum.attr import IntegratedGradients

    X_train, X_test, y_train, _ = models.digits_split()
    rows = []
    for name, net, reshape in (
        ("MLP", models.train(models.DigitsMLP(), X_train, y_train, epochs=3), lambda x: x),
        ("CNN", models.train(models.DigitsCNN(), X_train, y_train, epochs=2, reshape=models.as_image),
         models.as_image),
    ):
        net = net.eval()
        x = reshape(torch.from_numpy(X_test[:16]))
        model = mlship.load(net, example_inputs=x[:1])
        target = net(x).argmax(1)
        ig = IntegratedGradients(net)
        ours = _median_seconds(lambda: mlship.explain(model, x, method="integrated_gradients", steps=32), repeats)
        theirs = _median_seconds(lambda: ig.attribute(x, target=target, n_steps=32), repeats)
        rows.append((f"IG 32 steps, {name}, 16 rows", ours, theirs))
    return rows


def kernel_shap(rows_explained: int) -> tuple[str, float, float]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).eval()
    model = mlship.load(net, example_inputs=torch.from_numpy(X[:1]))
    background, rows = X[:10], X[200:200 + rows_explained]

    def f(a):
        with torch.no_grad():
            return net(torch.from_numpy(a.astype(np.float32)))[:, 1].numpy()

    explainer = shap.KernelExplainer(f, background)
    start = time.perf_counter()
    mlship.explain(model, rows, method="kernel_shap", baseline=background, target=1)
    ours = (time.perf_counter() - start) / len(rows)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer.shap_values(rows, nsamples=2 * 30 + 2048, l1_reg=False, silent=True)
    theirs = (time.perf_counter() - start) / len(rows)
    return ("KernelSHAP, 30 features, 10 background rows, per row", ours, theirs)


def flood_latency(rounds: int, seconds: float, flooders: int) -> dict[str, dict[str, float]]:
    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=3).eval()
    model = mlship.load(net, example_inputs=torch.zeros(1, 64))
    work = Path(tempfile.mkdtemp(prefix="mlship-explain-bench-"))
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{request_body(X_test[:1], 'x')}]==]\n")
    figures: dict[str, dict[str, list[float]]] = {m: {"p50_ms": [], "p99_ms": [], "rps": []} for m in ("quiet", "flood")}
    explained = [0]
    with mlship.deploy(model, name="digits", port=0) as dep:
        x = X_test[:32]
        wrk(dep.port, lua, 8, 1.0, "/v2/models/digits/infer")  # warm-up
        for _ in range(rounds):
            for mode in ("quiet", "flood"):
                stop = threading.Event()

                def explain_loop():
                    while not stop.is_set():
                        try:
                            dep.explain(x, method="integrated_gradients", steps=32)
                            explained[0] += 1
                        except mlship.OverloadedError:
                            time.sleep(0.01)  # the queue is full: back off (the flooders are clients)

                threads = [threading.Thread(target=explain_loop) for _ in range(flooders if mode == "flood" else 0)]
                for t in threads:
                    t.start()
                try:
                    r = wrk(dep.port, lua, 8, seconds, "/v2/models/digits/infer")
                finally:
                    stop.set()
                    for t in threads:
                        t.join(timeout=60)
                for k in figures[mode]:
                    figures[mode][k].append(r[k])
    shutil.rmtree(work, ignore_errors=True)
    out = {m: {k: statistics.median(v) for k, v in f.items()} for m, f in figures.items()}
    out["flood"]["explanations"] = explained[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, noisy figures)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--flooders", type=int, default=4, help="threads calling Deployment.explain")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    torch.set_num_threads(1)  # the reference libraries and mlship on one core each: the same footing
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with other builds)")

    print("\n| explanation | mlship (ms) | reference (ms) | reference / mlship |")
    print("|---|---:|---:|---:|")
    for label, ours, theirs in [*integrated_gradients(3 if args.quick else 10),
                                kernel_shap(2 if args.quick else 5)]:
        ref = "Captum" if label.startswith("IG") else "shap"
        print(f"| {label} ({ref}) | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | {theirs / ours:.1f}x |")

    if shutil.which("wrk") is None:
        sys.exit("the latency part needs wrk (apt-get install wrk)")
    f = flood_latency(rounds, seconds, args.flooders)
    print(f"\nInference over HTTP (wrk -c8, one row), {rounds} round(s) of {seconds:g} s, median; "
          f"flood = {args.flooders} threads of Deployment.explain (IG, 32 rows x 32 steps), "
          f"{f['flood']['explanations']} explanations answered")
    print("\n| | quiet | explain flood | flood / quiet |")
    print("|---|---:|---:|---:|")
    for k, label in (("p50_ms", "p50 (ms)"), ("p99_ms", "p99 (ms)"), ("rps", "requests/s")):
        print(f"| {label} | {f['quiet'][k]:.3f} | {f['flood'][k]:.3f} | {f['flood'][k] / f['quiet'][k]:.2f}x |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
