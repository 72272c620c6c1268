"""Lifecycle benchmark: latency through a hot swap, memory over load/unload cycles, and one
model's latency while another floods the shared workers.

The digits MLP is served from a repository by the Python-free `mlship-server`, under `wrk`:

1. Swap. In one-second slices (before, during, after), the same run with and without a swap in
   the middle slice: a new version is added to the repository, then
   `POST /v2/repository/models/digits/load` loads, warms, checks and switches to it while wrk
   keeps sending. Rounds alternate swap / no swap; medians are printed.
   Target: p99 during a swap within 2x of the same slice with no swap.
2. Memory. The server's resident set after 100 unload/load cycles of the model, against after
   the first load. Target: growth under 10%.
3. Sharing. A second model's latency (sequential requests) with the server idle, and while wrk
   floods the first model at concurrency 32 on the same shared workers.

    python bench/lifecycle_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import models  # noqa: E402
from serve_bench import Server, free_port, request_body, wrk  # noqa: E402

import mlship  # noqa: E402
from mlship._cli import server_executable  # noqa: E402

ADMIN = "admin-" + "x" * 26


def post(port: int, path: str, body: str = "", token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def sliced_run(port: int, lua: Path, slice_s: float, swap: Any) -> dict[str, dict[str, float]]:
    """wrk in three back-to-back slices; `swap` (or None) runs at the start of the middle one."""
    out: dict[str, dict[str, float]] = {"before": wrk(port, lua, 32, slice_s)}
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(wrk(port, lua, 32, slice_s)))
    runner.start()
    time.sleep(0.2)  # wrk is sending
    swap_s = None
    if swap is not None:
        started = time.monotonic()
        swap()
        swap_s = time.monotonic() - started
    runner.join()
    out["during"] = dict(result)
    out["after"] = wrk(port, lua, 32, slice_s)
    if swap_s is not None:
        out["during"]["swap_s"] = swap_s
    return out


def sequential_latency_ms(port: int, path: str, body: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and cycles (a smoke test)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("lifecycle_bench needs wrk (apt-get install wrk; `make bench` installs it)")
    rounds, cycles, slice_s = (2, 20, 1.0) if args.quick else (5, 100, 1.0)

    X_train, X_test, y_train, _ = models.digits_split()
    versions = []
    for seed in range(rounds + 1):
        torch.manual_seed(seed)
        net = models.train(models.DigitsMLP(), X_train, y_train, epochs=2).eval()
        versions.append(mlship.load(net, example_inputs=torch.zeros(1, 64)))
    work = Path(tempfile.mkdtemp(prefix="mlship-lifecycle-bench-"))
    repo = mlship.Repository(work / "models")
    repo.add("digits", versions[0])
    repo.add("quiet", versions[0])
    name = versions[0].signature.inputs[0].name
    body = request_body(X_test[:1], name)
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{body}]==]\n")
    port = free_port()
    env = dict(os.environ, MLSHIP_ADMIN_TOKEN=ADMIN)
    server = Server("mlship", [str(server_executable()), "--repository", str(repo.root), "--port", str(port)],
                    port, body, env, ROOT)
    figures: dict[str, Any] = {"swap": [], "no_swap": []}
    try:
        wrk(port, lua, 8, 1)  # warm-up

        # ---- 1. p50/p99 around a swap, against the same slices without one.
        next_version = iter(versions[1:])

        def swap() -> None:
            status, text = post(port, "/v2/repository/models/digits/load", token=ADMIN)
            assert status == 200, text

        for _ in range(rounds):
            figures["no_swap"].append(sliced_run(port, lua, slice_s, None))
            repo.add("digits", next(next_version))  # on disk before the slices start
            figures["swap"].append(sliced_run(port, lua, slice_s, swap))
        print(f"Swap under wrk -c32 (digits MLP, mlship-server, {os.cpu_count()} cores shared with wrk; "
              f"median of {rounds} rounds of {slice_s:g} s slices)\n")
        header = f"{'slice':<7} | {'no swap p50':>11} | {'no swap p99':>11} | {'swap p50':>8} | {'swap p99':>8} | " \
                 f"{'p99 swap ÷ none':>15} | {'errors swap/none':>16}"
        print(header)
        print("-" * len(header))
        for slice_name in ("before", "during", "after"):
            def med(kind: str, key: str) -> float:
                return statistics.median(r[slice_name][key] for r in figures[kind])
            errors = {kind: sum(r[slice_name]["errors"] for r in figures[kind]) for kind in ("swap", "no_swap")}
            print(f"{slice_name:<7} | {med('no_swap', 'p50_ms'):>11.2f} | {med('no_swap', 'p99_ms'):>11.2f} | "
                  f"{med('swap', 'p50_ms'):>8.2f} | {med('swap', 'p99_ms'):>8.2f} | "
                  f"{med('swap', 'p99_ms') / med('no_swap', 'p99_ms'):>14.2f}x | "
                  f"{str(errors['swap']) + '/' + str(errors['no_swap']):>16}")
        during = statistics.median(r["during"]["p99_ms"] for r in figures["swap"])
        steady = statistics.median(r["during"]["p99_ms"] for r in figures["no_swap"])
        swap_s = statistics.median(r["during"]["swap_s"] for r in figures["swap"])
        print(f"\ntarget: p99 during a swap {during:.2f} ms vs {steady:.2f} ms steady = {during / steady:.2f}x "
              f"(<= 2x); a swap took {swap_s * 1000:.0f} ms (load, warm-up, switch, drain)")

        # ---- 2. memory over load/unload cycles.
        first = server.rss_mib()
        for _ in range(cycles):
            assert post(port, "/v2/repository/models/digits/unload", token=ADMIN)[0] == 200
            assert post(port, "/v2/repository/models/digits/load", token=ADMIN)[0] == 200
        last = server.rss_mib()
        figures["memory"] = {"cycles": cycles, "first_mib": first, "last_mib": last}
        print(f"\nmemory: {first:.1f} MiB after the first load, {last:.1f} MiB after {cycles} unload/load cycles "
              f"({(last / first - 1) * 100:+.1f}%, target < +10%)")

        # ---- 3. a second model's latency while the first floods the shared workers.
        quiet_path = "/v2/models/quiet/infer"
        idle = sequential_latency_ms(port, quiet_path, body, 300)
        flood: dict[str, Any] = {}
        flooder = threading.Thread(target=lambda: flood.update(wrk(port, lua, 32, 4.0)))
        flooder.start()
        time.sleep(0.5)
        busy = sequential_latency_ms(port, quiet_path, body, 300)
        flooder.join()
        figures["sharing"] = {"idle_p50": pct(idle, 0.5), "idle_p99": pct(idle, 0.99), "busy_p50": pct(busy, 0.5),
                              "busy_p99": pct(busy, 0.99), "flood_rps": flood["rps"]}
        print(f"\nsecond model, sequential requests: idle p50 {pct(idle, 0.5):.2f} ms p99 {pct(idle, 0.99):.2f} ms; "
              f"while the first takes {flood['rps']:.0f} req/s at wrk -c32: p50 {pct(busy, 0.5):.2f} ms "
              f"p99 {pct(busy, 0.99):.2f} ms ({pct(busy, 0.5) / pct(idle, 0.5):.2f}x the idle p50; the flood's "
              f"wrk and server share the same 2 cores)")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
