"""A real two-node Ray cluster on 127.0.0.1 for the tests: ``ray start`` twice, each node with its own CPU
and a custom resource naming it; stopped by killing exactly the processes each ``ray start`` started.

Call ``token_environment()`` before Ray is imported: Ray reads its variables at import."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def token_environment() -> None:
    """A token of this cluster's own for Ray's token authentication, in the environment of every process
    (the nodes, their workers, the driver), so that none falls back to a token file left in ~/.ray."""
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                       "RAY_USAGE_STATS_ENABLED": "0"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc before anything is killed)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in reversed(_descendants(proc.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


@contextlib.contextmanager
def two_nodes(start_timeout: float = 120) -> Iterator[str]:
    """Yields the cluster's address once both nodes are alive."""
    import ray

    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    # Ray's sockets live under the temp dir, whose path must stay short.
    temp = tempfile.mkdtemp(prefix="mlray", dir="/tmp")
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=100000000",
              "--disable-usage-stats"]
    assert os.environ.get("RAY_AUTH_TOKEN"), "call token_environment() before importing ray"
    env = dict(os.environ)
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(subprocess.Popen(
            [ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}",
             "--resources=" + json.dumps({"node_a": 1}), *common], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
        address = f"127.0.0.1:{port}"
        _wait_for_gcs(port, start_timeout, nodes[0])
        nodes.append(subprocess.Popen(
            [ray_cli, "start", f"--address={address}", "--resources=" + json.dumps({"node_b": 1}), *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        ray.init(address=address, log_to_driver=False)
        deadline = time.monotonic() + start_timeout
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            assert time.monotonic() < deadline, "the second Ray node did not join"
            time.sleep(0.5)
        yield address
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        for node in reversed(nodes):
            _kill_tree(node)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_gcs(port: int, timeout: float, head: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert head.poll() is None, "ray start --head exited"
        with socket.socket() as s, contextlib.suppress(OSError):
            s.settimeout(1)
            s.connect(("127.0.0.1", port))
            return
        time.sleep(0.3)
    raise AssertionError(f"Ray's head did not listen on {port} within {timeout} s")
