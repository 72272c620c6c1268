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
    deps = {}
    for label, kw in MODES.items():
        kw = dict(kw)
        if kw.pop("reference", False):
            kw["reference"] = X_train
        deps[label] = mlship.deploy(model, name="digits", port=0, **kw)
    rps: dict[str, list[float]] = {label: [] for label in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                       f"wrk.body = [==[{body}]==]\n")
        for dep in deps.values():
            wrk(dep.port, lua, 8, 1)  # warm-up
        for r in range(args.rounds):
            for label, dep in deps.items():
                result = wrk(dep.port, lua, args.connections, args.seconds)
                if result["errors"]:
                    sys.exit(f"{label}: {result['errors']} failed requests")
                rps[label].append(result["rps"])
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rps.items()), flush=True)
    for dep in deps.values():
        dep.stop()
    base = statistics.median(rps["off"])
    print(f"\nrequests/s, median of {args.rounds} rounds of {args.seconds:g} s, wrk -c{args.connections}:")
    for label, values in rps.items():
        median = statistics.median(values)
        print(f"  monitoring {label:<15} {median:9.0f}   {100 * (median / base - 1):+6.1f}% vs off")


if __name__ == "__main__":
    main()
