"""`mlship serve` / `python -m mlship` and the Python-free `mlship-server`: same flags, same behaviour."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request

import mlship
from mlship._cli import build_parser, server_executable

PYTHON_SERVE = [sys.executable, "-m", "mlship", "serve"]


@pytest.fixture(scope="module")
def saved(mlp, tmp_path_factory) -> tuple[str, mlship.Model]:
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    path = str(tmp_path_factory.mktemp("cli") / "digits.pt")
    model.save(path)
    return path, model


def start(cmd: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a server and reads its URL from the line it prints (bounded wait)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=1):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"at (http://[\d.]+:\d+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError(f"server did not start: {''.join(seen)}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


@pytest.mark.parametrize("kind", ["python", "native"])
def test_serves_a_saved_model_and_drains_on_sigterm(saved, digits, kind):
    path, model = saved
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    proc, url = start([*base, path, "--name", "digits", "--port", "0", "--max-batch-size", "16"])
    try:
        x = digits[1][:4]
        status, body, _ = request(url, "POST", "/v2/models/digits/infer", infer_body(model.signature.inputs[0].name, x))
        assert status == 200, body
        np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(4, 10), model(x), atol=1e-5)
        assert request(url, "GET", "/v2/models/digits")[1]["name"] == "digits"
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "stopped" in out


def test_native_server_needs_a_token_off_loopback_and_reads_mlship_token(saved, monkeypatch):
    path, _ = saved
    refused = subprocess.run([str(server_executable()), path, "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "token" in refused.stderr
    env = {"MLSHIP_TOKEN": "tok-from-env", "PATH": "/usr/bin:/bin"}
    proc, url = start([str(server_executable()), path, "--port", "0"], env=env)
    try:
        assert request(url, "GET", "/v2")[0] == 401
        assert request(url, "GET", "/v2", headers={"Authorization": "Bearer tok-from-env"})[0] == 200
    finally:
        assert stop(proc, signal.SIGINT)[0] == 0


@pytest.mark.parametrize("kind", ["python", "native"])
def test_bad_command_lines_and_missing_models_fail_clearly(tmp_path, kind):
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    missing = subprocess.run([*base, str(tmp_path / "nope.pt"), "--port", "0"], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1
    assert "nope.pt" in missing.stderr
    unknown = subprocess.run([*base, "m.pt", "--max-batch", "3"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert "max-batch" in unknown.stderr


def test_python_and_native_servers_take_the_same_flags():
    native = subprocess.run([str(server_executable()), "--help"], capture_output=True, text=True, timeout=60)
    assert native.returncode == 0
    native_flags = set(re.findall(r"--[a-z][a-z-]+", native.stdout)) - {"--help"}
    serve = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "serve")[1]
    python_flags = {s for action in serve._actions for s in action.option_strings if s.startswith("--")} - {"--help"}
    assert native_flags == python_flags
    assert {"--max-batch-size", "--max-delay-ms", "--timeout-ms", "--token", "--instances"} <= python_flags


def test_version_flag():
    out = subprocess.run([*PYTHON_SERVE[:3], "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and mlship.__version__ in out.stdout
