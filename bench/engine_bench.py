"""Engine benchmark: a TorchScript module called from Python vs the same model in mlship.

Prints, side by side in one run, time per call at batch 1 and 32 and the
throughput of 8 Python threads, for the digits MLP (64-256-256-10) and a larger
MLP (784-2048-2048-10). Ratios are mlship / TorchScript for time (lower is
better) and mlship / TorchScript for throughput (higher is better). Rounds of A
and B alternate and the median is reported, so machine noise hits both alike.

    python bench/engine_bench.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import models  # noqa: E402

import mlship  # noqa: E402


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def interleaved(fns: dict[str, Callable[[], Any]], calls: int, rounds: int) -> dict[str, float]:
    """Median microseconds per call for each fn, alternating rounds."""
    for fn in fns.values():
        per_call_us(fn, max(10, calls // 10))  # warm-up
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(per_call_us(fn, calls))
    return {k: statistics.median(v) for k, v in samples.items()}


def threaded_throughput(fn: Callable[[], Any], threads: int, seconds: float, max_calls: int) -> float:
    """Calls per second of `threads` Python threads calling fn, bounded in time and count."""
    count = [0] * threads
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        barrier.wait()
        n = 0
        while not stop.is_set() and n < max_calls:
            fn()
            n += 1
        count[i] = n

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join(timeout=60)
    return sum(count) / (time.perf_counter() - start)


def bench_model(name: str, module: torch.nn.Module, in_features: int, quick: bool) -> list[dict[str, Any]]:
    module = module.eval()
    scripted = torch.jit.script(module).eval()
    model = mlship.load(module, example_inputs=torch.zeros(1, in_features))
    rows = []
    rng = np.random.default_rng(0)
    calls, rounds = (300, 3) if quick else (2000, 7)
    for batch in (1, 32):
        x = rng.random((batch, in_features), dtype=np.float32)
        xt = torch.from_numpy(x)
        c = calls if in_features < 500 else max(50, calls // 10)

        def ts_call() -> Any:
            with torch.inference_mode():
                return scripted(xt)

        times = interleaved({"torchscript": ts_call, "mlship": lambda: model(x), "mlship_torch": lambda: model(xt)},
                            c, rounds)
        rows.append({"model": name, "measure": f"batch {batch} (us/call)", "torchscript": times["torchscript"],
                     "mlship": times["mlship"], "mlship_torch_io": times["mlship_torch"],
                     "ratio": times["mlship"] / times["torchscript"], "better": "lower"})
    x = rng.random((1, in_features), dtype=np.float32)
    xt = torch.from_numpy(x)

    def ts_call1() -> Any:
        with torch.inference_mode():
            return scripted(xt)

    seconds = 1.0 if quick else 3.0
    ts_tput, ml_tput = [], []
    for _ in range(1 if quick else 3):
        ts_tput.append(threaded_throughput(ts_call1, 8, seconds, 200_000))
        ml_tput.append(threaded_throughput(lambda: model(x), 8, seconds, 200_000))
    ts, ml = statistics.median(ts_tput), statistics.median(ml_tput)
    rows.append({"model": name, "measure": "8 threads, batch 1 (calls/s)", "torchscript": ts, "mlship": ml,
                 "mlship_torch_io": float("nan"), "ratio": ml / ts, "better": "higher"})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"| {'model':<20} | {'measure':<28} | {'TorchScript':>12} | {'mlship':>12} | {'mlship/TS':>9} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['model']:<20} | {r['measure']:<28} | {r['torchscript']:>12.1f} | {r['mlship']:>12.1f} | "
              f"{r['ratio']:>8.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (for smoke tests)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.manual_seed(0)
    X_train, _, y_train, _ = models.digits_split()
    digits = models.train(models.DigitsMLP(), X_train, y_train, epochs=5)
    large = torch.nn.Sequential(torch.nn.Linear(784, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048),
                                torch.nn.ReLU(), torch.nn.Linear(2048, 10))
    print(f"mlship {mlship.__version__}, torch {torch.__version__}, intra-op threads {torch.get_num_threads()}")
    rows = bench_model("digits 64-256-256-10", digits, 64, args.quick)
    rows += bench_model("MLP 784-2048-2048-10", large, 784, args.quick)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
