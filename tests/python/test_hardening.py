"""Issue 15's attacks, each sent to both servers (in-process ``mlship.deploy`` and the
Python-free ``mlship-server``), with the bound asserted by status codes and by the server
process's peak RSS (VmHWM, reset before each measurement through /proc/<pid>/clear_refs)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time

import numpy as np
import pytest
import torch
from http_helpers import request
from models import SpinEcho
from server_process import SERVER_KINDS, read_line_matching, server_command, start

import mlship
from mlship._cli import server_executable

MiB = 1 << 20
FEATURES = 4


@pytest.fixture(scope="module")
def model() -> mlship.Model:
    return mlship.load(torch.jit.script(SpinEcho()), example_inputs=torch.zeros(1, FEATURES))


INPUT = "x"


@pytest.fixture(scope="module", autouse=True)
def input_name(model) -> None:
    global INPUT
    INPUT = model.signature.inputs[0].name


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hardening") / "echo.pt")
    model.save(path)
    return path


class Served:
    """A server of either kind: its URL and the pid whose memory counts."""

    def __init__(self, url: str, pid: int, stop):
        self.url, self.pid, self.stop = url, pid, stop

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


# max_header_bytes lets a 100 KB request line reach the router (the default, 16 KiB, answers 431).
FLAGS = {"max_batch_size": 1 << 20, "max_elements_per_tensor": (1 << 63) - 1, "drain_timeout_ms": 600_000,
         "idle_timeout_ms": 600_000, "max_header_bytes": 256 << 10}


@pytest.fixture(params=["deploy", "native"])
def server(request, model, saved):
    if request.param == "deploy":
        dep = mlship.deploy(model, name="echo", port=0, max_batch_size=FLAGS["max_batch_size"],
                            limits=mlship.Limits(max_elements_per_tensor=FLAGS["max_elements_per_tensor"],
                                                 drain_timeout_ms=FLAGS["drain_timeout_ms"],
                                                 idle_timeout_ms=FLAGS["idle_timeout_ms"],
                                                 max_header_bytes=FLAGS["max_header_bytes"]))
        yield Served(dep.url, os.getpid(), dep.stop)
        dep.stop()
        return
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in FLAGS.items()]
    proc, url = start([str(server_executable()), saved, "--name", "echo", "--port", "0", *flags])
    yield Served(url, proc.pid, lambda: proc.send_signal(signal.SIGTERM))
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=60)


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


class PeakGrowth:
    """Peak RSS growth of `pid` over a block, in bytes (VmHWM after minus VmRSS before)."""

    def __init__(self, pid: int):
        self.pid = pid

    def __enter__(self):
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        self.before = status_kib(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc):
        self.bytes = (status_kib(self.pid, "VmHWM") - self.before) * 1024


def raw(port: int, data: bytes, read_until_close: bool = False) -> bytes:
    """Sends `data` on a fresh connection and returns what the server answers (one read,
    or everything until it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(data)
        answer = s.recv(65536)
        while read_until_close:
            more = s.recv(65536)
            if not more:
                break
            answer += more
        return answer


def raw_discarding(port: int, data: bytes) -> tuple[int, int]:
    """Sends `data` and reads the answer until the server closes, keeping only its status
    and size (so a client in this process adds little to the memory measured)."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(data)
        first = s.recv(65536)
        size = len(first)
        while chunk := s.recv(1 << 20):
            size += len(chunk)
        return status_of(first), size


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def infer(url: str, body: bytes | str, headers: dict | None = None) -> tuple[int, object, dict]:
    """POST .../infer with `body` (its NAME standing for the model's input name)."""
    if isinstance(body, str):
        body = body.replace('"NAME"', json.dumps(INPUT))
    return request(url, "POST", "/v2/models/echo/infer", body,
                   headers={"Content-Type": "application/json", **(headers or {})})


def good_infer_works(url: str) -> None:
    x = [[0.0, 1.0, 2.0, 3.0]]
    status, body, _ = infer(url, json.dumps(
        {"inputs": [{"name": INPUT, "shape": [1, FEATURES], "datatype": "FP32", "data": x}]}))
    assert status == 200, body
    assert body["outputs"][0]["data"] == [0.0, 1.0, 2.0, 3.0]


def test_an_endless_chunk_extension_gets_431_without_buffering(server):
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1;ext="
    with PeakGrowth(server.pid) as growth:
        answer = raw(server.port, head + b"a" * (3 * MiB))
    assert status_of(answer) == 431, answer[:200]
    assert growth.bytes < 32 * MiB, f"peak RSS grew {growth.bytes / MiB:.0f} MiB"
    good_infer_works(server.url)


def test_a_shape_the_body_does_not_pay_for_is_refused_before_allocating(server):
    hostile = [
        '{"inputs":[{"name":"NAME","shape":[16777216,4],"datatype":"FP32","data":[]}]}',
        '{"inputs":[{"name":"NAME","shape":[4194304,4],"datatype":"FP32","parameters":{"binary_data_size":0}}]}',
    ]
    with PeakGrowth(server.pid) as growth:
        for body in hostile * 5:
            binary = "binary_data_size" in body
            length = len(body.replace('"NAME"', json.dumps(INPUT)))
            headers = {"Inference-Header-Content-Length": str(length)} if binary else {}
            status, answer, _ = infer(server.url, body, headers)
            assert status == 400, answer
            assert ("binary_data_size is 0" if binary else "'data' holds 0") in answer["error"]
    # Each used to zero-fill 256 MiB before the count was checked.
    assert growth.bytes < 64 * MiB, f"peak RSS grew {growth.bytes / MiB:.0f} MiB"
    good_infer_works(server.url)


def test_a_byte_size_that_would_wrap_is_refused_not_run(server):
    # 2^60 x 4 = 2^62 elements fit in int64; times 4 bytes they are 2^64, which wrapped to 0.
    json_part = ('{"inputs":[{"name":"NAME","shape":[1152921504606846976,4],"datatype":"FP32",'
                 '"parameters":{"binary_data_size":0}}]}')
    json_part = json_part.replace('"NAME"', json.dumps(INPUT))
    status, answer, _ = infer(server.url, json_part,
                              {"Inference-Header-Content-Length": str(len(json_part)),
                               "Content-Type": "application/octet-stream"})
    assert status == 413, answer  # it used to reach the model with 0 bytes: SIGSEGV
    good_infer_works(server.url)


def test_big_json_data_costs_about_its_elements_not_a_tree(server):
    rows = 1 << 18  # 1 Mi FP32 elements, about 4 MiB of JSON
    body = ('{"inputs":[{"name":%s,"shape":[%d,%d],"datatype":"FP32","data":[' % (json.dumps(INPUT), rows, FEATURES)
            + ",".join(["0.5"] * (rows * FEATURES)) + "]}]}").encode()
    head = (b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    with PeakGrowth(server.pid) as growth:
        status, size = raw_discarding(server.port, head + body)
    assert status == 200
    assert size > 4 * rows * FEATURES  # the echoed data came back
    # A tree of JSON values cost 16 bytes per element twice over plus its arena (about 15x
    # the body); the body, the tensor, the output and the response text stay under 10x.
    assert growth.bytes < 10 * len(body), (
        f"peak RSS grew {growth.bytes / MiB:.0f} MiB for a {len(body) / MiB:.1f} MiB body")


def test_health_is_answered_while_two_big_json_bodies_decode(server):
    """Two big bodies, sent but for their last byte, are completed back to back, then the probe
    is sent. Both end one element short of their shape, which the decoder finds only at the
    end: each is answered (400) the moment its decode ends. Decoded on the I/O threads (two, by
    default), the two bodies would hold both of them and the probe would be read only after a
    decode had ended and its 400 had gone out; decoded off them, the probe is answered first."""
    rows = FLAGS["max_batch_size"] - 1
    elements = rows * FEATURES
    body = (b'{"inputs":[{"name":%s,"shape":[%d,%d],"datatype":"FP32","data":['
            % (json.dumps(INPUT).encode(), rows, FEATURES)
            + b"0.12345678," * (elements - 2) + b"0.12345678]}]}")  # about 44 MiB of JSON
    head = (b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    order: list[str] = []  # who was answered, in the order their first bytes came
    answers: dict[str, bytes] = {}
    sent = [threading.Event(), threading.Event()]
    lock = threading.Lock()
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=120) for _ in range(2)]

    def send_big(i: int) -> None:
        who, s = f"big{i}", sockets[i]
        try:
            s.sendall(head)
            s.sendall(memoryview(body)[:-1])
            sent[i].set()
            answer = s.recv(65536)
            with lock:
                order.append(who)
            while more := s.recv(65536):
                answer += more
            answers[who] = answer
        except OSError as e:
            with lock:
                order.append(f"{who} failed: {e!r}")
        finally:
            sent[i].set()

    threads = [threading.Thread(target=send_big, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for event in sent:
            assert event.wait(timeout=120), "a big body was not sent in 120 s"
        for s in sockets:
            s.sendall(body[-1:])
        status, _, _ = request(server.url, "GET", "/v2/health/live", timeout=120)
        with lock:
            order.append("health")
    finally:
        for t in threads:
            t.join(timeout=120)
        for s in sockets:
            s.close()
    assert not any(t.is_alive() for t in threads), "a big request was not answered in 120 s"
    assert status == 200
    assert order[0] == "health", order
    for who in ("big0", "big1"):
        assert status_of(answers[who]) == 400, answers[who][:300]
        assert b"'data' holds %d" % (elements - 1) in answers[who], answers[who][:300]
    good_infer_works(server.url)


def test_a_huge_unknown_model_name_is_not_echoed_back(server):
    name = "m" * 100_000
    for method, path in [("GET", f"/v2/models/{name}"), ("GET", f"/v2/models/{name}/ready"),
                         ("POST", f"/v2/models/{name}/infer"), ("POST", f"/v2/models/{name}/explain")]:
        body = b'{"inputs": []}' if method == "POST" else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        answer = raw(server.port, head + body, read_until_close=True)
        where = f"{method} {path[:20]}.../{path.rsplit('/', 1)[1][:10]}"
        assert status_of(answer) == 404, (where, answer[:300])
        assert len(answer) < 2048, f"{where}: a {len(answer)}-byte answer"
        assert b"'" + b"m" * 64 + b"...'" in answer, (where, answer)
    _, metrics, _ = request(server.url, "GET", "/metrics")
    assert b"m" * 100 not in metrics
    good_infer_works(server.url)


def test_browser_requests_are_refused(server):
    x = '{"inputs":[{"name":"NAME","shape":[1,4],"datatype":"FP32","data":[0,1,2,3]}]}'
    x = x.replace('"NAME"', json.dumps(INPUT))
    status, answer, _ = request(server.url, "POST", "/v2/models/echo/infer", x, {"Content-Type": "text/plain"})
    assert status == 415, answer
    status, answer, _ = request(server.url, "GET", "/metrics", None, {"Host": "rebound.example:8000"})
    assert status == 403 and "DNS rebinding" in answer["error"]
    status, answer, _ = infer(server.url, x, {"Origin": "https://evil.example"})
    assert status == 403 and "allowed_origins" in answer["error"]
    good_infer_works(server.url)


def test_a_half_sent_body_gets_503_and_does_not_hold_the_stop(server):
    head = (b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        s.sendall(head)
        assert b"100 Continue" in s.recv(4096)  # the server read the header and waits for the body
        s.sendall(b'{"inputs": [')
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        answer = s.recv(65536)
        stopping.join(timeout=60)
    assert not stopping.is_alive(), "stop() waited for the half-sent body"
    assert status_of(answer) == 503, answer[:200]


def test_a_second_sigterm_stops_mlship_server_at_once(saved):
    proc, url = start([str(server_executable()), saved, "--name", "echo", "--port", "0",
                       "--drain-timeout-ms=600000"])
    try:
        spin = np.zeros((1, FEATURES), np.float32)
        spin[0, 0] = 1e9  # minutes of work: the drain would wait for it
        body = json.dumps({"inputs": [{"name": INPUT, "shape": [1, FEATURES], "datatype": "FP32",
                                       "data": spin.tolist()}]})
        def hold() -> None:
            try:
                infer(url, body)
            except OSError:  # the server is stopped under it: that is the point
                pass

        threading.Thread(target=hold, daemon=True).start()
        for _ in range(600):  # bounded: until the request is in the model
            _, metrics, _ = request(url, "GET", "/metrics")
            if re.search(rb"^mlship_inflight_requests\{[^}]*\} [1-9]", metrics, re.M):
                break
            time.sleep(0.05)  # polling for a state, bounded above
        else:
            pytest.fail("the request never reached the model")
        proc.send_signal(signal.SIGTERM)
        assert read_line_matching(proc, r"draining") is not None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)  # the drain alone would take minutes
        assert proc.returncode == 1, out
        assert "second SIGTERM" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_bodies_beyond_the_inflight_budget_get_503_at_their_header(kind, saved):
    """With a 4 MiB budget, one request whose 2 MiB body is still coming holds all of it
    (twice its length); every other request with a body is then answered 503 with
    Retry-After before a byte of its body is sent, so connections x body size cannot add up.
    Once the holder is gone, requests fit again."""
    proc, url = start([*server_command(kind), saved, "--name", "echo", "--port", "0",
                       f"--max-inflight-bytes={4 * MiB}"])
    port = int(url.rsplit(":", 1)[1])
    head = (b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (port, 2 * MiB))

    def header_only_answer(timeout: float = 30) -> bytes | None:
        """The answer to a header whose body never comes; None if there is none within
        `timeout` (the server charged this header and waits for its body)."""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(head)  # and never the body
            try:
                return c.recv(4096)
            except TimeoutError:
                return None

    def small_infer_fits() -> None:
        """Waits until a small request is served again: nothing is charged any more."""
        deadline = time.monotonic() + 30
        while True:
            status, body, _ = infer(url, json.dumps({"inputs": [{"name": INPUT, "shape": [1, FEATURES],
                                                                 "datatype": "FP32", "data": [[0, 1, 2, 3]]}]}))
            if status == 200:
                return
            assert status == 503 and time.monotonic() < deadline, body
            time.sleep(0.02)

    def charged_holder() -> tuple[socket.socket, bytes]:
        """A connection whose header holds the whole budget, and a probe's 503 that shows it.
        The server reads the two headers on different threads, so on a busy host the probe's
        header can be charged first (and the holder refused): then both are closed, the
        budget is let drain, and the scene is set again (bounded in count and time)."""
        deadline = time.monotonic() + 60
        for _ in range(20):
            held = socket.create_connection(("127.0.0.1", port), timeout=30)
            held.sendall(head)
            first = header_only_answer(timeout=2)
            if first is not None and first.startswith(b"HTTP/1.1 503"):
                return held, first
            held.close()
            assert time.monotonic() < deadline, first
            small_infer_fits()
        raise AssertionError("the holder's header was never the one charged")

    try:
        held, first = charged_holder()
        with held:
            answers = [first] + [header_only_answer() for _ in range(20)]
            for answer in answers:
                assert answer is not None and answer.startswith(b"HTTP/1.1 503"), answer
                assert b"Retry-After" in answer and b"max_inflight_bytes" in answer, answer
        small_infer_fits()  # the holder's bytes come back once its connection is closed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
