"""`mlship tune` on a ResNet-style CNN and the digits MLP: every candidate's req/s, p50 and p99
in-process, the setting chosen, and its ratio to deploy()'s default setting (measured first,
in the same run). docs/benchmarks.md ("Self-tuning") holds the figures.

    .venv/bin/python bench/tune_bench.py [--budget-s 10] [--latency-budget-ms MS]
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
        extra = ["--latency-budget-ms", args.latency_budget_ms] if args.latency_budget_ms else []
        for name in ("cnn", "mlp"):
            print(f"== {name}: mlship tune --budget-s {args.budget_s} {' '.join(extra)}", flush=True)
            subprocess.run([sys.executable, "-m", "mlship", "tune", f"{work}/{name}.pt", "--budget-s", args.budget_s,
                            *extra], check=True)


if __name__ == "__main__":
    main()
