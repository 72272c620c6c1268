"""mlship over gRPC vs mlship over HTTP (binary and JSON), same server, same run.

One `mlship serve` process serves the digits MLP on an HTTP port and a gRPC port. At each
concurrency (1, 8, 32) the rows are measured back to back, one row per request:

- ``grpc``: ModelInfer with raw_input_contents, driven by bench/grpc_load.py (grpc.aio, Python);
- ``grpc live``: ServerLive, no model: the ceiling of that client and gRPC stack;
- ``http binary``: KServe v2 binary tensor data (Inference-Header-Content-Length), wrk;
- ``http json``: KServe v2 JSON, wrk.

wrk is C and grpc_load.py is Python, so the clients differ: compare ``grpc`` with
``grpc live`` for what the model path costs over gRPC, and the HTTP rows with each other.
Run by serve_bench.py, or alone:

    python bench/grpc_bench.py [--seconds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import models  # noqa: E402
from serve_bench import Server, free_port, request_body, wrk  # noqa: E402

import mlship  # noqa: E402

CONCURRENCY = (1, 8, 32)


def binary_lua(x: np.ndarray, name: str, path: Path) -> None:
    """A wrk script posting `x` as KServe v2 binary tensor data. The body is written with
    Lua's decimal escapes: a long-bracket string would turn CR LF in the floats into LF."""
    header = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    body = header + np.ascontiguousarray(x, dtype=np.float32).tobytes()
    escaped = "".join(f"\\{b}" for b in body)
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
                    f'wrk.headers["Inference-Header-Content-Length"] = "{len(header)}"\n'
                    f'wrk.body = "{escaped}"\n')


def grpc_load(port: int, concurrency: int, seconds: float, method: str, npy: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "grpc_load.py"), "--port", str(port),
                          "--concurrency", str(concurrency), "--seconds", str(seconds), "--method", method,
                          "--npy", str(npy)],
                         capture_output=True, text=True, timeout=seconds + 120, check=True)
    return json.loads(out.stdout)


def grpc_vs_http(model_file: Path, x: np.ndarray, name: str, seconds: float, work: Path) -> dict[str, Any]:
    """Measures the four rows at each concurrency against one mlship server; prints the table."""
    npy = work / "row.npy"
    np.save(npy, x)
    json_lua = work / "grpc-bench-json.lua"
    json_lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        f"wrk.body = [==[{request_body(x, name)}]==]\n")
    bin_lua = work / "grpc-bench-binary.lua"
    binary_lua(x, name, bin_lua)
    port, gport = free_port(), free_port()
    cmd = [sys.executable, "-m", "mlship", "serve", str(model_file), "--name", "digits", "--port", str(port),
           "--grpc-port", str(gport), "--max-batch-size", "32"]
    figures: dict[str, Any] = {row: {} for row in ("grpc", "grpc live", "http binary", "http json")}
    load_before = os.getloadavg()[0]
    server = Server("mlship", cmd, port, request_body(x, name), dict(os.environ), work)
    try:
        grpc_load(gport, 8, 1, "infer", npy)  # warm-up
        for c in CONCURRENCY:
            figures["grpc"][c] = grpc_load(gport, c, seconds, "infer", npy)
            figures["grpc live"][c] = grpc_load(gport, c, seconds, "live", npy)
            figures["http binary"][c] = wrk(port, bin_lua, c, seconds)
            figures["http json"][c] = wrk(port, json_lua, c, seconds)
    finally:
        server.stop()
    load_after = os.getloadavg()[0]
    figures["load_average"] = [load_before, load_after]
    print(f"\nmlship gRPC vs HTTP, one server, one row per request, {seconds:g} s per cell, "
          f"{os.cpu_count()} cores shared with the clients; load average {load_before:.1f} before, "
          f"{load_after:.1f} after")
    header = f"{'conc':>4} | {'row':<11} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} | " \
             f"{'req/s ÷ http json':>17}"
    print(header)
    print("-" * len(header))
    for c in CONCURRENCY:
        base = figures["http json"][c]["rps"]
        for row in ("grpc", "grpc live", "http binary", "http json"):
            r = figures[row][c]
            print(f"{c:>4} | {row:<11} | {r['rps']:>9.0f} | {r['p50_ms']:>7.2f} | {r['p99_ms']:>7.2f} | "
                  f"{r['errors']:>6} | {r['rps'] / base:>16.2f}x")
    print("grpc / grpc live: " + ", ".join(
        f"c{c} {figures['grpc'][c]['rps'] / figures['grpc live'][c]['rps']:.0%}" for c in CONCURRENCY) +
        " (the model path's share of what the Python gRPC client reaches with no model)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="duration per cell")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=2).eval()
    work = Path(tempfile.mkdtemp(prefix="mlship-grpc-bench-"))
    model = mlship.load(torch.jit.script(net), example_inputs=torch.zeros(1, 64))
    model.save(str(work / "digits-mlship.pt"))
    started = time.monotonic()
    name = model.signature.inputs[0].name
    figures = grpc_vs_http(work / "digits-mlship.pt", X_test[:1], name, args.seconds, work)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
