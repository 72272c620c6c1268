"""Serving benchmark: mlship vs FastAPI (gunicorn+uvicorn workers) vs Flask+gunicorn on the same model.

All three serve the digits MLP (64-256-256-10) from one TorchScript file and speak the same
KServe v2 JSON. `wrk` (Debian) drives each at concurrency 1, 8, 32 and 64, in one run, with
one row per request; at each concurrency the three are measured in turn, each running alone.
Beside them, the HTTP stack's own ceiling: `mlship-bare-http`, a bare Boost.Beast server of the
same build that parses the same JSON and answers a fixed response with no model.
Printed: requests/s, p50 and p99 latency, and mlship's ratios (and its share of the ceiling). Then
mlship over gRPC (a grpc.aio client, bench/grpc_load.py) vs mlship over HTTP binary and JSON at
concurrency 1, 8 and 32 against one server (bench/grpc_bench.py). Then the in-process throughput
of 16 Python threads calling `dep.predict` vs the same threads calling the TorchScript module
(and calling the mlship.Model directly, with no batcher), the same at 1, 2 and 4 threads,
mlship's throughput with monitoring off vs on (interleaved rounds, see monitor_bench.py), and
the mlship server's memory after ~10k and ~500k requests.

The baselines are what a careful user writes: 2 workers (2 cores), one torch thread each,
the model loaded once per worker, `no_grad`. wrk runs on the same 2-core machine, so absolute
numbers are low; compare the ratios.

    python bench/serve_bench.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import models  # noqa: E402
from engine_bench import threaded_throughput  # noqa: E402

import mlship  # noqa: E402

PATH = "/v2/models/digits/infer"
CONCURRENCY = (1, 8, 32, 64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_body(x: np.ndarray, name: str) -> str:
    return json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "data": [round(float(v), 6) for v in x.ravel()]}]})


def wait_until_serving(port: int, body: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer within {seconds} s")


def bare_http_executable() -> Path | None:
    """The bare Beast server of the build tree (bench/bare_http), if it was built."""
    path = ROOT / "build" / "py" / "bench" / "bare_http" / "mlship-bare-http"
    return path if path.exists() else None


class Server:
    """A server in a subprocess, stopped with SIGTERM (then killed) on exit."""

    def __init__(self, label: str, cmd: list[str], port: int, body: str, env: dict[str, str], cwd: Path) -> None:
        self.label, self.port = label, port
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until_serving(port, body, self.proc)

    def rss_mib(self) -> float:
        """Resident memory of the server's whole process group (workers included)."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/status") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
        return total / 1024

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(port: int, lua: Path, connections: int, seconds: float, path: str = PATH) -> dict[str, float]:
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(lua),
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "mean_ms": _ms(re.search(r"^\s+Latency\s+(\S+)", out, re.M).group(1)),
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, noisy figures)")
    parser.add_argument("--seconds", type=float, default=None, help="wrk duration per cell (default 8, quick 2)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    seconds = args.seconds or (2 if args.quick else 8)
    if shutil.which("wrk") is None:
        sys.exit("serve_bench needs wrk (apt-get install wrk; `make bench` installs it)")

    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=5).eval()
    work = Path(tempfile.mkdtemp(prefix="mlship-serve-bench-"))
    model_path = work / "digits.pt"
    scripted = torch.jit.script(net)
    scripted.save(str(model_path))
    mlship.load(scripted, example_inputs=torch.zeros(1, 64)).save(str(work / "digits-mlship.pt"))
    name = mlship.load(str(work / "digits-mlship.pt")).signature.inputs[0].name
    body = request_body(X_test[:1], name)
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{body}]==]\n")

    env = dict(os.environ, MLSHIP_BENCH_MODEL=str(model_path))
    bin_dir = Path(sys.executable).parent
    baselines = ROOT / "bench" / "baselines"
    servers: dict[str, Callable[[int], list[str]]] = {
        "mlship": lambda p: [sys.executable, "-m", "mlship", "serve", str(work / "digits-mlship.pt"), "--name",
                             "digits", "--port", str(p), "--max-batch-size", "32"],
        # gunicorn with uvicorn workers, FastAPI's usual production setup. `uvicorn --workers 2`
        # stalls every request for ~44 ms under wrk on this machine (with 1 worker it does not),
        # which would make the baseline look 20x slower than it is.
        "fastapi": lambda p: [str(bin_dir / "gunicorn"), "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b",
                              f"127.0.0.1:{p}", "--log-level", "warning", "fastapi_app:app"],
        "flask": lambda p: [str(bin_dir / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{p}", "--log-level", "warning",
                            "flask_app:app"],
    }
    # The HTTP stack's own limit: a bare Beast server of this build that parses the same
    # request and answers a fixed response with no model (bench/bare_http).
    bare = bare_http_executable()
    if bare is not None:
        servers["ceiling"] = lambda p: [str(bare), "--port", str(p), "--threads", "2"]
    else:
        print("(no ceiling row: build/py/bench/bare_http/mlship-bare-http is missing; `make build` makes it)")
    figures: dict[str, Any] = {"http": {}, "seconds_per_cell": seconds}
    print(f"HTTP, one row per request, wrk {seconds:g} s per cell, {os.cpu_count()} cores shared with wrk\n")
    # Each concurrency is measured for the three servers back to back, so a slow spell of the
    # host lands on one cell of each rather than on all of one server's cells. Each server runs
    # alone: it is started for its cell and stopped after. (With all three running side by side,
    # mlship read about 12% lower at concurrency 32 in three runs: docs/benchmarks.md.)
    for label in servers:
        figures["http"][label] = {}
    for c in CONCURRENCY:
        for label, cmd in servers.items():
            port = free_port()
            server = Server(label, cmd(port), port, body, env, baselines)
            try:
                wrk(port, lua, 8, 1)  # warm-up
                figures["http"][label][c] = wrk(port, lua, c, seconds)
            finally:
                server.stop()

    http = figures["http"]
    header = f"{'conc':>4} | {'server':<8} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} | " \
             f"{'mlship req/s ÷':>15} | {'p99 ÷ mlship':>12}"
    print(header)
    print("-" * len(header))
    for c in CONCURRENCY:
        m = http["mlship"][c]
        for label in servers:
            r = http[label][c]
            speedup = "" if label == "mlship" else f"{m['rps'] / r['rps']:.1f}x"
            tail = "" if label == "mlship" else f"{r['p99_ms'] / m['p99_ms']:.1f}x"
            print(f"{c:>4} | {label:<8} | {r['rps']:>9.0f} | {r['p50_ms']:>7.2f} | {r['p99_ms']:>7.2f} | "
                  f"{r['errors']:>6} | {speedup:>15} | {tail:>12}")
    if "ceiling" in http:
        print("\n'ceiling' is a bare Boost.Beast server that parses the same KServe v2 JSON and answers a fixed "
              "response with no model; mlship's share of it (target >= 70% at 32 and 64): " +
              ", ".join(f"c{c} {http['mlship'][c]['rps'] / http['ceiling'][c]['rps']:.0%}" for c in CONCURRENCY))
    m32, f32, k32 = http["mlship"][32], http["fastapi"][32], http["flask"][32]
    print(f"\ntargets at concurrency 32: mlship/FastAPI req/s {m32['rps'] / f32['rps']:.1f}x (>= 5), "
          f"mlship/Flask {m32['rps'] / k32['rps']:.1f}x (>= 8), p99 mlship {m32['p99_ms']:.2f} ms vs FastAPI "
          f"{f32['p99_ms']:.2f} ms (<=)")

    # mlship over gRPC vs over HTTP (binary and JSON), one server, same run (bench/grpc_bench.py).
    from grpc_bench import grpc_vs_http

    figures["grpc"] = grpc_vs_http(work / "digits-mlship.pt", X_test[:1], name, seconds, work)

    # Monitoring off vs on (issue 5), interleaved rounds in this process.
    from monitor_bench import monitoring_cost, print_monitoring_cost

    rounds, mon_seconds = (3, 2) if args.quick else (5, 4)
    print("\nmonitoring cost, interleaved rounds:")
    medians = monitoring_cost(mlship.load(str(work / "digits-mlship.pt")), X_train, body, rounds, mon_seconds, 32)
    figures["monitoring"] = medians
    print_monitoring_cost(medians, rounds, mon_seconds, 32)

    # In-process: 16 Python threads, one row per call.
    module = torch.jit.load(str(model_path)).eval()
    row_t = torch.from_numpy(X_test[:1])
    row_np = X_test[:1]

    def plain() -> None:
        with torch.no_grad():
            module(row_t)

    in_seconds = 1.5 if args.quick else 4
    direct_model = mlship.load(str(work / "digits-mlship.pt"))
    with mlship.deploy(str(work / "digits-mlship.pt"), http=False) as dep:
        rounds = {"torchscript": [], "mlship": [], "direct": []}
        # Warm-up, not counted: each calling thread's first parallel region starts its own OpenMP team.
        threaded_throughput(plain, 16, 1, 2_000_000)
        threaded_throughput(lambda: dep.predict(row_np), 16, 1, 2_000_000)
        threaded_throughput(lambda: direct_model(row_np), 16, 1, 2_000_000)
        for _ in range(3):
            rounds["torchscript"].append(threaded_throughput(plain, 16, in_seconds, 2_000_000))
            rounds["mlship"].append(threaded_throughput(lambda: dep.predict(row_np), 16, in_seconds, 2_000_000))
            # No batcher at all: each thread runs its own batch of one (mlship.Model, GIL released).
            rounds["direct"].append(threaded_throughput(lambda: direct_model(row_np), 16, in_seconds, 2_000_000))
        # Other thread counts, one round each: one thread shows the per-call latency (the
        # caller runs its own batch), two is where batching has least to offer.
        sweep = {n: (threaded_throughput(plain, n, in_seconds / 2, 2_000_000),
                     threaded_throughput(lambda: dep.predict(row_np), n, in_seconds / 2, 2_000_000))
                 for n in (1, 2, 4)}
    ts, ms = statistics.median(rounds["torchscript"]), statistics.median(rounds["mlship"])
    direct = statistics.median(rounds["direct"])
    # A ceiling for any in-process server: the same threads doing nothing but letting go of the
    # GIL and taking it back (time.sleep(0)), with no work and no hand-off to another thread.
    gil = threaded_throughput(lambda: time.sleep(0), 16, in_seconds, 5_000_000)
    figures["in_process"] = {"torchscript_calls_per_s": ts, "mlship_calls_per_s": ms, "gil_cycle_per_s": gil,
                             "mlship_model_direct_calls_per_s": direct,
                             "sweep": {n: {"torchscript": t, "mlship": m} for n, (t, m) in sweep.items()}}
    print(f"\nin-process, 16 Python threads, one row per call (median of 3 rounds):\n"
          f"  TorchScript module {ts:>9.0f} calls/s\n  mlship dep.predict {ms:>9.0f} calls/s   "
          f"ratio {ms / ts:.1f}x (target >= 5)\n"
          f"  mlship model(x)    {direct:>9.0f} calls/s   ratio {direct / ts:.1f}x (no batcher: each thread runs its own row)\n"
          f"  GIL release+retake {gil:>9.0f} calls/s   (ceiling: no work, no hand-off; {gil / ts:.1f}x TorchScript)")
    print("\nin-process, other thread counts (one round each):")
    print(f"  {'threads':>7} | {'TorchScript calls/s':>19} | {'mlship calls/s':>14} | {'ratio':>5} | {'mlship us/call/thread':>21}")
    for n, (t, m) in sweep.items():
        print(f"  {n:>7} | {t:>19.0f} | {m:>14.0f} | {m / t:>4.1f}x | {n / m * 1e6:>21.1f}")

    # Memory: a fresh mlship server, RSS after ~10k and after ~500k requests.
    port = free_port()
    server = Server("mlship", servers["mlship"](port), port, body, env, baselines)
    try:
        sent, marks = 0, {}
        deadline = time.monotonic() + (60 if args.quick else 300)
        for goal in (10_000, 50_000 if args.quick else 500_000):
            while sent < goal and time.monotonic() < deadline:
                sent += wrk(port, lua, 32, 1 if goal <= 10_000 else 5)["requests"]
            marks[sent] = server.rss_mib()
    finally:
        server.stop()
    (n1, rss1), (n2, rss2) = marks.items()
    figures["memory"] = {"after": {n1: rss1, n2: rss2}}
    print(f"\nmlship server memory: {rss1:.1f} MiB after {n1} requests, {rss2:.1f} MiB after {n2} "
          f"({(rss2 / rss1 - 1) * 100:+.1f}%, target < +10%)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
