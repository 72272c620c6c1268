"""mlship.compare: the paired bootstrap's verdict on a real difference and on none."""

from __future__ import annotations

import json

import models
import numpy as np
import pytest
import torch

import mlship
from mlship._compare_models import bootstrap_differences
from mlship._eval_metrics import Predictions

RESAMPLES = 200  # enough for a clear verdict on these sizes; keeps each compare under a few seconds


def _labels_only(truth: np.ndarray, correct: np.ndarray) -> Predictions:
    predicted = np.where(correct, truth, (truth + 1) % 10)
    return Predictions("classification", truth, predicted, None, 10)


def test_a_real_difference_is_better_one_way_and_worse_the_other(digits_model, weak_model, digits):
    _, X, _, y = digits
    result = mlship.compare(digits_model, weak_model, X, y, n_resamples=RESAMPLES)
    acc = result.differences["accuracy"]
    assert acc["difference"] == pytest.approx(result.candidate.metrics["accuracy"] - result.baseline.metrics["accuracy"])
    assert acc["ci_low"] > 0 and acc["ci_low"] <= acc["difference"] <= acc["ci_high"]
    assert result.verdict == "better"
    assert result.differences["log_loss"]["verdict"] == "better"  # lower is better, and it is lower
    assert 0 < result.disagreement < 1
    assert result.summary().startswith("candidate is better than baseline on accuracy: +")
    reverse = mlship.compare(weak_model, digits_model, X, y, n_resamples=RESAMPLES, metrics=["accuracy"])
    assert reverse.verdict == "worse" and reverse.differences["accuracy"]["ci_high"] < 0


def test_a_model_against_itself_shows_no_difference(digits_model, digits):
    _, X, _, y = digits
    result = mlship.compare(digits_model, digits_model, X, y, n_resamples=RESAMPLES)
    assert result.verdict == "no clear difference"
    assert all(d["verdict"] == "no clear difference" for d in result.differences.values())
    assert (result.differences["accuracy"]["ci_low"], result.differences["accuracy"]["ci_high"]) == (0.0, 0.0)
    assert result.disagreeing_rows == 0


def test_equal_accuracy_on_different_rows_is_no_clear_difference():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, 1000)
    a = _labels_only(truth, rng.random(1000) < 0.9)
    b = _labels_only(truth, rng.random(1000) < 0.9)
    (low, high), = bootstrap_differences(a, b, ["accuracy"], n_resamples=500, confidence=0.95, seed=0).values()
    assert low < 0 < high  # the two models disagree on ~18% of rows, yet neither is better


def test_a_seven_point_gain_on_a_thousand_rows_is_better():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 10, 1000)
    base = rng.random(1000) < 0.90
    better = base | (rng.random(1000) < 0.7)  # the same rows right, and most of the rest
    intervals = bootstrap_differences(_labels_only(truth, better), _labels_only(truth, base), ["accuracy"],
                                      n_resamples=500, confidence=0.95, seed=0)
    low, high = intervals["accuracy"]
    assert 0.04 < low < high < 0.12


def test_the_seed_makes_the_interval_reproducible():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 10, 300)
    a, b = _labels_only(truth, rng.random(300) < 0.8), _labels_only(truth, rng.random(300) < 0.85)
    def run(seed: int) -> dict:
        return bootstrap_differences(a, b, ["accuracy"], n_resamples=100, confidence=0.9, seed=seed)

    assert run(7) == run(7) and run(7) != run(8)


def test_regression_comparison_and_disagreement_through_the_shared_routine(digits):
    X_test = digits[1]
    target = X_test @ np.linspace(-1, 1, 64).astype(np.float32)
    weight = torch.linspace(-1, 1, 64)
    exact = models.fixed_linear(weight)
    noisy = models.fixed_linear(weight + 0.05 * torch.randn(64, generator=torch.Generator().manual_seed(0)))
    result = mlship.compare(exact, noisy, X_test, target, task="regression", n_resamples=RESAMPLES)
    assert result.metric == "mse" and result.verdict == "better"  # lower mse is better
    assert result.differences["r2"]["verdict"] == "better"
    assert result.rows_compared == len(target) and result.disagreement > 0.9
    same = mlship.compare(exact, exact, X_test, target, task="regression", n_resamples=RESAMPLES)
    assert same.disagreeing_rows == 0 and same.verdict == "no clear difference"


def test_report_forms(digits_model, weak_model, digits):
    _, X, _, y = digits
    result = mlship.compare(digits_model, weak_model, X[:200], y[:200], metrics=["accuracy", "f1_macro"],
                            metric="f1_macro", n_resamples=50)
    assert result.metric == "f1_macro"
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["kind"] == "mlship.comparison" and data["verdict"] == result.verdict
    assert data["candidate"]["metrics"]["accuracy"] == pytest.approx(result.candidate.metrics["accuracy"])
    frame = result.to_dataframe()
    assert list(frame.index) == ["accuracy", "f1_macro"] and "ci_low" in frame.columns
    text = str(result)
    assert "95% CI" in text and result.summary() in text and "\naccuracy " in text
    with pytest.raises(ValueError, match="metric='mse' is not among the metrics compared"):
        mlship.compare(digits_model, weak_model, X, y, metric="mse")
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        mlship.compare(digits_model, weak_model, X, y, confidence=95)
