"""mlship.testing: assert_accuracy, assert_no_regression and measure_latency."""

from __future__ import annotations

import re

import models
import numpy as np
import pytest
import torch

import mlship
from mlship.testing import assert_accuracy, assert_no_regression, measure_latency


def test_assert_accuracy_returns_it_or_names_the_most_confident_mistakes(digits_model, digits):
    _, X, _, y = digits
    accuracy = assert_accuracy(digits_model, X, y, min=0.85)
    assert 0.85 <= accuracy < 1.0
    with pytest.raises(AssertionError) as info:
        assert_accuracy(digits_model, X, y, min=0.999)
    text = str(info.value)
    assert re.search(r"accuracy 0\.\d{4} is below min 0\.9990 on \d+ rows of mlship\.Model \(torchscript\) "
                     r"\(\d+ wrong\); most confident mistakes: row \d+ \(true \d, predicted \d, p=[01]\.\d\d\)", text)
    shown = [float(p) for p in re.findall(r"p=(\d\.\d\d)", text)]
    assert len(shown) == 5 and shown == sorted(shown, reverse=True)


def test_assert_no_regression_passes_within_max_drop_and_fails_naming_the_rows(digits_model, weak_model, digits):
    _, X, _, y = digits
    assert assert_no_regression(digits_model, weak_model, X, y) < 0  # the candidate is better: a negative drop
    assert assert_no_regression(digits_model, digits_model, X, y, metric="f1_macro") == 0
    with pytest.raises(AssertionError) as info:
        assert_no_regression(weak_model, digits_model, X, y, metric="accuracy", max_drop=0.01)
    text = str(info.value)
    assert re.search(r"accuracy regressed by 0\.\d{4} \(more than max_drop 0\.01\): candidate 0\.\d{4}, "
                     r"baseline 0\.\d{4} on \d+ rows; baseline right, candidate wrong: row \d+ \(true \d, "
                     r"candidate \d\)", text)


def test_assert_no_regression_on_a_lower_is_better_metric(digits):
    _, X, _, _ = digits
    target = X @ np.linspace(-1, 1, 64).astype(np.float32)
    exact = models.fixed_linear(torch.linspace(-1, 1, 64))
    worse = models.fixed_linear(torch.linspace(-1, 1, 64), bias=0.3)
    assert assert_no_regression(exact, worse, X, target, metric="mse") < 0
    with pytest.raises(AssertionError, match=r"mse regressed by 0\.09\d* .*largest growth of squared error: row \d+"):
        assert_no_regression(worse, exact, X, target, metric="mse", max_drop=0.05)
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        assert_no_regression(worse, exact, X, target, metric="auc")


def test_measure_latency_returns_figures_for_models_deployments_and_callables(digits_model, mlp, digits):
    x = digits[1][:1]
    ticks = iter(range(0, 10_000, 2))  # a fake clock: every call takes 2 "seconds"
    figures = measure_latency(digits_model, x, runs=5, warmup=1, clock=lambda: next(ticks) / 1000)
    assert figures["runs"] == 5 and figures["p50_ms"] == pytest.approx(2.0) and figures["calls_per_s"] == pytest.approx(500)
    with mlship.deploy(digits_model, http=False) as dep:
        assert measure_latency(dep, x, runs=20)["p99_ms"] > 0
    eager = measure_latency(mlp, torch.from_numpy(x), runs=20)
    assert set(eager) == {"runs", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "calls_per_s"}
    assert eager["min_ms"] <= eager["p50_ms"] <= eager["max_ms"]
    with pytest.raises(ValueError, match="runs must be >= 1"):
        measure_latency(digits_model, x, runs=0)
