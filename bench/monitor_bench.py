"""What monitoring costs: mlship's HTTP throughput with monitoring off, on, and on with a
drift reference (anomaly check per request, drift window per batch), in the same run.

The three deployments serve the digits MLP in this process; `wrk` (Debian) drives each at
concurrency 32 with one row per request. Modes are interleaved round by round so that a
noisy neighbour on the shared machine hits all of them alike; the median of the rounds is
reported. Target (issue 5): monitoring costs under 5%.

    python bench/monitor_bench.py [--rounds 5] [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

import models  # noqa: E402
from serve_bench import request_body, wrk  # noqa: E402

import mlship  # noqa: E402

MODES = {
    "off": {"monitoring": False},
    "on": {},
    "on + reference": {"reference": True},
}


def _cpu_seconds() -> float:
    """This process's CPU time (user + system, all threads). The deployments run here; wrk does not."""
    t = os.times()
    return t.user + t.system


def monitoring_cost(model: mlship.Model, reference, body: str, rounds: int, seconds: float,
                    connections: int) -> dict[str, dict[str, float]]:
    """Per mode in MODES: median requests/s and median server CPU µs per request, in interleaved rounds.

    Requests/s on a 2-core machine shared with wrk swings by ±10% between rounds, more than the
    cost being measured. The CPU time the serving process spends per request is far steadier,
    and it is what monitoring adds to.
    """
    deps = {}
    for label, kw in MODES.items():
        kw = dict(kw)
        if kw.pop("reference", False):
            kw["reference"] = reference
        deps[label] = mlship.deploy(model, name="digits", port=0, **kw)
    rps: dict[str, list[float]] = {label: [] for label in MODES}
    cpu_us: dict[str, list[float]] = {label: [] for label in MODES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lua = Path(tmp) / "post.lua"
            lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                           f"wrk.body = [==[{body}]==]\n")
            for dep in deps.values():
                wrk(dep.port, lua, 8, 1)  # warm-up
            for r in range(rounds):
                for label, dep in deps.items():
                    cpu_before = _cpu_seconds()
                    result = wrk(dep.port, lua, connections, seconds)
                    cpu = _cpu_seconds() - cpu_before
                    if result["errors"]:
                        sys.exit(f"{label}: {result['errors']} failed requests")
                    rps[label].append(result["rps"])
                    cpu_us[label].append(1e6 * cpu / max(1, result["requests"]))
                print(f"  round {r + 1}: " + ", ".join(f"{k} {rps[k][-1]:.0f} req/s {cpu_us[k][-1]:.1f} us CPU/req"
                                                       for k in MODES), flush=True)
    finally:
        for dep in deps.values():
            dep.stop()
    return {label: {"rps": statistics.median(rps[label]), "cpu_us_per_request": statistics.median(cpu_us[label])}
            for label in MODES}


def print_monitoring_cost(medians: dict[str, dict[str, float]], rounds: int, seconds: float,
                          connections: int) -> None:
    base = medians["off"]
    print(f"\nmlship with monitoring off vs on (median of {rounds} interleaved rounds of {seconds:g} s, "
          f"wrk -c{connections}; target: monitoring costs under 5%):")
    print(f"  {'monitoring':<26} {'req/s':>9} {'vs off':>8}   {'server CPU us/req':>17} {'vs off':>8}")
    for label, m in medians.items():
        print(f"  {label:<26} {m['rps']:>9.0f} {100 * (m['rps'] / base['rps'] - 1):>+7.1f}%   "
              f"{m['cpu_us_per_request']:>17.1f} {100 * (m['cpu_us_per_request'] / base['cpu_us_per_request'] - 1):>+7.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("monitor_bench needs wrk (apt-get install wrk; `make bench` installs it)")

    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=5)
    model = mlship.load(net, example_inputs=torch.zeros(1, 64))
    body = request_body(X_test[:1], model.signature.inputs[0].name)
    medians = monitoring_cost(model, X_train, body, args.rounds, args.seconds, args.connections)
    print_monitoring_cost(medians, args.rounds, args.seconds, args.connections)


if __name__ == "__main__":
    main()
