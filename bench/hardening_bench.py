"""Issue 15's attacks against a live ``mlship.deploy`` server: what each costs the server now.

Prints, per attack, the HTTP status and the growth of the server's peak RSS (VmHWM, reset
through /proc/self/clear_refs before each), and the time /v2/health/live takes to answer while
big JSON bodies are decoded. The "before" column holds the figures measured on the code before
issue 15 (from the issue); run this on both commits to compare.

    .venv/bin/python bench/hardening_bench.py
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import torch

import mlship

MiB = 1 << 20
FEATURES = 64


def vm_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def peak_growth(action) -> tuple[object, float]:
    """Runs `action`; returns its result and the growth of peak RSS it caused, in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = vm_kib("VmRSS")
    result = action()
    return result, (vm_kib("VmHWM") - before) / 1024


def send(port: int, data: bytes) -> int:
    """Sends raw bytes; reads the whole answer (the server closes) and returns its status."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        s.sendall(data)
        first = s.recv(65536)
        while s.recv(1 << 20):
            pass
        return int(first.split(b" ", 2)[1]) if first else 0


def send_endless_extension(port: int, total: int) -> int:
    """Sends a chunk header whose extension runs on for `total` bytes (1 MiB at a time, so
    this process holds little of it) and returns the status the server answered with."""
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x="
    piece = b"a" * MiB
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        try:
            s.sendall(head)
            for _ in range(total // MiB):
                s.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and stopped reading: the point
        try:
            first = s.recv(65536)
        except ConnectionResetError:
            return 0
        return int(first.split(b" ", 2)[1]) if first else 0


def post(port: int, body: bytes, extra: str = "") -> bytes:
    return (f"POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def main() -> None:
    model = mlship.load(torch.nn.Identity(), example_inputs=torch.zeros(1, FEATURES))
    name = model.signature.inputs[0].name
    dep = mlship.deploy(model, name="m", port=0, max_batch_size=1 << 20,
                        limits=mlship.Limits(max_body_bytes=128 * MiB))
    port = int(dep.url.rsplit(":", 1)[1])
    rows = []
    try:
        status, grew = peak_growth(lambda: send_endless_extension(port, 64 * MiB))
        rows.append(("64 MiB chunk extension on /v2/health/live", "200-370 MB per 200 MB, held", status, grew))

        hostile = json.dumps({"inputs": [{"name": name, "shape": [1048576, 64], "datatype": "FP32",
                                          "data": []}]}).encode()
        status, grew = peak_growth(lambda: [send(port, post(port, hostile)) for _ in range(10)][-1])
        rows.append((f"{len(hostile)}-byte shape [1048576, 64] x10", "256 MiB zero-filled each", status, grew))

        elements = 8 * MiB
        big = (f'{{"inputs":[{{"name":"{name}","shape":[{elements // FEATURES},{FEATURES}],"datatype":"FP32",'
               f'"data":[' + ",".join(["0.5"] * elements) + "]}]}").encode()
        status, grew = peak_growth(lambda: send(port, post(port, big)))
        rows.append((f"{len(big) / MiB:.0f} MiB JSON body (8 Mi FP32)", "about 25x the body (1.6 GB for 63 MiB)",
                     status, grew))

        # Liveness while two big bodies decode at once.
        threads = [threading.Thread(target=send, args=(port, post(port, big))) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.2)  # let both reach the decoder (a benchmark, not a test)
        start = time.perf_counter()
        live = send(port, b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        live_ms = (time.perf_counter() - start) * 1e3
        for t in threads:
            t.join()
    finally:
        dep.stop()

    print(f"{'attack':48} {'before (issue 15)':40} {'status':>6} {'peak RSS growth now':>20}")
    for attack, before, status, grew in rows:
        print(f"{attack:48} {before:40} {status:>6} {grew:>16.1f} MiB")
    print(f"{'/v2/health/live during two such bodies':48} {'17 s (two 63 MiB bodies)':40} {live:>6} {live_ms:>17.1f} ms")


if __name__ == "__main__":
    main()
