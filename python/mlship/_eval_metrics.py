"""The figures of mlship.evaluate, computed with scikit-learn on one set of predictions.

:class:`Predictions` holds what a model said about each row (labels, class probabilities, or
values) next to the truth; :func:`compute` turns it into named metrics. The same functions
serve the whole data set, each slice, and every bootstrap resample of mlship.compare, so a
figure means the same thing everywhere.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlship._errors import InvalidInputError

Task = Literal["classification", "regression"]

#: Metric name -> whether higher is better, per task, in report order.
CLASSIFICATION_METRICS: dict[str, bool] = {
    "accuracy": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "roc_auc": True,
    "log_loss": False,
    "ece": False,
}
REGRESSION_METRICS: dict[str, bool] = {"mse": False, "mae": False, "r2": True}
METRICS_BY_TASK: dict[str, dict[str, bool]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}
#: Metrics that need class probabilities (a model that outputs labels has none).
NEEDS_PROBABILITIES = ("roc_auc", "log_loss", "ece")
#: Bins of the calibration curve and of the expected calibration error.
CALIBRATION_BINS = 10


def sklearn_metrics() -> Any:
    """``sklearn.metrics``, or an ImportError that says how to get it."""
    try:
        import sklearn.metrics
    except ImportError:
        raise ImportError(
            "mlship.evaluate uses scikit-learn's metrics, which is not installed; "
            "run `pip install scikit-learn` (or `pip install mlship[evaluate]`)"
        ) from None
    return sklearn.metrics


@dataclass
class Predictions:
    """What a model predicted for each row, beside the truth.

    Attributes
    ----------
    task : "classification" or "regression"
    y_true : array
        Class indices (int64, shape [n]) or targets (float64, [n] or [n, k]).
    predicted : array
        Predicted class indices, or predicted values shaped like ``y_true``.
    probabilities : array or None
        [n, classes] class probabilities; None for a model that outputs labels, and for regression.
    n_classes : int
        Classes the model can produce (0 for regression).
    """

    task: Task
    y_true: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None = None
    n_classes: int = 0

    def __len__(self) -> int:
        return len(self.y_true)

    def subset(self, rows: np.ndarray) -> Predictions:
        """The rows selected by a boolean mask or an index array."""
        return Predictions(self.task, self.y_true[rows], self.predicted[rows],
                           None if self.probabilities is None else self.probabilities[rows], self.n_classes)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _integral_labels(y: np.ndarray, what: str) -> np.ndarray:
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and not (np.all(np.isfinite(y)) and np.all(y == np.rint(y))):
        raise InvalidInputError(f"{what} must hold class indices (integers 0..classes-1) for "
                                f"task='classification'; it holds non-integer values such as {y[y != np.rint(y)][:3]}")
    return y.astype(np.int64)


def classification_predictions(y: np.ndarray, output: np.ndarray, scores: str, n_classes: int | None = None
                               ) -> tuple[Predictions, str]:
    """Turns one model output into class predictions and probabilities.

    ``scores`` says what the output holds: ``"auto"`` decides from the data (integers are labels;
    a float matrix whose rows are in [0, 1] and sum to 1 holds probabilities, any other float matrix
    logits; one float column is a binary score, a probability when in [0, 1], else a logit),
    or ``"probabilities"``, ``"logits"``, ``"labels"``. Returns the predictions and what was decided.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InvalidInputError(f"y must be one class index per row for task='classification'; got shape {y.shape}")
    y = _integral_labels(y, "y")
    n = len(y)
    out = output.reshape(n, -1) if output.ndim > 1 else output.reshape(n, 1)
    if scores == "auto":
        if out.dtype.kind in "biu":
            scores = "labels"
        elif out.shape[1] >= 2:
            rows_are_distributions = (np.all((out >= 0) & (out <= 1))
                                      and np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
            scores = "probabilities" if rows_are_distributions else "logits"
        else:
            scores = "probabilities" if np.all((out >= 0) & (out <= 1)) else "logits"
    if scores not in ("labels", "probabilities", "logits"):
        raise ValueError(f"scores must be 'auto', 'probabilities', 'logits' or 'labels'; got {scores!r}")
    probabilities = None
    if scores == "labels":
        if out.shape[1] != 1:
            raise InvalidInputError(f"scores='labels' needs one label per row; the output has shape {output.shape}")
        predicted = _integral_labels(out[:, 0], "the model's output")
        classes = n_classes or int(max(predicted.max(initial=0), y.max(initial=0)) + 1)
    else:
        scores_f = out.astype(np.float64)
        if scores_f.shape[1] == 1:  # one column: the positive class of a binary classifier
            p1 = scores_f[:, 0] if scores == "probabilities" else 1.0 / (1.0 + np.exp(-scores_f[:, 0]))
            probabilities = np.stack([1.0 - p1, p1], axis=1)
        else:
            # Renormalized in float64: float32 rows sum to 1 only within rounding, which log_loss refuses.
            probabilities = scores_f / scores_f.sum(axis=1, keepdims=True) if scores == "probabilities" \
                else _softmax(scores_f)
        classes = probabilities.shape[1]
        predicted = probabilities.argmax(axis=1)
    bad = np.unique(y[(y < 0) | (y >= classes)])
    if bad.size:
        raise InvalidInputError(
            f"y holds labels {bad[:10].tolist()} that the model cannot produce: its output gives {classes} "
            f"classes (labels 0..{classes - 1}). Check that y matches the model's classes"
        )
    return Predictions("classification", y, predicted, probabilities, classes), scores


def _one_column_as_vector(a: np.ndarray) -> np.ndarray:
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def regression_predictions(y: np.ndarray, output: np.ndarray) -> Predictions:
    """Pairs targets with a model's values; shapes must agree (a trailing 1 aside)."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise InvalidInputError(f"y must be numeric for task='regression'; got dtype {y.dtype}")
    y = y.astype(np.float64)
    out = output.astype(np.float64)
    y, out = _one_column_as_vector(y), _one_column_as_vector(out.reshape(len(out), -1) if out.ndim > 2 else out)
    if y.shape != out.shape:
        raise InvalidInputError(f"y has shape {y.shape} but the model's output has shape {output.shape}; "
                                "for task='regression' they must match (one target per output value)")
    return Predictions("regression", y, out)


def calibration_bins(p: Predictions, n_bins: int = CALIBRATION_BINS) -> dict[str, list[float]] | None:
    """The reliability diagram of the top-class probability: per bin of confidence, its row count,
    mean confidence and accuracy. Bins as ``sklearn.calibration.calibration_curve(strategy='uniform')``
    cuts them; None without probabilities.

    Hand-written: calibration_curve returns no bin counts, which the expected calibration
    error weighs bins by.
    """
    if p.probabilities is None or len(p) == 0:
        return None
    confidence = p.probabilities.max(axis=1)
    correct = (p.predicted == p.y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], confidence)
    counts = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(ids, weights=confidence, minlength=n_bins) / counts
        acc = np.bincount(ids, weights=correct, minlength=n_bins) / counts
    return {"lower": edges[:-1].tolist(), "upper": edges[1:].tolist(), "count": counts.tolist(),
            "confidence": [None if np.isnan(c) else float(c) for c in conf],
            "accuracy": [None if np.isnan(a) else float(a) for a in acc]}


def expected_calibration_error(p: Predictions) -> float | None:
    """sum over bins of (rows in bin / rows) * |accuracy - mean confidence| (sklearn has no ECE)."""
    bins = calibration_bins(p)
    if bins is None:
        return None
    n = len(p)
    return float(sum(c / n * abs(a - f) for c, a, f in zip(bins["count"], bins["accuracy"], bins["confidence"])
                     if c))


_MACRO = ("precision_macro", "recall_macro", "f1_macro")


def _one(name: str, p: Predictions, skm: Any) -> float | dict[str, float] | None:
    """One metric; the three macro averages come from one scikit-learn call, as a dict."""
    y, pred = p.y_true, p.predicted
    if name == "accuracy":
        return skm.accuracy_score(y, pred)
    if name in _MACRO:
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
        return {"precision_macro": precision, "recall_macro": recall, "f1_macro": f1}
    if name == "roc_auc":
        if p.probabilities is None or len(np.unique(y)) < 2:
            return None
        if p.n_classes == 2:
            return skm.roc_auc_score(y, p.probabilities[:, 1])
        if len(np.unique(y)) < p.n_classes:
            return None  # one-vs-rest needs every class among the labels
        return skm.roc_auc_score(y, p.probabilities, multi_class="ovr", labels=list(range(p.n_classes)))
    if name == "log_loss":
        if p.probabilities is None:
            return None
        return skm.log_loss(y, p.probabilities, labels=list(range(p.n_classes)))
    if name == "ece":
        return expected_calibration_error(p)
    if name == "mse":
        return skm.mean_squared_error(y, pred)
    if name == "mae":
        return skm.mean_absolute_error(y, pred)
    if name == "r2":
        return None if len(y) < 2 else skm.r2_score(y, pred)
    raise ValueError(f"unknown metric {name!r}")


def compute(p: Predictions, names: list[str]) -> dict[str, float | None]:
    """Each named metric on ``p``; None where it is undefined (no rows, one class, no probabilities)."""
    skm = sklearn_metrics()
    from sklearn.exceptions import UndefinedMetricWarning

    out: dict[str, float | None] = {}
    macro: dict[str, float] | None = None  # computed once for the three macro averages
    for name in names:
        if len(p) == 0:
            out[name] = None
            continue
        if name in _MACRO and macro is not None:
            value: Any = macro[name]
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UndefinedMetricWarning)
                try:
                    value = _one(name, p, skm)
                except (ValueError, UndefinedMetricWarning):  # undefined on these rows (one class, say)
                    value = None
            if isinstance(value, dict):
                macro, value = value, value[name]
        out[name] = None if value is None or not np.isfinite(value) else float(value)
    return out


def resolve_metrics(task: str, metrics: list[str] | None) -> list[str]:
    """The metric names to compute: every one of the task's by default."""
    if task not in METRICS_BY_TASK:
        raise ValueError(f"task must be 'classification' or 'regression'; got {task!r}")
    known = METRICS_BY_TASK[task]
    if metrics is None:
        return list(known)
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} for task={task!r}; supported: {', '.join(known)}")
    return list(metrics)


def per_class(p: Predictions) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of every class the model can produce."""
    skm = sklearn_metrics()
    labels = list(range(p.n_classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        p.y_true, p.predicted, labels=labels, zero_division=0)
    return [{"class": c, "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
             "support": int(support[c])} for c in labels]


def confusion(p: Predictions) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    return sklearn_metrics().confusion_matrix(p.y_true, p.predicted, labels=list(range(p.n_classes))).tolist()
