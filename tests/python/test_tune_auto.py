"""deploy(tune="auto"), the default, and its repository form: a compute-bound model (a forward
pass of one request 1 ms or more) is measured before it is served, an overhead-bound one is
served with the defaults after a few forward passes; given settings win; a repository keeps the
result so a restart does not measure again. The decision on injected forward times and
measurements; real deploys of a ResNet-style CNN and an MLP; the command line."""

from __future__ import annotations

import subprocess
import sys

import architectures
import numpy as np
import pytest
import torch
from server_process import start, stop
from test_tune import FakeClock, fake_measure, mlp_model

import mlship
from mlship import _tune

GRID = {(i, t, b): (100.0 * i + 10 * b, 5.0) for i in (1, 2) for t in (0, 1, 2) for b in (1, 8, 32)}
FAST = {"instances": 2, "intra_op_threads": 1, "max_batch_size": 32}  # the best req/s of GRID on 2 cores


def _auto(options, forward_ms, **kwargs):
    measure = fake_measure(GRID)
    result, note = _tune.at_deploy(mlp_model()[0], None, "auto", options, probe=lambda inputs: forward_ms,
                                   measure=measure, clock=FakeClock(), latency_budget_ms=10, **kwargs)
    return result, note, measure.seen


def test_the_threshold_is_the_one_auto_threads_widen_from():
    assert _tune.compute_bound_forward_ms() == pytest.approx(1.0)


