"""Optimization benchmark: what each mlship.optimize technique buys and costs.

For the digits MLP (64-256-256-10) and a Linear-heavy MLP (784-2048-2048-10, trained on
digits upsampled to 28x28), builds every candidate with mlship.optimize, then times all of
them again in interleaved rounds (so machine noise hits each alike) and prints one row per
technique: size on disk, batch-1 and batch-32 latency as ratios to fp32 measured in the same
run, and accuracy. It ends with the int8 targets for the Linear-heavy model
(size <= 0.3x, batch-1 latency <= 0.6x, accuracy drop <= 0.5 points).

    python bench/optimize_bench.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import models  # noqa: E402

import mlship  # noqa: E402


def upsample(X: np.ndarray) -> np.ndarray:
    """8x8 digits -> 28x28 (bilinear), flattened to 784 features."""
    images = torch.from_numpy(X).reshape(-1, 1, 8, 8)
    return torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear").reshape(-1, 784).numpy()


def large_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(784, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048),
                               torch.nn.ReLU(), torch.nn.Linear(2048, 10))


def per_call_ms(model: mlship.Model, x: np.ndarray, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        model(x)
    return (time.perf_counter() - start) / calls * 1e3


def interleaved_ms(models_by_name: dict[str, mlship.Model], x: np.ndarray, calls: int, rounds: int) -> dict[str, float]:
    """Median ms per call for each model over `rounds` rounds that alternate between models."""
    for m in models_by_name.values():
        per_call_ms(m, x, max(3, calls // 5))  # warm-up
    samples: dict[str, list[float]] = {k: [] for k in models_by_name}
    for _ in range(rounds):
        for name, m in models_by_name.items():
            samples[name].append(per_call_ms(m, x, calls))
    return {k: statistics.median(v) for k, v in samples.items()}


def bench(title: str, module: torch.nn.Module, X_test: np.ndarray, y_test: np.ndarray, quick: bool) -> dict[str, Any]:
    model = mlship.load(module, example_inputs=X_test[:1])
    report = mlship.optimize(model, validation=(X_test, y_test), max_drop=0.01, progress=True,
                             latency_runs=10 if quick else 30)
    built = {c.method: c.model for c in report.candidates if c.model is not None}
    one = interleaved_ms(built, X_test[:1], calls=20 if quick else 100, rounds=3 if quick else 7)
    many = interleaved_ms(built, X_test[:32], calls=5 if quick else 20, rounds=3 if quick else 7)
    rows = []
    base = report.candidates[0]
    for c in report.candidates:
        if c.model is None:
            rows.append({"method": c.method, "note": c.note})
            continue
        rows.append({
            "method": c.method,
            "size_mb": c.size_bytes / 1e6,
            "size_x": c.size_bytes / base.size_bytes,
            "b1_ms": one[c.method],
            "b1_x": one[c.method] / one["original"],
            "b32_ms": many[c.method],
            "b32_x": many[c.method] / many["original"],
            "accuracy": c.metric,
            "drop_points": 100 * c.drop,
            "note": c.note,
        })
    print(f"\n## {title}  (fp32: {base.size_bytes / 1e6:.2f} MB, batch 1 {one['original']:.3f} ms, "
          f"batch 32 {many['original']:.3f} ms)")
    print(f"{'technique':<15}{'size x':>8}{'b1 x':>8}{'b32 x':>8}{'accuracy':>10}{'drop pts':>10}  note")
    for r in rows:
        if "size_x" not in r:
            print(f"{r['method']:<15}{'-':>8}{'-':>8}{'-':>8}{'-':>10}{'-':>10}  {r['note']}")
            continue
        print(f"{r['method']:<15}{r['size_x']:>8.2f}{r['b1_x']:>8.2f}{r['b32_x']:>8.2f}{r['accuracy']:>10.4f}"
              f"{r['drop_points']:>10.2f}  {r['note']}")
    print(f"mlship.optimize picked: {report.best_method} ({report.reason})")
    return {"title": title, "rows": rows, "best": report.best_method, "cpu": report.cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timing rounds")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.manual_seed(0)
    X_train, X_test, y_train, y_test = models.digits_split()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
          f"cpu: {mlship._core.half_precision_support()}; "
          f"torch dynamic int8 kernel: {mlship._core.torch_has_dynamic_int8_kernel()}")
    results = []
    small = models.train(models.DigitsMLP(), X_train, y_train, epochs=15)
    results.append(bench("digits MLP 64-256-256-10", small, X_test, y_test, args.quick))
    big = models.train(large_mlp(), upsample(X_train), y_train, epochs=3 if args.quick else 6, lr=1e-3)
    large = bench("Linear-heavy MLP 784-2048-2048-10 (digits upsampled to 28x28)", big, upsample(X_test), y_test,
                  args.quick)
    results.append(large)
    int8 = next(r for r in large["rows"] if r["method"] == "int8")
    checks = [("size <= 0.3x fp32", int8["size_x"] <= 0.3, f"{int8['size_x']:.2f}x"),
              ("batch-1 latency <= 0.6x fp32", int8["b1_x"] <= 0.6, f"{int8['b1_x']:.2f}x"),
              ("accuracy drop <= 0.5 points", int8["drop_points"] <= 0.5, f"{int8['drop_points']:.2f} points")]
    print("\nint8 targets on the Linear-heavy model:")
    for label, ok, value in checks:
        print(f"  {'met ' if ok else 'MISS'} {label}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
