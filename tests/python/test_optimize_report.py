"""mlship.optimize: candidates, the report, the accuracy guard, metrics and bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

import mlship
from mlship import _metrics

METHODS = ["original", "int8", "fp16", "bf16", "prune", "low_rank", "low_rank+int8", "prune+int8"]


@pytest.fixture(scope="module")
def loaded(mlp, digits) -> mlship.Model:
    return mlship.load(mlp, example_inputs=digits[1][:1])


@pytest.fixture(scope="module")
def report(loaded, digits) -> mlship.OptimizationReport:
    _, X_test, _, y_test = digits
    return mlship.optimize(loaded, validation=(X_test, y_test), max_drop=0.01, progress=False, latency_runs=5)


def test_every_technique_and_combination_gets_a_row(report):
    assert [c.method for c in report.candidates] == METHODS
    for c in report.candidates:
        assert c.model is not None, c.note
        assert c.size_bytes > 0 and c.latency_b1_ms > 0 and c.latency_b32_ms > 0
        assert 0.0 <= c.metric <= 1.0


def test_the_original_row_is_the_baseline(report, loaded, digits):
    original = report.candidates[0]
    assert original.model is loaded
    assert original.drop == 0.0 and original.max_abs_diff == 0.0 and original.ok
    _, X_test, _, y_test = digits
    assert original.metric == pytest.approx(float(np.mean(loaded(X_test).argmax(1) == y_test)))


def test_best_is_the_fastest_candidate_within_the_budget(report):
    eligible = [c for c in report.candidates if c.ok]
    assert all(c.drop <= 0.01 + 1e-12 for c in eligible)
    assert all(not c.ok for c in report.candidates if c.drop > 0.01 + 1e-12)
    fastest = min(eligible, key=lambda c: (c.latency_b1_ms, c.size_bytes))
    assert report.best_method == fastest.method
    assert report.best is fastest.model
    assert report.reason


def test_sizes_shrink_as_the_techniques_promise(report):
    rows = {r["method"]: r for r in report.rows()}
    assert rows["original"]["size_x"] == 1.0
    assert rows["int8"]["size_x"] < 0.3
    assert 0.4 < rows["fp16"]["size_x"] < 0.6
    assert rows["prune+int8"]["size_x"] < rows["prune"]["size_x"] < 1.0
    assert rows["low_rank+int8"]["size_x"] < rows["low_rank"]["size_x"] < 1.0


def test_notes_say_which_kernel_or_compute_was_chosen(report):
    notes = {c.method: c.note for c in report.candidates}
    assert notes["int8"].startswith("int8 kernel: ")
    assert notes["bf16"].startswith("bf16 compute: ")
    assert notes["prune"] == "neurons 512 -> 256"
    assert report.to_dict()["details"]["int8"]["int8"]["technique"] == "int8"


def test_report_prints_as_a_table(report):
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["method", "size", "MB", "size"]
    assert [line.split()[0] for line in lines[1:len(METHODS) + 1]] == METHODS
    assert f"best: {report.best_method} (" in text
    assert "cpu: bf16:" in text
    assert repr(report).startswith("OptimizationReport(best=")


def test_to_dict_is_json_and_has_the_columns(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["columns"] == list(mlship._report.COLUMNS)
    assert [r["method"] for r in data["rows"]] == METHODS
    assert set(data["rows"][0]) == set(data["columns"])
    assert data["best"] == report.best_method and data["metric"] == "accuracy" and data["max_drop"] == 0.01


def test_to_dataframe_has_one_row_per_candidate(report):
    frame = report.to_dataframe()
    assert list(frame.index) == METHODS
    assert list(frame.columns) == list(mlship._report.COLUMNS[1:])
    assert frame.loc["original", "b1_x"] == 1.0


def test_to_dataframe_without_pandas_says_how_to_get_it(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"needs pandas.*pip install pandas"):
        report.to_dataframe()


def test_the_best_model_saves_and_deploys_like_any_model(report, digits, tmp_path):
    _, X_test, _, _ = digits
    path = tmp_path / "best.pt"
    report.best.save(str(path))
    np.testing.assert_array_equal(mlship.load(path)(X_test[:8]), report.best(X_test[:8]))


def test_the_original_is_best_when_no_candidate_keeps_the_metric(loaded, digits):
    _, X_test, _, y_test = digits
    exact = loaded(X_test)

    def identical(y_true, y_pred):  # 1 only for outputs bit-identical to the original's
        return float(np.array_equal(y_pred.astype(np.float32), exact))

    report = mlship.optimize(loaded, validation=(X_test, y_test), metric=identical, max_drop=0.5,
                             methods=("int8", "prune"), progress=False, latency_runs=2)
    assert report.best_method == "original"
    assert report.best is loaded
    assert report.reason.startswith("no candidate kept identical within max_drop 0.5")
    assert [c.ok for c in report.candidates] == [True, False, False, False]


def test_a_model_with_nothing_to_optimize_keeps_the_original(digits):
    class NoLinear(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :10] * 2.0

    _, X_test, _, y_test = digits
    model = mlship.load(NoLinear(), example_inputs=X_test[:1])
    report = mlship.optimize(model, validation=(X_test, y_test), progress=False, latency_runs=2)
    assert report.best_method == "original"
    assert report.reason == "no technique applied to this model"
    notes = {c.method: c.note for c in report.candidates[1:]}
    assert notes["int8"].startswith("int8: nothing to quantize")
    assert notes["prune"].startswith("prune: nothing to prune")
    assert notes["low_rank"].startswith("low_rank: nothing to factor")
    assert all(c.model is None and not c.ok for c in report.candidates[1:])


def test_an_nn_module_is_loaded_with_example_inputs(mlp, digits):
    _, X_test, _, y_test = digits
    report = mlship.optimize(mlp, example_inputs=X_test[:1], validation=(X_test, y_test), methods=["prune"],
                             progress=False, latency_runs=2)
    assert [c.method for c in report.candidates] == ["original", "prune"]


@pytest.mark.parametrize(("metric", "name", "worse_is_higher"), [("f1", "f1", False), ("mse", "mse", True)])
def test_f1_and_mse_metrics(loaded, digits, metric, name, worse_is_higher):
    _, X_test, _, y_test = digits
    targets = y_test if metric == "f1" else loaded(X_test)  # mse against the original's own outputs
    report = mlship.optimize(loaded, validation=(X_test, targets), metric=metric, max_drop=1.0,
                             methods=("prune",), progress=False, latency_runs=2)
    original, pruned = report.candidates
    assert report.metric_name == name
    if worse_is_higher:
        assert original.metric == 0.0 and pruned.metric > 0.0 and pruned.drop == pruned.metric
    else:
        assert original.metric == pytest.approx(f1_score(y_test, loaded(X_test).argmax(1), average="macro"))
        assert pruned.drop == pytest.approx(original.metric - pruned.metric)


def test_f1_matches_scikit_learn_on_uneven_labels():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 200)
    scores = rng.normal(size=(200, 5))  # predicts a class (4) that never occurs
    ours = _metrics.f1_macro(truth, scores)
    assert ours == pytest.approx(f1_score(truth, scores.argmax(1), average="macro", zero_division=0))


def test_progress_bar_shows_candidates(loaded, digits, capsys):
    _, X_test, _, y_test = digits
    mlship.optimize(loaded, validation=(X_test[:40], y_test[:40]), methods=("prune",), latency_runs=1)
    err = capsys.readouterr().err
    assert "mlship.optimize" in err and "3/3" in err, "original, prune, then the timing rounds"


def test_candidates_are_timed_alternately_so_a_slow_spell_hits_each_alike():
    """A fake machine that runs three times slower for its first 42 time units: timed one
    after the other, the first of two equal candidates would read three times slower; timed in
    alternating rounds, the medians agree, and a candidate that really costs twice as much
    reads twice as slow."""
    now = [0.0]

    def costing(units: float):
        def call() -> None:
            now[0] += units * (3.0 if now[0] < 42.0 else 1.0)
        return call

    a, b = mlship._optimize.interleaved_ms([costing(1.0), costing(1.0)], runs=10, clock=lambda: now[0])
    assert a == pytest.approx(b)
    now[0] = 0.0
    one, two = mlship._optimize.interleaved_ms([costing(1.0), costing(2.0)], runs=10, clock=lambda: now[0])
    assert two / one == pytest.approx(2.0)


def test_no_progress_bar_when_turned_off(loaded, digits, capsys):
    _, X_test, _, y_test = digits
    mlship.optimize(loaded, validation=(X_test[:40], y_test[:40]), methods=("prune",), latency_runs=1,
                    progress=False)
    assert "mlship.optimize" not in capsys.readouterr().err


# --- bad input ---


def test_unknown_method_lists_the_supported_ones(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(ValueError, match=r"unknown method 'int4'; supported: 'int8', 'fp16', 'bf16', 'prune', "
                                         r"'low_rank'"):
        mlship.optimize(loaded, validation=(X_test, y_test), methods=("int8", "int4"))


def test_unknown_method_inside_a_combination(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(ValueError, match=r"unknown method 'distill'"):
        mlship.optimize(loaded, validation=(X_test, y_test), methods=("prune+distill",))


def test_unknown_metric_lists_the_supported_ones(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(ValueError, match=r"unknown metric 'auc'; supported: 'accuracy', 'f1', 'mse'"):
        mlship.optimize(loaded, validation=(X_test, y_test), metric="auc")


def test_validation_of_the_wrong_shape_names_both(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(mlship.InvalidInputError,
                       match=r"validation X for input 'x' has shape \(450, 63\) but the model's signature "
                             r"expects \[-1, 64\]"):
        mlship.optimize(loaded, validation=(X_test[:, :63], y_test))


def test_validation_of_the_wrong_rank_names_both(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(mlship.InvalidInputError, match=r"shape \(450, 8, 8\) .* expects \[-1, 64\]"):
        mlship.optimize(loaded, validation=(X_test.reshape(-1, 8, 8), y_test))


def test_labels_of_the_wrong_length_name_both(loaded, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(mlship.InvalidInputError, match=r"labels y have 449 rows but X has 450 rows"):
        mlship.optimize(loaded, validation=(X_test, y_test[:-1]))


def test_validation_must_be_a_pair(loaded, digits):
    with pytest.raises(mlship.InvalidInputError, match=r"validation must be a pair \(X, y\)"):
        mlship.optimize(loaded, validation=digits[1])


@pytest.mark.parametrize("max_drop", [-0.1, "1%"])
def test_bad_max_drop(loaded, digits, max_drop):
    _, X_test, _, y_test = digits
    with pytest.raises(ValueError, match="max_drop must be a number >= 0; got " + repr(max_drop)):
        mlship.optimize(loaded, validation=(X_test, y_test), max_drop=max_drop)


@pytest.mark.slow
def test_a_pt2_package_is_refused_before_any_work(pt2_zoo, digits):
    _, X_test, _, y_test = digits
    with pytest.raises(mlship.FailedPreconditionError, match=r"\.pt2.*Optimize the torch.nn.Module"):
        mlship.optimize(pt2_zoo["mlp"], validation=(X_test, y_test))
