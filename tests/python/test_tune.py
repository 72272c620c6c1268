"""mlship.tune / deploy(tune=True) / `mlship tune`: the selection on injected measurements and a
fake clock, real short tunes on an MLP and a CNN, the command line, and the repository round trip
(tuned settings stored in mlship-model.json and used by both servers after a restart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from http_helpers import request
from server_process import server_command, start, stop

import mlship
from mlship._tune import default_candidates, default_setting, store_in_repository

TUNE = [sys.executable, "-m", "mlship", "tune"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fake_measure(figures: dict[tuple[int, int, int], tuple[float, float]], clock: FakeClock | None = None,
                 cost_s: float = 1.0):
    """A measurement that answers ``figures[(instances, threads, batch)] = (req/s, p99 ms)``
    and advances ``clock`` by ``cost_s`` per candidate."""
    seen = []

    def measure(settings):
        seen.append(settings)
        if clock is not None:
            clock.now += cost_s
        rps, p99 = figures[(settings["instances"], settings["intra_op_threads"], settings["max_batch_size"])]
        return {"requests_per_s": rps, "p50_ms": p99 / 2, "p99_ms": p99, "requests": 100, "errors": 0}

    measure.seen = seen
    return measure


CANDIDATES = [{"instances": 1, "intra_op_threads": 0, "max_batch_size": 32},
              {"instances": 2, "intra_op_threads": 1, "max_batch_size": 8},
              {"instances": 1, "intra_op_threads": 2, "max_batch_size": 1},
              {"instances": 2, "intra_op_threads": 1, "max_batch_size": 32}]
FIGURES = {(1, 0, 32): (500.0, 40.0), (2, 1, 8): (900.0, 30.0), (1, 2, 1): (700.0, 12.0), (2, 1, 32): (1000.0, 80.0)}


def test_picks_the_best_throughput_within_the_latency_budget():
    result = mlship.tune(None, budget_s=10, latency_budget_ms=50, candidates=CANDIDATES,
                         measure=fake_measure(FIGURES), clock=FakeClock())
    assert result.settings == {"instances": 2, "intra_op_threads": 1, "max_batch_size": 8}  # 1000 req/s has p99 80
    assert [r.settings for r in result.rows] == CANDIDATES and not result.skipped
    assert [r.within_budget for r in result.rows] == [True, True, True, False]
    assert result.chosen is result.rows[1] and result.default is result.rows[0]
    assert result.speedup == pytest.approx(900 / 500)
    assert "best req/s with p99 <= 50 ms" in result.reason
    table = result.table()
    assert table.splitlines()[0].split()[:6] == ["instances", "threads", "max_batch", "req/s", "p50", "ms"]
    assert len([line for line in table.splitlines() if line[:1].isdigit()]) == 4
    assert "default" in table and "chosen" in table and "over budget" in table and "1.80x req/s" in table
    assert json.loads(json.dumps(result.to_dict()))["settings"] == result.settings


def test_picks_the_lowest_p99_without_a_budget_or_when_none_meets_it():
    free = mlship.tune(None, candidates=CANDIDATES, measure=fake_measure(FIGURES), clock=FakeClock())
    assert free.settings == CANDIDATES[2] and "lowest p99; no latency_budget_ms" in free.reason
    tight = mlship.tune(None, latency_budget_ms=5, candidates=CANDIDATES, measure=fake_measure(FIGURES),
                        clock=FakeClock())
    assert tight.settings == CANDIDATES[2] and "no candidate kept p99 <= 5 ms" in tight.reason
    assert not any(r.within_budget for r in tight.rows)


def test_a_failing_setting_is_never_chosen():
    def measure(settings):
        if settings["instances"] == 2:
            return {"requests_per_s": 5000.0, "p50_ms": 0.1, "p99_ms": 0.2, "requests": 10, "errors": 3}
        return {"requests_per_s": 10.0, "p50_ms": 1.0, "p99_ms": 2.0, "requests": 10, "errors": 0}

    result = mlship.tune(None, candidates=CANDIDATES, measure=measure, clock=FakeClock())
    assert result.settings["instances"] == 1 and "failed" in result.table()


def test_the_search_stops_within_budget_s_and_reports_what_it_measured():
    clock = FakeClock()
    measure = fake_measure(FIGURES, clock, cost_s=3.0)
    result = mlship.tune(None, budget_s=10, candidates=CANDIDATES, measure=measure, clock=clock)
    # 0, 3, 6 started (6 + 3 <= 10); at 9 the longest candidate (3 s) would overrun the budget.
    assert len(measure.seen) == 3 and [r.settings for r in result.rows] == CANDIDATES[:3]
    assert result.skipped == CANDIDATES[3:] and result.elapsed_s == 9.0 <= result.budget_s
    assert result.settings == CANDIDATES[2] and "not measured (1): budget_s=10 ran out" in result.table()
    # The first candidate is always measured, even past the budget.
    one = mlship.tune(None, budget_s=0.5, candidates=CANDIDATES, measure=fake_measure(FIGURES, clock, 3.0),
                      clock=clock)
    assert len(one.rows) == 1 and len(one.skipped) == 3 and one.settings == CANDIDATES[0]


def test_default_candidates_fill_the_cores_without_oversubscribing_them():
    two = default_candidates(cores=2)
    # 0 is "auto" (one thread, widened to cores / instances for a compute-bound model)
    assert two[0] == default_setting() == {"instances": 1, "intra_op_threads": 0, "max_batch_size": 32}
    assert {(c["instances"], c["intra_op_threads"]) for c in two} == {(1, 0), (1, 1), (1, 2), (2, 1)}
    assert {c["max_batch_size"] for c in two} == {1, 8, 32} and len(two) == 10 == len({json.dumps(c) for c in two})
    sixteen = default_candidates(cores=16)
    assert all(8 <= c["instances"] * c["intra_op_threads"] <= 16 for c in sixteen[1:])
    held = default_candidates(cores=16, fixed={"instances": 2, "max_batch_size": 8})
    assert {(c["instances"], c["max_batch_size"]) for c in held} == {(2, 8)}
    assert {c["intra_op_threads"] for c in held} == {0, 4, 8}  # 0 (auto) is the default setting, first
    # Explicit candidates are completed with the defaults; held keys override them.
    result = mlship.tune(None, candidates=[{"max_batch_size": 8}, {"max_batch_size": 8, "instances": 2}],
                         fixed={"instances": 1}, measure=fake_measure({(1, 0, 8): (1.0, 1.0)}), clock=FakeClock())
    assert [r.settings for r in result.rows] == [{"instances": 1, "intra_op_threads": 0, "max_batch_size": 8}]
    with pytest.raises(ValueError, match="candidates may set only"):
        mlship.tune(None, candidates=[{"max_delay_ms": 1}], measure=fake_measure({}))


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc = torch.nn.Linear(32 * 8 * 8, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv1(image)), 2)
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc(h.flatten(1))


def mlp_model() -> tuple[mlship.Model, torch.Tensor]:
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).eval()
    x = torch.rand(1, 64)
    return mlship.load(net, example_inputs=x), x


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_real_short_tune_measures_every_candidate_and_chooses_among_them(kind):
    if kind == "mlp":
        model, x = mlp_model()
    else:
        x = torch.rand(1, 3, 32, 32)
        model = mlship.load(SmallCNN().eval(), example_inputs=x)
    candidates = default_candidates()
    result = mlship.tune(model, budget_s=2.0, concurrency=8)
    assert len(result.rows) + len(result.skipped) == len(candidates)
    assert [r.settings for r in result.rows] + result.skipped == candidates
    assert result.default is result.rows[0] and result.chosen in result.rows
    assert result.settings == result.chosen.settings
    for row in result.rows:
        assert row.requests > 0 and row.errors == 0 and row.requests_per_s > 0
        assert 0 < row.p50_ms <= row.p99_ms
    assert result.elapsed_s > 0 and str(result) == result.table()


def test_deploy_with_tune_serves_the_chosen_setting_and_explicit_settings_win():
    model, x = mlp_model()
    rows = np.random.default_rng(1).random((5, 64), dtype=np.float32)
    with mlship.deploy(model, http=False, tune={"budget_s": 1.0, "concurrency": 4}) as dep:
        assert isinstance(dep.tuning, mlship.TuneResult)
        assert {k: dep.settings[k] for k in dep.tuning.settings} == dep.tuning.settings
        np.testing.assert_allclose(dep.predict(rows), model(rows), rtol=1e-5, atol=1e-6)
    with mlship.deploy(model, http=False, instances=1, max_batch_size=4, tune={"budget_s": 1.0, "concurrency": 4},
                       example_inputs=x) as dep:
        assert {(r.settings["instances"], r.settings["max_batch_size"]) for r in dep.tuning.rows} == {(1, 4)}
        assert dep.settings["instances"] == 1 and dep.settings["max_batch_size"] == 4
        np.testing.assert_allclose(dep.predict(rows), model(rows), rtol=1e-5, atol=1e-6)
    with mlship.deploy(model, http=False) as dep:
        assert dep.tuning is None and dep.settings["max_batch_size"] == 32


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> str:
    model, _ = mlp_model()
    path = str(tmp_path_factory.mktemp("tune") / "mlp.pt")
    model.save(path)
    return path


def test_the_command_line_prints_the_table_and_the_setting(saved, tmp_path):
    out = tmp_path / "tune.json"
    done = subprocess.run([*TUNE, saved, "--budget-s", "1", "--latency-budget-ms", "1000", "--concurrency", "4",
                           "--max-delay-ms", "0", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["latency_budget_ms"] == 1000 and result["concurrency"] == 4
    assert result["chosen"]["settings"] == result["settings"]
    s = result["settings"]
    assert "instances  threads  max_batch  req/s" in done.stdout
    assert (f"serve with: mlship serve {saved} --instances {s['instances']} --intra-op-threads "
            f"{s['intra_op_threads']} --max-batch-size {s['max_batch_size']}") in done.stdout
    held = subprocess.run([*TUNE, saved, "--budget-s", "1", "--instances", "1", "--max-batch-size", "8"],
                          capture_output=True, text=True, timeout=120)
    assert held.returncode == 0, held.stderr
    assert "chosen: instances=1 intra_op_threads=" in held.stdout and "max_batch_size=8 (" in held.stdout
    missing = subprocess.run([*TUNE, "nope.pt"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = subprocess.run([*TUNE, saved, "--max-queue-size", "3"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unrecognized arguments: --max-queue-size" in unknown.stderr


def test_tuned_settings_are_stored_in_the_repository_and_used_after_a_restart(saved, tmp_path):
    root = str(tmp_path / "models")
    repo = mlship.Repository(root)
    repo.add("mlp", saved)
    repo.set_settings("mlp", version_policy="latest:2")
    done = subprocess.run([*TUNE, "mlp", "--repository", root, "--budget-s", "1", "--concurrency", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stored = repo.settings("mlp")
    assert stored["version_policy"] == "latest:2" and set(stored) == {"version_policy", "intra_op_threads",
                                                                       "max_batch_size"}
    assert f"stored in {root}/mlp/mlship-model.json" in done.stdout and "serve with --instances" in done.stdout
    # Every row ran at the server's instances: the workers are shared by every model of a server.
    assert {line.split()[0] for line in done.stdout.splitlines() if line[:1].isdigit()} == {
        str(default_setting()["instances"])}

    # A stored non-default setting: a restarted server serves with it, without measuring.
    result = mlship.tune(None, candidates=[{"max_batch_size": 8, "intra_op_threads": 2}],
                         measure=fake_measure({(1, 2, 8): (1.0, 1.0)}), clock=FakeClock())
    assert store_in_repository(repo, "mlp", result) == {"intra_op_threads": 2, "max_batch_size": 8}
    with mlship.serve(root, http=False) as server:
        settings = json.loads(server._core.settings("mlp", ""))
        assert settings["max_batch_size"] == 8 and settings["intra_op_threads"] == 2
        x = np.random.default_rng(2).random((3, 64), dtype=np.float32)
        np.testing.assert_allclose(server.predict("mlp", x), repo.load("mlp")(x), rtol=1e-5, atol=1e-6)
    proc, url = start([*server_command("native"), "--repository", root, "--port", "0"], env=dict(os.environ))
    try:
        status, config, _ = request(url, "GET", "/v2/models/mlp/config")
        assert status == 200 and config["max_batch_size"] == 8
    finally:
        stop(proc)
