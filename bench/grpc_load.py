"""A small gRPC load generator: `concurrency` asyncio tasks on one grpc.aio channel, each
sending one unary call after another for `seconds` (after a short warm-up).

What it measures: completed calls per second and each call's latency from the client (send
to answer), p50 and p99; calls that end in an error are counted apart. Calls are
``ModelInfer`` with one request prebuilt with ``raw_input_contents`` (what tritonclient
sends), or ``ServerLive`` (no model: the gRPC stack's own ceiling). The client is Python:
on a small machine its own CPU is part of what is measured, which the ServerLive row shows.

    python bench/grpc_load.py --port 8001 --concurrency 8 --seconds 5 [--method live] [--npy x.npy]

Prints one JSON object: {"rps", "p50_ms", "p99_ms", "requests", "errors"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc


def infer_request(x: np.ndarray, model: str, input_name: str) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name=input_name, datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return request


async def run(port: int, concurrency: int, seconds: float, method: str, request: object) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = stub.ModelInfer if method == "infer" else stub.ServerLive
        latencies: list[float] = []
        errors = 0
        stop_at = 0.0
        measuring = False

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await call(request, timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - started)

        stop_at = time.monotonic() + min(1.0, seconds / 4)  # warm-up, not counted
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        errors, measuring = 0, True
        began = time.monotonic()
        stop_at = began + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    ms = np.array(latencies) * 1e3 if latencies else np.array([0.0])
    return {"rps": len(latencies) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "requests": len(latencies), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--method", choices=("infer", "live"), default="infer")
    parser.add_argument("--npy", help="the input rows (FP32), for --method infer")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--input-name", default="x")
    args = parser.parse_args()
    if args.method == "infer":
        request = infer_request(np.load(args.npy), args.model, args.input_name)
    else:
        request = service_pb2.ServerLiveRequest()
    print(json.dumps(asyncio.run(run(args.port, args.concurrency, args.seconds, args.method, request))))


if __name__ == "__main__":
    main()
