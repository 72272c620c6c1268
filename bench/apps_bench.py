"""Apps benchmark: the FastAPI and Flask examples (mlship in-process) against the same apps calling
the TorchScript module directly, same run, same wrk load.

Five servers, each under gunicorn with 2 workers (2 cores), serving the digits MLP
(64-256-256-10) at `POST /predict` with the same JSON in and out:

- fastapi + mlship:      examples/fastapi_app.py (`await dep.apredict(x)`, uvicorn workers)
- fastapi + torchscript: bench/baselines/fastapi_direct_app.py (`def` handler in the thread pool)
- fastapi + mlship-sync: bench/baselines/fastapi_mlship_sync_app.py, the example with a `def`
                         handler calling `dep.predict` (thread pool) instead of `await dep.apredict`
- flask + mlship:        examples/flask_app.py (`dep.predict(x)`, gthread workers, 8 threads)
- flask + torchscript:   bench/baselines/flask_direct_app.py (gthread workers, 8 threads)

At each concurrency the five are measured in turn, each running alone. wrk runs on the same
machine, so absolute figures are low; compare the ratios.

    python bench/apps_bench.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import models  # noqa: E402
import serve_bench  # noqa: E402
from serve_bench import Server, free_port, wrk  # noqa: E402

import mlship  # noqa: E402

CONCURRENCY = (1, 8, 32)
# serve_bench's helpers (Server's readiness probe, wrk) read this module global when called.
serve_bench.PATH = "/predict"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, noisy figures)")
    parser.add_argument("--seconds", type=float, default=None, help="wrk duration per cell (default 8, quick 2)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    seconds = args.seconds or (2 if args.quick else 8)
    if shutil.which("wrk") is None:
        sys.exit("apps_bench needs wrk (apt-get install wrk; `make bench` installs it)")

    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=5).eval()
    work = Path(tempfile.mkdtemp(prefix="mlship-apps-bench-"))
    torch.jit.script(net).save(str(work / "digits.pt"))
    mlship.load(net, example_inputs=torch.zeros(1, 64)).save(str(work / "digits-mlship.pt"))
    body = json.dumps({"inputs": [[round(float(v), 6) for v in X_test[0]]]})
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{body}]==]\n")
    env = dict(os.environ, MLSHIP_MODEL=str(work / "digits-mlship.pt"), MLSHIP_BENCH_MODEL=str(work / "digits.pt"))
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    uvicorn_workers = [gunicorn, "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "--log-level", "warning"]
    thread_workers = [gunicorn, "-w", "2", "--threads", "8", "--log-level", "warning"]
    apps = {
        ("fastapi", "mlship"): (uvicorn_workers, "fastapi_app:app", ROOT / "examples"),
        ("fastapi", "torchscript"): (uvicorn_workers, "fastapi_direct_app:app", ROOT / "bench" / "baselines"),
        # Not a baseline: the example with `def` + dep.predict instead of `await dep.apredict`.
        ("fastapi", "mlship-sync"): (uvicorn_workers, "fastapi_mlship_sync_app:app", ROOT / "bench" / "baselines"),
        ("flask", "mlship"): (thread_workers, "flask_app:create_app()", ROOT / "examples"),
        ("flask", "torchscript"): (thread_workers, "flask_direct_app:app", ROOT / "bench" / "baselines"),
    }
    figures: dict[str, dict[int, dict[str, float]]] = {f"{a}+{b}": {} for a, b in apps}
    print(f"POST /predict, one row per request, wrk {seconds:g} s per cell, gunicorn 2 workers, "
          f"{os.cpu_count()} cores shared with wrk\n")
    for c in CONCURRENCY:
        for (framework, backend), (cmd, target, cwd) in apps.items():
            port = free_port()
            server = Server(f"{framework}+{backend}", [*cmd, "-b", f"127.0.0.1:{port}", target], port, body, env, cwd)
            try:
                wrk(port, lua, 8, 1)  # warm-up
                figures[f"{framework}+{backend}"][c] = wrk(port, lua, c, seconds)
            finally:
                server.stop()

    header = (f"{'conc':>4} | {'app':<8} | {'model called by':<15} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | "
              f"{'errors':>6} | {'mlship ÷ direct req/s':>21}")
    print(header)
    print("-" * len(header))
    for c in CONCURRENCY:
        for framework in ("fastapi", "flask"):
            m, d = figures[f"{framework}+mlship"][c], figures[f"{framework}+torchscript"][c]
            rows = [("mlship", m), ("torchscript", d)]
            if f"{framework}+mlship-sync" in figures:
                rows.insert(1, ("mlship-sync", figures[f"{framework}+mlship-sync"][c]))
            for backend, r in rows:
                ratio = f"{r['rps'] / d['rps']:.2f}x" if backend != "torchscript" else ""
                print(f"{c:>4} | {framework:<8} | {backend:<15} | {r['rps']:>8.0f} | {r['p50_ms']:>7.2f} | "
                      f"{r['p99_ms']:>7.2f} | {r['errors']:>6} | {ratio:>21}")
    if args.json:
        args.json.write_text(json.dumps({"seconds_per_cell": seconds, "http": figures}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
