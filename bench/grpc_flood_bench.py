"""What a flood of big gRPC messages makes ``mlship-server`` hold, with the in-flight byte
budget it shares with HTTP against no budget, same run.

One asyncio client (``grpc.aio``) sends N ModelInfer calls of 15 MiB each at once to a digits-
sized MLP; the table gives, per setting and N, how many calls were answered or refused
(UNAVAILABLE) and the growth of the server's peak RSS (VmHWM, reset through
/proc/<pid>/clear_refs first), with the ratio of the budgeted server's growth to the
unbudgeted one's.

    .venv/bin/python bench/grpc_flood_bench.py [--calls 16 32]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np
import torch
from tritonclient.grpc import service_pb2, service_pb2_grpc

import mlship
from mlship._cli import server_executable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from server_process import read_line_matching, stop  # noqa: E402

MiB = 1 << 20
MESSAGE = 15 * MiB
BUDGET = 64 * MiB


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def request(rows: int) -> service_pb2.ModelInferRequest:
    x = np.random.default_rng(0).random((rows, 64), dtype=np.float32)
    req = service_pb2.ModelInferRequest(model_name="m")
    t = req.inputs.add()
    t.name, t.datatype = "input", "FP32"
    t.shape.extend([rows, 64])
    req.raw_input_contents.append(x.tobytes())
    return req


async def flood(port: int, pid: int, calls: int) -> tuple[dict[str, int], float]:
    big = request(MESSAGE // 256)
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        await stub.ModelInfer(request(1), timeout=60)  # warm: the model has run once
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        before = vm_kib(pid, "VmRSS")

        async def one() -> str:
            try:
                await stub.ModelInfer(big, timeout=120)
                return "answered"
            except grpc.aio.AioRpcError as e:
                return e.code().name

        outcomes = await asyncio.gather(*[one() for _ in range(calls)])
        growth = (vm_kib(pid, "VmHWM") - before) / 1024
    return {o: outcomes.count(o) for o in sorted(set(outcomes))}, growth


def serve(path: str, budget: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([str(server_executable()), path, "--name", "m", "--port", "0", "--grpc-port", "-1",
                             f"--max-inflight-bytes={budget}", f"--max-body-bytes={16 * MiB}",
                             "--max-batch-size=100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    line = read_line_matching(proc, r"grpc://127\.0\.0\.1:\d+", seen)
    if line is None:
        stop(proc)
        raise SystemExit("mlship-server did not start:\n" + "".join(seen))
    return proc, int(line.split("grpc://127.0.0.1:")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[16, 32])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "m.pt")
        mlship.load(model, example_inputs=torch.zeros(1, 64)).save(path)
        for calls in args.calls:
            growth = {}
            for name, budget in (("none", 0), ("64 MiB budget", BUDGET)):
                proc, port = serve(path, budget)
                try:
                    outcomes, growth[name] = asyncio.run(flood(port, proc.pid, calls))
                finally:
                    stop(proc)
                rows.append((name, calls, outcomes, growth[name], growth[name] / growth["none"]))
    print(f"gRPC flood: N calls of {MESSAGE // MiB} MiB at once, mlship-server (max_body_bytes 16 MiB)\n")
    print(f"{'setting':<14} | {'calls':>5} | {'answered':>8} | {'refused':>7} | {'peak RSS +MiB':>13} | ÷ none")
    print("-" * 66)
    for name, calls, outcomes, grown, ratio in rows:
        refused = sum(v for k, v in outcomes.items() if k != "answered")
        print(f"{name:<14} | {calls:>5} | {outcomes.get('answered', 0):>8} | {refused:>7} | {grown:>13.0f} | "
              f"{ratio:.2f}x")


if __name__ == "__main__":
    main()
