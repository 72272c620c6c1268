"""`mlship tune` on a ResNet-style CNN and the digits MLP: every candidate's req/s, p50 and p99
in-process, the setting chosen, and its ratio to deploy()'s default setting (measured first,
in the same run). docs/benchmarks.md ("Self-tuning") holds the figures.

``--defaults`` instead measures what ``deploy()`` does by default (``tune="auto"``) against
``tune=False`` on the same two models: the time to a ready deployment, the setting served, and
the req/s and p99 of each under the same closed loop of caller threads, side by side.

    .venv/bin/python bench/tune_bench.py [--budget-s 10] [--latency-budget-ms MS]
    .venv/bin/python bench/tune_bench.py --defaults [--seconds 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import architectures  # noqa: E402
import models  # noqa: E402

import mlship  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-s", default="10")
    parser.add_argument("--latency-budget-ms", default=None)
    parser.add_argument("--defaults", action="store_true", help="deploy()'s default (tune='auto') vs tune=False")
    parser.add_argument("--seconds", type=float, default=8.0, help="--defaults: load per setting, in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlship-tune-bench-") as work:
        torch.manual_seed(0)
        # The CNN and the MLP of bench/batching_bench.py.
        cnn = architectures.randomize_batch_norms(architectures.ResNetSmall()).eval()
        image = torch.from_numpy(np.random.default_rng(0).random((1, 1, 64, 64), dtype=np.float32))
        mlship.load(cnn, example_inputs=image).save(f"{work}/cnn.pt")
        X_train, _, y_train, _ = models.digits_split()
        mlp = models.train(models.DigitsMLP(), X_train, y_train, epochs=2).eval()
        mlship.load(mlp, example_inputs=torch.zeros(1, 64)).save(f"{work}/mlp.pt")
        if args.defaults:
            defaults(work, args.seconds)
            return
        extra = ["--latency-budget-ms", args.latency_budget_ms] if args.latency_budget_ms else []
        for name in ("cnn", "mlp"):
            print(f"== {name}: mlship tune --budget-s {args.budget_s} {' '.join(extra)}", flush=True)
            subprocess.run([sys.executable, "-m", "mlship", "tune", f"{work}/{name}.pt", "--budget-s", args.budget_s,
                            *extra], check=True)


def defaults(work: str, seconds: float) -> None:
    """deploy(model) (tune="auto") against deploy(model, tune=False): ready time, setting, and
    the closed-loop req/s and p99 of each setting, measured one after the other in this run."""
    import time

    from mlship._tune import TUNED_KEYS, example_request, measure_in_process

    header = f"{'model':5}  {'deploy':13}  {'ready s':>7}  {'setting':9}  {'req/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}  ratio"
    print(header, flush=True)
    notes = []
    for name in ("cnn", "mlp"):
        model = mlship.load(f"{work}/{name}.pt")
        inputs = example_request(model)
        rows = []
        for label, tune in (("tune=False", False), ("default auto", "auto")):
            started = time.perf_counter()
            dep = mlship.deploy(model, http=False, monitoring=False, tune=tune)
            ready = time.perf_counter() - started
            setting = {k: dep.settings[k] for k in TUNED_KEYS}
            dep.stop()
            if tune == "auto":
                notes.append(f"{name}: {dep.tuning_note}")
            figures = measure_in_process(model, inputs, setting, 32, seconds)
            rows.append((label, ready, setting, figures))
        base = rows[0][3]["requests_per_s"]
        for label, ready, setting, f in rows:
            shown = f"{setting['instances']}x{setting['intra_op_threads'] or 'auto'} b{setting['max_batch_size']}"
            print(f"{name:5}  {label:13}  {ready:7.2f}  {shown:9}  {f['requests_per_s']:7.1f}  {f['p50_ms']:7.2f}  "
                  f"{f['p99_ms']:7.2f}  {f['requests_per_s'] / base:.2f}x", flush=True)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