def test_auto_measures_a_compute_bound_model_and_serves_the_choice(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    options = {"max_delay_ms": 2.0}
    result, note, seen = _auto(options, forward_ms=12.5)
    assert result is not None and len(seen) == len(_tune.default_candidates(2))
    assert result.settings == FAST and {k: options[k] for k in FAST} == FAST
    assert options["max_delay_ms"] == 2.0
    assert note.startswith("tuned: a forward pass of one request takes 12.50 ms (compute-bound); measured "
                           f"{len(seen)} settings in ") and "chosen instances=2 intra_op_threads=1 max_batch_size=32" in note
    assert result.budget_s == _tune.AUTO_BUDGET_S


def test_auto_leaves_an_overhead_bound_model_to_the_defaults():
    options = {}
    result, note, seen = _auto(options, forward_ms=0.08)
    assert result is None and seen == [] and options == {}
    assert note == "not tuned: a forward pass of one request takes 0.08 ms, under 1 ms (overhead-bound): the defaults serve it"


def test_given_settings_are_held_and_all_three_given_measure_nothing(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    options = {"instances": 1}
    result, _, seen = _auto(options, forward_ms=5.0)
    assert {s["instances"] for s in seen} == {1} and options["instances"] == 1
    assert result.settings["max_batch_size"] == 32 and options["max_batch_size"] == 32
    options = {"instances": 1, "intra_op_threads": 2, "max_batch_size": 8}
    result, note, seen = _auto(options, forward_ms=5.0)
    assert result is None and seen == [] and note == "not tuned: instances, intra_op_threads and max_batch_size were given"


def test_off_and_bad_modes():
    options = {}
    assert _tune.at_deploy(mlp_model()[0], None, False, options) == (None, "not tuned: tune=False")
    with pytest.raises(ValueError, match="tune must be 'auto', True, False or a dict of mlship.tune"):
        _tune.at_deploy(mlp_model()[0], None, "always", options)


def test_a_failing_probe_serves_untuned_and_says_why():
    result, note = _tune.at_deploy(mlp_model()[0], None, "auto", {}, probe=lambda inputs: 1 / 0)
    assert result is None and note == "not tuned: a forward pass of one example request failed: division by zero"


def test_a_sequence_model_needs_example_inputs():
    class Lengths(torch.nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return ids.float().sum(1, keepdim=True)

    ids = torch.zeros(1, 7, dtype=torch.int64)
    model = mlship.load(Lengths(), example_inputs=ids,
                        signature=mlship.Signature([mlship.TensorSpec("ids", "INT64", (-1, -1))],
                                                   [mlship.TensorSpec("total", "FP32", (-1, 1))]))
    result, note = _tune.at_deploy(model, None, "auto", {})
    assert result is None and "needs example_inputs (one request)" in note
    result, note = _tune.at_deploy(model, ids, "auto", {})
    assert result is None and "not tuned: a forward pass of one request takes" in note


def _cnn():
    torch.manual_seed(0)
    net = architectures.ResNetSmall().eval()
    image = torch.rand(1, 1, 64, 64)
    return mlship.load(net, example_inputs=image), image


def test_deploy_tunes_a_real_cnn_by_default_and_not_an_mlp(monkeypatch):
    monkeypatch.setattr(_tune, "AUTO_BUDGET_S", 1.5)
    model, image = _cnn()
    with mlship.deploy(model, http=False) as dep:
        assert isinstance(dep.tuning, mlship.TuneResult), dep.tuning_note
        assert dep.tuning.budget_s == 1.5 and dep.tuning_note.startswith("tuned: a forward pass of one request takes")
        assert {k: dep.settings[k] for k in dep.tuning.settings} == dep.tuning.settings
        np.testing.assert_allclose(dep.predict(image.numpy()), model(image.numpy()), rtol=1e-4, atol=1e-5)
    with mlship.deploy(model, http=False, tune=False) as dep:
        assert dep.tuning is None and dep.tuning_note == "not tuned: tune=False"
    mlp, x = mlp_model()
    with mlship.deploy(mlp, http=False) as dep:
        assert dep.tuning is None and "(overhead-bound): the defaults serve it" in dep.tuning_note


def test_a_repository_keeps_the_result_and_a_restart_does_not_measure(monkeypatch, tmp_path):
    monkeypatch.setattr(_tune, "AUTO_BUDGET_S", 1.5)
    root = str(tmp_path / "models")
    repo = mlship.Repository(root)
    cnn, image = _cnn()
    repo.add("cnn", cnn)
    repo.set_settings("cnn", version_policy="latest:1")
    repo.add("mlp", mlp_model()[0])
    with mlship.serve(root, http=False) as server:
        notes = dict(note.split(": ", 1) for note in server.tuning_notes)
        settings = repo.settings("cnn")
        stored = {k: settings[k] for k in _tune.PER_MODEL_KEYS}
        assert notes["cnn"].startswith("tuned: a forward pass of one request takes")
        assert notes["cnn"].endswith(f"; stored {stored} in its settings") and settings["version_policy"] == "latest:1"
        assert "(overhead-bound)" in notes["mlp"] and repo.settings("mlp") == {}
        served = server._core.settings("cnn", "")
        assert all(f'"{k}":{v}' in served.replace(" ", "") for k, v in stored.items()), served
        np.testing.assert_allclose(server.predict("cnn", image.numpy()), cnn(image.numpy()), rtol=1e-4, atol=1e-5)
    with mlship.serve(root, http=False) as server:
        assert server.tuning_notes[0] == "cnn: not tuned: its settings hold intra_op_threads, max_batch_size"
    # A setting the server is given is not stored: it stays the server's to change.
    repo.set_settings("cnn")
    with mlship.serve(root, http=False, max_batch_size=4) as server:
        assert "stored {'intra_op_threads':" in server.tuning_notes[0]
        assert set(repo.settings("cnn")) == {"intra_op_threads"}
    with mlship.serve(root, http=False, tune=False) as server:
        assert server.tuning_notes == []


def test_the_command_line_says_what_it_tuned(tmp_path):
    path = str(tmp_path / "mlp.pt")
    mlp_model()[0].save(path)
    seen: list[str] = []
    proc, _ = start([sys.executable, "-m", "mlship", "serve", path, "--port", "0"], seen=seen)
    try:
        assert any("mlship serve: not tuned: a forward pass of one request takes" in line for line in seen), seen
    finally:
        stop(proc)
    proc, _ = start([sys.executable, "-m", "mlship", "serve", path, "--port", "0", "--tune", "off"], seen=seen)
    try:
        assert "mlship serve: not tuned: tune=False\n" in seen
    finally:
        stop(proc)
    bad = subprocess.run([sys.executable, "-m", "mlship", "serve", path, "--tune", "sometimes"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice: 'sometimes'" in bad.stderr
