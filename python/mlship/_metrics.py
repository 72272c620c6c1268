"""Metrics for mlship.optimize: accuracy, macro F1, MSE, or the caller's own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The metric names mlship.optimize accepts (or a callable).
METRICS = ("accuracy", "f1", "mse")


@dataclass(frozen=True)
class Metric:
    """A metric and which way is better."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool

    def drop(self, baseline: float, value: float) -> float:
        """How much worse ``value`` is than ``baseline`` (positive = worse)."""
        return baseline - value if self.higher_is_better else value - baseline


def _labels(y_pred: np.ndarray) -> np.ndarray:
    # Class scores (one column per class): the argmax; a single column: the nearest label.
    if y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
        return y_pred.argmax(-1)
    return np.rint(y_pred.reshape(len(y_pred), -1)[:, 0]).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of rows whose predicted label (argmax of the scores) equals the label."""
    return float(np.mean(_labels(y_pred) == np.asarray(y_true).reshape(-1)))


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over the labels present in y_true or the predictions.

    Written here (a few lines of numpy) so scikit-learn stays a test-only dependency;
    it matches sklearn.metrics.f1_score(average="macro", zero_division=0).
    """
    truth = np.asarray(y_true).reshape(-1)
    pred = _labels(y_pred)
    scores = []
    for label in np.union1d(truth, pred):
        tp = np.sum((pred == label) & (truth == label))
        fp = np.sum((pred == label) & (truth != label))
        fn = np.sum((pred != label) & (truth == label))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error between the output and the targets (lower is better)."""
    truth = np.asarray(y_true, dtype=np.float64)
    return float(np.mean((np.asarray(y_pred, dtype=np.float64).reshape(truth.shape) - truth) ** 2))


def resolve(metric: Any) -> Metric:
    """The Metric for a name or a callable ``(y_true, y_pred) -> float`` (higher is better)."""
    if callable(metric):
        name = getattr(metric, "__name__", "metric")
        return Metric(name, lambda t, p: float(metric(t, p)), higher_is_better=True)
    table = {
        "accuracy": Metric("accuracy", accuracy, True),
        "f1": Metric("f1", f1_macro, True),
        "mse": Metric("mse", mse, False),
    }
    if metric not in table:
        raise ValueError(
            f"unknown metric {metric!r}; supported: {', '.join(repr(m) for m in METRICS)}, "
            "or a callable (y_true, y_pred) -> float where higher is better"
        )
    return table[metric]
