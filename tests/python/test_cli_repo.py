"""`mlship repo ...` and serving a repository (or a plain TorchScript file) from both servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from test_cli import PYTHON_SERVE, start, stop

import mlship
from mlship._cli import server_executable

REPO = [sys.executable, "-m", "mlship", "repo"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*REPO, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A model saved by mlship (signature inside), a plain torch.jit.save file, golden inputs."""
    root = tmp_path_factory.mktemp("cli-repo")
    module = torch.nn.Linear(4, 3).eval()
    mlship.load(module, example_inputs=torch.zeros(1, 4)).save(str(root / "lin.pt"))
    torch.jit.save(torch.jit.script(module), str(root / "plain.pt"))
    np.save(root / "golden.npy", np.random.default_rng(0).random((5, 4), dtype=np.float32))
    return {"model": str(root / "lin.pt"), "plain": str(root / "plain.pt"), "golden": str(root / "golden.npy"),
            "repo": str(root / "models")}


def test_repo_commands_round_trip(files):
    repo = files["repo"]
    added = run("add", "lin", files["model"], "--repository", repo, "--alias", "stable", "--label", "team=ml",
                "--metadata", '{"accuracy": 0.9}', "--golden", files["golden"], "--max-batch-size", "16")
    assert added.returncode == 0, added.stderr
    assert "added lin version 1" in added.stdout
    again = run("add", "lin", files["plain"], "--input", "input:FP32:-1,4", "--output", "y:FP32:-1,3",
                env={"MLSHIP_REPOSITORY": repo})
    assert again.returncode == 0, again.stderr
    listed = run("list", "-r", repo)
    assert "lin: versions 1, 2; aliases stable -> 1" in listed.stdout
    shown = json.loads(run("show", "lin", "stable", "-r", repo).stdout)
    assert shown["version"] == "1" and shown["settings"] == {"max_batch_size": 16}
    assert shown["labels"] == {"team": "ml"} and shown["metadata"] == {"accuracy": 0.9}
    assert shown["golden"]["outputs"] == ["golden/output_0.npy"]
    assert json.loads(run("show", "lin", "-r", repo).stdout)["signature"]["outputs"][0]["name"] == "y"
    assert run("alias", "lin", "stable", "2", "-r", repo).returncode == 0
    assert run("verify", "-r", repo).returncode == 0
    with open(os.path.join(repo, "lin", "1", "model.pt"), "ab") as f:
        f.write(b"tampered")
    verified = run("verify", "-r", repo)
    assert verified.returncode == 1 and "changed since it was added" in verified.stdout
    assert run("rm", "lin", "1", "-r", repo).returncode == 0
    refused = run("rm", "lin", "2", "-r", repo)
    assert refused.returncode == 1 and "stable" in refused.stderr
    assert run("rm", "lin", "2", "--force", "-r", repo).returncode == 0
    bad = run("add", "../x", files["model"], "-r", repo)
    assert bad.returncode == 1 and "use 1-128 letters" in bad.stderr
    unknown = run("add", "lin", files["model"], "-r", repo, "--max-batch", "4")
    assert unknown.returncode == 2 and "max-batch" in unknown.stderr
    assert "which repository" in run("list").stderr


@pytest.mark.parametrize("kind", ["python", "native"])
def test_both_servers_serve_a_repository_and_name_the_version(files, tmp_path, kind):
    repo = mlship.Repository(tmp_path / "models")
    model = mlship.load(files["model"])
    repo.add("lin", model)
    repo.add("lin", model, aliases=["canary"])
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    proc, url = start([*base, "--repository", repo.root, "--port", "0", "--version-policy", "all"])
    try:
        x = np.ones((2, 4), np.float32)
        for path, version in (("/v2/models/lin/infer", "2"), ("/v2/models/lin/versions/1/infer", "1"),
                              ("/v2/models/lin/versions/canary/infer", "2")):
            status, body, _ = request(url, "POST", path, infer_body("input", x))
            assert status == 200 and body["model_version"] == version, (path, body)
            np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(2, 3), model(x), atol=1e-5)
        assert request(url, "GET", "/v2/models/lin")[1]["versions"] == ["1", "2"]
        assert request(url, "POST", "/v2/repository/index")[0] == 403, "no admin token: the endpoints are off"
    finally:
        code, out = stop(proc)
    assert code == 0, out


@pytest.mark.parametrize("kind", ["python", "native"])
def test_a_plain_torchscript_file_is_served_once_its_tensors_are_declared(files, kind):
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    refused = subprocess.run([*base, files["plain"], "--port", "0"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "--input NAME:DTYPE:DIMS" in refused.stderr, refused.stderr
    proc, url = start([*base, files["plain"], "--port", "0", "--name", "plain", "--input", "input:FP32:-1,4",
                       "--output", "y:FP32:-1,3"])
    try:
        status, body, _ = request(url, "POST", "/v2/models/plain/infer", infer_body("input", np.ones((1, 4), np.float32)))
        assert status == 200 and body["outputs"][0]["name"] == "y" and len(body["outputs"][0]["data"]) == 3
    finally:
        assert stop(proc)[0] == 0
    half = subprocess.run([*base, files["plain"], "--port", "0", "--input", "input:FP32:-1,4"], capture_output=True,
                          text=True, timeout=120)
    assert half.returncode == 2 and "--output" in half.stderr
