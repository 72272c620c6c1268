"""The `mlship-server` console script: pip puts it on PATH, and it becomes the native server (no Python left)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import mlship._server_bin
import tomllib
from http_helpers import request
from mlship._cli import server_executable
from ship_helpers import running

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, "-c", "import sys, mlship._server_bin as s; sys.exit(s.main())"]


def test_pyproject_declares_the_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mlship-server"] == "mlship._server_bin:main"


def test_the_installed_script_is_on_the_environment_path():
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="mlship-server") or [None]
    assert entry is not None, "mlship-server is not in the installed metadata: reinstall mlship (make build)"
    assert entry.value == "mlship._server_bin:main"
    script = Path(sysconfig.get_path("scripts")) / "mlship-server"
    out = subprocess.run([str(script), "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "mlship-server (MODEL | --repository DIR)" in out.stdout


def test_the_script_execs_the_native_server_which_drains_on_sigterm(digits_model, tmp_path):
    model = tmp_path / "digits.pt"
    digits_model.save(str(model))
    with running([*SCRIPT, str(model), "--name", "digits", "--port", "0"], env=dict(os.environ)) as server:
        # The process pip started is now the binary itself: signals reach the server directly.
        assert os.path.realpath(f"/proc/{server.proc.pid}/exe") == os.path.realpath(server_executable())
        assert request(server.url, "GET", "/v2/health/ready")[0] == 200
        code, out = server.terminate(timeout=60)
    assert code == 0 and "SIGTERM, draining" in out


def test_a_missing_binary_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr("mlship._cli.server_executable", lambda: Path("/nonexistent/mlship-server"))
    assert mlship._server_bin.main(["--help"]) == 1
    assert "not installed at /nonexistent/mlship-server" in capsys.readouterr().err


def test_arguments_pass_through_unchanged():
    out = subprocess.run([*SCRIPT, "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--drain-timeout-ms" in out.stdout
