"""Assertions for model regression tests, and a latency measurement for benchmarks.

``assert_outputs_close`` uses mlship's own comparison (``mlship._core.compare_outputs``, the
routine the repository's golden check runs in C++), so a test and a deployment agree on what
"close" means. ``assert_accuracy`` and ``assert_no_regression`` go through
:func:`mlship.evaluate` and name the metric, the values and the worst rows when they fail.

There is deliberately no latency assertion: a latency budget depends on the machine and on what
else runs on it, so it belongs in a benchmark that prints figures next to a baseline measured in
the same run. :func:`measure_latency` returns those figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlship._eval_metrics import METRICS_BY_TASK, Predictions
from mlship._eval_report import latency_figures
from mlship._golden import compare, flatten_outputs, leaf_array

__all__ = ["assert_accuracy", "assert_no_regression", "assert_outputs_close", "measure_latency"]

#: Rows listed in a failure message.
WORST_ROWS = 5


def assert_outputs_close(actual: Any, expected: Any, rtol: float | None = None, atol: float | None = None) -> None:
    """Asserts that two outputs agree element by element: ``|a - e| <= atol + rtol * |e|``, NaN == NaN.

    Parameters
    ----------
    actual, expected
        Arrays, torch tensors (BF16 too), or dicts, tuples or lists of them with the same structure.
    rtol, atol : float, optional
        Default: the expected dtype's (FP32 1e-5/1e-6, FP64 1e-7/1e-7, FP16 1e-3/1e-3,
        BF16 1e-2/1e-2, integers and bool exact).

    Raises
    ------
    AssertionError
        Naming each output that differs, how many elements, the worst one and the tolerance.

    Examples
    --------
    >>> import numpy as np
    >>> assert_outputs_close(np.float32([1.0, 2.0]), np.float32([1.0, 2.000001]))
    """
    a_kind, a_leaves = flatten_outputs(actual)
    e_kind, e_leaves = flatten_outputs(expected)
    if a_kind != e_kind or list(a_leaves) != list(e_leaves):
        raise AssertionError(f"outputs have different structure: actual {a_kind} with keys {list(a_leaves)}, "
                             f"expected {e_kind} with keys {list(e_leaves)}")
    problems = []
    for key in a_leaves:
        (a, a_type), (e, e_type) = leaf_array(a_leaves[key]), leaf_array(e_leaves[key])
        label = "outputs" if key == "" else f"outputs[{key!r}]"
        if a_type != e_type:
            problems.append(f"{label}: dtypes differ: actual {a_type}, expected {e_type}")
            continue
        result = compare(a, e, rtol, atol)
        if not result["ok"]:
            problems.append(f"{label}: {result['message']} (rtol {result['rtol']:g}, atol {result['atol']:g})")
    if problems:
        raise AssertionError("\n".join(problems))


def _mistakes(p: Predictions, limit: int = WORST_ROWS) -> str:
    wrong = np.flatnonzero(p.predicted != p.y_true)
    if p.probabilities is not None:
        confidence = p.probabilities[wrong, p.predicted[wrong]]
        order = wrong[np.argsort(-confidence, kind="stable")][:limit]
        return ", ".join(f"row {i} (true {p.y_true[i]}, predicted {p.predicted[i]}, p={p.probabilities[i, p.predicted[i]]:.2f})"
                         for i in order)
    return ", ".join(f"row {i} (true {p.y_true[i]}, predicted {p.predicted[i]})" for i in wrong[:limit])


def assert_accuracy(model: Any, X: Any, y: Any, min: float, *, batch_size: int = 256,  # noqa: A002 - the issue's name
                    output: str | int | None = None, scores: str = "auto") -> float:
    """Asserts that a classifier's accuracy on ``(X, y)`` is at least ``min``; returns the accuracy.

    ``model`` is anything :func:`mlship.evaluate` takes. The failure names the accuracy, the
    minimum, the rows wrong and the most confident mistakes.

    Examples
    --------
    >>> assert_accuracy(model, X_test, y_test, min=0.95)  # doctest: +SKIP
    """
    from mlship._evaluate import evaluate

    report = evaluate(model, X, y, task="classification", metrics=["accuracy"], batch_size=batch_size,
                      output=output, scores=scores)
    accuracy = report.metrics["accuracy"]
    assert accuracy is not None and report.predictions is not None
    if accuracy < min:
        p = report.predictions
        raise AssertionError(
            f"accuracy {accuracy:.4f} is below min {min:.4f} on {report.rows} rows of {report.source} "
            f"({int(np.sum(p.predicted != p.y_true))} wrong); most confident mistakes: {_mistakes(p)}")
    return accuracy


def _task_of(metric: str) -> str:
    for task, metrics in METRICS_BY_TASK.items():
        if metric in metrics:
            return task
    known = [m for metrics in METRICS_BY_TASK.values() for m in metrics]
    raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(known)}")


def _regressed_rows(candidate: Predictions, baseline: Predictions, limit: int = WORST_ROWS) -> str:
    if candidate.task == "classification":
        rows = np.flatnonzero((baseline.predicted == baseline.y_true) & (candidate.predicted != candidate.y_true))
        if not len(rows):
            return "none that the baseline got right and the candidate wrong"
        return "baseline right, candidate wrong: " + ", ".join(
            f"row {i} (true {candidate.y_true[i]}, candidate {candidate.predicted[i]})" for i in rows[:limit])
    def squared_error(p: Predictions) -> np.ndarray:
        return ((p.predicted - p.y_true) ** 2).reshape(len(p), -1).sum(axis=1)

    growth = squared_error(candidate) - squared_error(baseline)
    rows = np.argsort(-growth, kind="stable")[:limit]
    return "largest growth of squared error: " + ", ".join(
        f"row {i} (+{growth[i]:.4g})" for i in rows if growth[i] > 0) or "none"


def assert_no_regression(candidate: Any, baseline: Any, X: Any, y: Any, metric: str = "accuracy",
                         max_drop: float = 0.0, *, batch_size: int = 256, output: str | int | None = None,
                         scores: str = "auto") -> float:
    """Asserts that ``candidate`` is at most ``max_drop`` worse than ``baseline`` on ``metric``.

    "Worse" follows the metric's direction (a drop in accuracy, a rise in mse). Returns the
    change, positive when worse. This compares point estimates on the given rows; use
    :func:`mlship.compare` to learn whether a difference is larger than chance.

    Examples
    --------
    >>> assert_no_regression(int8_model, model, X_test, y_test, metric="accuracy", max_drop=0.01)  # doctest: +SKIP
    """
    from mlship._evaluate import build_report, prepare_data, run_source

    task = _task_of(metric)
    inputs, labels, names = prepare_data(X, y, task, [metric])
    runs = [run_source(s, inputs, labels, task=task, batch_size=batch_size, output=output, scores=scores)
            for s in (candidate, baseline)]
    c_report, b_report = (build_report(r, names, {}, task) for r in runs)
    c, b = c_report.metrics[metric], b_report.metrics[metric]
    if c is None or b is None:
        raise ValueError(f"{metric} is undefined on these rows ({'; '.join(c_report.notes + b_report.notes)})")
    drop = b - c if METRICS_BY_TASK[task][metric] else c - b
    if drop > max_drop:
        raise AssertionError(
            f"{metric} regressed by {drop:.4f} (more than max_drop {max_drop:g}): candidate {c:.4f}, baseline "
            f"{b:.4f} on {len(labels)} rows; {_regressed_rows(runs[0].predictions, runs[1].predictions)}")
    return drop


def measure_latency(model: Any, *inputs: Any, runs: int = 100, warmup: int = 10,
                    clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Times ``runs`` calls of a model on ``inputs`` (after ``warmup`` untimed ones).

    ``model`` is an mlship.Model, an mlship.Deployment (in-process ``predict``), a KServe v2 model
    URL, or any other callable (a torch module, a function), called as it is, so two can be put
    side by side. Returns ``runs``, ``p50_ms``, ``p90_ms``, ``p99_ms``, ``mean_ms``, ``min_ms``,
    ``max_ms`` and ``calls_per_s``; no thresholds: print them next to a baseline in a benchmark.

    Examples
    --------
    >>> measure_latency(model, x, runs=200)["p50_ms"]  # doctest: +SKIP
    0.021
    """
    import mlship
    from mlship._kserve_client import KServeClient, is_model_url

    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0; got runs={runs}, warmup={warmup}")
    if isinstance(model, mlship.Deployment):
        call: Callable[..., Any] = model.predict
        args: tuple[Any, ...] = inputs
    elif is_model_url(model):
        call, args = KServeClient(model).infer, ([np.asarray(x) for x in inputs],)
    elif callable(model):
        call, args = model, inputs
    else:
        raise TypeError(f"expected an mlship.Model, Deployment, model URL or a callable; got {type(model).__name__}")
    for _ in range(warmup):
        call(*args)
    times = []
    for _ in range(runs):
        began = clock()
        call(*args)
        times.append(clock() - began)
    figures = latency_figures(times, rows=runs)  # one call per "row": rows/s is calls/s
    return {"runs": runs, **{k: figures[k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms")},
            "min_ms": min(times) * 1e3, "max_ms": figures["max_ms"],
            "calls_per_s": figures["rows_per_s"] or float("inf")}
