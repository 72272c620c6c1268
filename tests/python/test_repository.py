"""mlship.Repository: versions on disk with hashed files, aliases, golden outputs, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import mlship


def linear(scale: float) -> torch.nn.Module:
    """A PyTorch nn.Linear whose outputs say which version made them: y = scale * x @ 1 (4 -> 2)."""
    module = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        module.weight.fill_(scale)
    return module.eval()


@pytest.fixture
def repo(tmp_path) -> mlship.Repository:
    return mlship.Repository(tmp_path / "models")


def test_versions_are_numbered_hashed_and_read_back(repo):
    x = np.ones((3, 4), np.float32)
    first = repo.add("lin", linear(1.0), example_inputs=torch.zeros(1, 4), metadata={"git_commit": "abc123"},
                     labels={"team": "ml"})
    assert first["version"] == "1" and first["metadata"]["git_commit"] == "abc123"
    assert len(first["files"]["model.pt"]["sha256"]) == 64 and first["files"]["model.pt"]["bytes"] > 0
    assert first["signature"]["inputs"][0]["shape"] == [-1, 4]
    assert first["created"].endswith("Z")
    second = repo.add("lin", linear(2.0), example_inputs=torch.zeros(1, 4), aliases=["canary"])
    assert second["version"] == "2"
    assert repo.versions("lin") == ["1", "2"]
    assert repo.list() == [{"name": "lin", "versions": ["1", "2"], "aliases": {"canary": "2"}}]
    np.testing.assert_allclose(repo.load("lin")(x), np.full((3, 2), 8.0))
    np.testing.assert_allclose(repo.load("lin", "1")(x), np.full((3, 2), 4.0))
    np.testing.assert_allclose(repo.load("lin", "canary")(x), np.full((3, 2), 8.0))
    assert repo.get("lin", "1")["labels"] == {"team": "ml"}
    assert all(not c["problems"] for c in repo.verify())


def test_a_tampered_or_missing_file_is_refused_naming_it(repo):
    repo.add("lin", linear(1.0), example_inputs=torch.zeros(1, 4))
    path = os.path.join(repo.get("lin", "1")["path"], "model.pt")
    with open(path, "ab") as f:
        f.write(b"!")
    with pytest.raises(mlship.FailedPreconditionError, match=path):
        repo.get("lin", "1")
    with pytest.raises(mlship.FailedPreconditionError, match="changed since it was added"):
        repo.load("lin")
    [check] = repo.verify()
    assert check["problems"] and path in check["problems"][0]
    os.remove(path)
    with pytest.raises(mlship.FailedPreconditionError, match="does not exist"):
        repo.get("lin", "1")


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", ".hidden", "", "x" * 129, "mlship-model"])
def test_names_that_could_leave_the_root_are_refused(repo, name):
    with pytest.raises(mlship.InvalidInputError, match="use 1-128 letters"):
        repo.add(name, linear(1.0), example_inputs=torch.zeros(1, 4))
    assert repo.list() == []


def test_a_plain_torchscript_file_needs_its_tensors_declared(repo, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(linear(3.0)), str(plain))
    with pytest.raises(mlship.ModelLoadError, match="--input NAME:DTYPE:DIMS"):
        repo.add("plain", str(plain))
    signature = mlship.Signature([mlship.TensorSpec("x", "FP32", (-1, 4))], [mlship.TensorSpec("y", "FP32", (-1, 2))])
    manifest = repo.add("plain", str(plain), signature=signature)
    assert manifest["signature"]["inputs"][0]["name"] == "x"
    with open(plain, "rb") as f, open(os.path.join(repo.get("plain")["path"], "model.pt"), "rb") as copy:
        assert f.read() == copy.read(), "copied as it is"
    np.testing.assert_allclose(repo.load("plain")(np.ones((1, 4), np.float32)), [[12.0, 12.0]])


def test_pickles_are_refused_and_never_unpickled(repo, tmp_path):
    pickled = tmp_path / "state.pt"
    torch.save(linear(1.0).state_dict(), str(pickled))
    with pytest.raises(mlship.ModelLoadError, match="torch.save"):
        repo.add("p", str(pickled))
    assert repo.list() == []


def test_settings_golden_and_reference_are_stored(repo):
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    manifest = repo.add("lin", linear(1.5), example_inputs=torch.zeros(1, 4), settings={"max_batch_size": 16},
                        golden=x, reference=x)
    assert manifest["settings"] == {"max_batch_size": 16}
    assert manifest["golden"]["inputs"] == ["golden/input_0.npy"]
    assert manifest["reference"] == "reference.npy"
    folder = repo.get("lin")["path"]
    np.testing.assert_allclose(np.load(os.path.join(folder, "golden", "output_0.npy")), x.sum(1, keepdims=True) * 1.5
                               * np.ones((1, 2)), rtol=1e-6)
    with pytest.raises(mlship.InvalidInputError, match=r"unknown option 'max_batch' \(settings=\); did you mean 'max_batch_size'"):
        repo.add("lin", linear(1.5), example_inputs=torch.zeros(1, 4), settings={"max_batch": 16})
    with pytest.raises(mlship.InvalidInputError, match="applies to the whole server"):
        repo.add("lin", linear(1.5), example_inputs=torch.zeros(1, 4), settings={"port": 1})


def test_aliases_move_and_pin_versions(repo):
    for scale in (1.0, 2.0):
        repo.add("lin", linear(scale), example_inputs=torch.zeros(1, 4))
    repo.set_alias("lin", "stable", "1")
    assert repo.aliases("lin") == {"stable": "1"}
    with pytest.raises(mlship.FailedPreconditionError, match="stable"):
        repo.remove("lin", "1")
    with pytest.raises(mlship.NotFoundError):
        repo.set_alias("lin", "stable", "9")
    repo.set_alias("lin", "stable", "2")
    repo.remove("lin", "1")
    assert repo.versions("lin") == ["2"]
    repo.set_alias("lin", "stable", None)
    assert repo.aliases("lin") == {}


CHILD = """
import sys, numpy as np, torch, mlship
repo = mlship.Repository(sys.argv[1])
big = np.zeros((64 << 20,), np.float32)  # 256 MB to copy: the parent kills this process meanwhile
repo.add("lin", torch.nn.Linear(4, 2), example_inputs=torch.zeros(1, 4), reference=big.reshape(-1, 4))
"""


def test_a_crash_during_add_leaves_no_half_version(repo):
    child = subprocess.Popen([sys.executable, "-c", CHILD, repo.root])
    model_dir = os.path.join(repo.root, "lin")
    deadline = time.monotonic() + 120
    staging_seen = False
    try:
        while time.monotonic() < deadline and child.poll() is None:  # bounded in time
            if os.path.isdir(model_dir) and any(n.startswith(".staging-") for n in os.listdir(model_dir)):
                staging_seen = True
                break
            time.sleep(0.002)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert staging_seen, "the add finished before it could be interrupted"
    assert repo.versions("lin") == [], "a killed add never leaves a version"
    assert repo.add("lin", linear(1.0), example_inputs=torch.zeros(1, 4))["version"] == "1"
    assert all(not c["problems"] for c in repo.verify())


def test_an_evaluation_report_is_stored_in_a_versions_metadata(repo):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    model = mlship.load(net, example_inputs=torch.zeros(1, 4))
    report = mlship.evaluate(model, X, y)
    repo.add("iris", model, metadata={"evaluation": report.to_dict()})
    stored = repo.get("iris")["metadata"]["evaluation"]
    assert stored["metrics"]["accuracy"] == pytest.approx(report.to_dict()["metrics"]["accuracy"])
