"""Rollout benchmark: what a shadow costs the version that answers.

The digits MLP is served twice from one repository (versions 1 and 2, the same weights, so
every compared row must agree) by the Python-free `mlship-server`, under three loads:

- paced: 8 connections that each wait 2 ms between an answer and their next request (wrk's
  `delay()`), about a third of what the server can answer here: the machine has spare
  capacity, which is where the shadow must cost the primary under 5%;
- concurrency 2 and 32 with no pause (closed loop): on 2 cores shared with wrk even 2
  connections keep both cores busy, so a shadow's forward passes take CPU the primary would
  have used; these rows show how the shadow backs off.

Three settings, each in its own server, measured in alternating rounds so that the noise of
the machine falls on all:

- none: version 1 answers, no shadow (the baseline);
- shadow 10%: a tenth of the requests is copied to version 2 and compared;
- shadow 100%: every request is copied to version 2 and compared.

Printed: requests/s and p50/p99 of the primary's answers (medians over rounds) and their
ratio to the baseline, and how many copies the shadow compared and skipped (a shadow never
queues behind itself: when its workers are busy the copy is skipped, so the primary keeps
its latency at the price of a sampled comparison).

    python bench/rollout_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import urllib.request
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

# (label, connections, ms each connection waits between requests)
LOADS = (("paced", 8, 2), ("2", 2, 0), ("32", 32, 0))
SETTINGS = {"none": {}, "shadow 10%": {"shadow_version": "2", "shadow_sample_rate": 0.1},
            "shadow 100%": {"shadow_version": "2", "shadow_sample_rate": 1.0}}


def shadow_counts(port: int) -> dict[str, float]:
    """mlship_shadow_* of model digits, from /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    out = {}
    for name in ("rows", "skipped_requests", "failed_requests", "agreement"):
        found = re.search(rf'^mlship_shadow_{name}\{{model="digits"[^}}]*\}} (\S+)', text, re.M)
        out[name] = float(found.group(1)) if found else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke test)")
    parser.add_argument("--instances", type=int, default=2, help="workers per version (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, medians reported (default 3)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("rollout_bench needs wrk (apt-get install wrk; `make bench` installs it)")
    rounds, seconds = (1, 2.0) if args.quick else (args.rounds, 5.0)

    X_train, X_test, y_train, _ = models.digits_split()
    work = Path(tempfile.mkdtemp(prefix="mlship-rollout-bench-"))
    figures: dict[tuple[str, str], list[dict[str, Any]]] = {(label, load[0]): [] for label in SETTINGS
                                                           for load in LOADS}
    try:
        repo = mlship.Repository(work / "models")
        torch.manual_seed(0)
        net = models.train(models.DigitsMLP(), X_train, y_train, epochs=2).eval()
        for _ in range(2):
            repo.add("digits", mlship.load(net, example_inputs=torch.zeros(1, 64)))
        name = repo.load("digits", "1").signature.inputs[0].name
        body = request_body(X_test[:1], name)
        lua = work / "post.lua"
        lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                       f"wrk.body = [==[{body}]==]\n")
        scripts = {}
        for load, _, pause_ms in LOADS:
            scripts[load] = work / f"post-{load}.lua"
            scripts[load].write_text(lua.read_text() + (f"function delay()\n  return {pause_ms}\nend\n"
                                                        if pause_ms else ""))
        for _ in range(rounds):
            for label, settings in SETTINGS.items():
                repo.set_settings("digits", version_policy="all", default_version="1", **settings)
                port = free_port()
                server = Server(label, [str(server_executable()), "--repository", str(repo.root), "--port", str(port),
                                        "--instances", str(args.instances)], port, body, dict(os.environ), ROOT)
                try:
                    wrk(port, lua, 8, 1)  # warm-up
                    for load, connections, _ in LOADS:
                        before = shadow_counts(port)
                        result = wrk(port, scripts[load], connections, seconds)
                        after = shadow_counts(port)
                        result.update({k: after[k] - before[k] for k in ("rows", "skipped_requests")},
                                      agreement=after["agreement"])
                        figures[(label, load)].append(result)
                finally:
                    server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(label: str, c: str, key: str) -> float:
        return statistics.median(r[key] for r in figures[(label, c)])

    print(f"Primary under a shadow (digits MLP, mlship-server, {args.instances} workers, wrk {seconds:g} s per cell, "
          f"{os.cpu_count()} cores shared with wrk; median of {rounds} rounds)\n")
    header = (f"{'setting':<12} | {'load':>5} | {'req/s':>8} | {'÷ none':>6} | {'p50 ms':>7} | {'p99 ms':>7} | "
              f"{'p99 ÷ none':>10} | {'compared':>8} | {'skipped':>8} | {'agree':>5} | errors")
    print(header)
    print("-" * len(header))
    for c, _, _ in LOADS:
        for label in SETTINGS:
            print(f"{label:<12} | {c:>5} | {med(label, c, 'rps'):>8.0f} | "
                  f"{med(label, c, 'rps') / med('none', c, 'rps'):>5.2f}x | {med(label, c, 'p50_ms'):>7.2f} | "
                  f"{med(label, c, 'p99_ms'):>7.2f} | {med(label, c, 'p99_ms') / med('none', c, 'p99_ms'):>9.2f}x | "
                  f"{med(label, c, 'rows'):>8.0f} | {med(label, c, 'skipped_requests'):>8.0f} | "
                  f"{med(label, c, 'agreement'):>5.2f} | {sum(r['errors'] for r in figures[(label, c)])}")
    print("\nload 'paced': 8 connections, each waiting 2 ms between requests (spare capacity); '2' and '32': "
          "connections with no pause. Target: a 100% shadow costs the primary under 5% of req/s and p99 at the "
          "paced load; at the others, the 'skipped' column shows it backing off.")
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]} c{k[1]}": v for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
