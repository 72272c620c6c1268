"""mlship.evaluate: run labelled data through a model and report how well it does."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlship._errors import InvalidInputError
from mlship._eval_metrics import (
    METRICS_BY_TASK,
    NEEDS_PROBABILITIES,
    Predictions,
    calibration_bins,
    classification_predictions,
    compute,
    confusion,
    per_class,
    regression_predictions,
    resolve_metrics,
)
from mlship._eval_report import EvaluationReport, latency_figures
from mlship._eval_source import Source, as_inputs, cast_inputs, open_source, predict_all

#: Most distinct values a slice column may have (each becomes one slice).
MAX_SLICE_VALUES = 50


@dataclass
class _Run:
    """What running one source over the data gave."""

    source: Source
    output_name: str
    output: np.ndarray
    predictions: Predictions
    scores: str


def _as_numpy(values: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _labels_array(y: Any) -> np.ndarray:
    arr = _as_numpy(y)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"y must be numeric (class indices or targets); got dtype {arr.dtype}. "
                                "Encode string labels as class indices first (sklearn.preprocessing.LabelEncoder)")
    if arr.ndim == 0:
        raise InvalidInputError("y must hold one label or target per row; got a scalar")
    return arr


def select_output(flat: list[np.ndarray], names: list[str], output: str | int | None) -> tuple[str, np.ndarray]:
    """The output to evaluate: the only one, or the one ``output`` names (by name or position)."""
    if output is None:
        if len(flat) == 1:
            return (names[0] if names else "output_0"), flat[0]
        raise InvalidInputError(
            f"the model has {len(flat)} outputs ({', '.join(names)}); choose the one to evaluate with "
            f"output={names[0]!r} (a name or a position)"
        )
    if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
        if not 0 <= output < len(flat):
            raise InvalidInputError(f"output={output} is out of range: the model has {len(flat)} output(s)")
        return names[output], flat[output]
    if output not in names:
        raise InvalidInputError(f"output={output!r} is not one of the model's outputs: {', '.join(names)}")
    return output, flat[names.index(output)]


def resolve_slices(slices: dict[str, Any] | None, inputs: tuple[np.ndarray, ...], rows: int) -> dict[str, np.ndarray]:
    """Slice name -> boolean row mask.

    A boolean array of one value per row is one slice; any other array of one value per row
    (a region, an age band) gives one slice per distinct value, named ``"name=value"``; an int
    picks that column of a 2-D X and does the same.
    """
    masks: dict[str, np.ndarray] = {}
    for name, spec in (slices or {}).items():
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            x = inputs[0]
            if len(inputs) != 1 or x.ndim != 2 or not -x.shape[1] <= spec < x.shape[1]:
                raise InvalidInputError(f"slice {name!r}: column {spec} needs a 2-D X with that column; "
                                        f"X has shape {x.shape if len(inputs) == 1 else [a.shape for a in inputs]}")
            values = x[:, spec]
        else:
            values = _as_numpy(spec)
        if values.shape[:1] != (rows,) or values.ndim != 1:
            raise InvalidInputError(f"slice {name!r} must hold one value per row ({rows}); got shape {values.shape}")
        if values.dtype.kind == "b":
            masks[name] = values
            continue
        distinct = np.unique(values)
        if len(distinct) > MAX_SLICE_VALUES:
            raise InvalidInputError(f"slice {name!r} has {len(distinct)} distinct values (at most "
                                    f"{MAX_SLICE_VALUES}); pass a boolean mask or bin the values first")
        for value in distinct:
            label = value.item() if hasattr(value, "item") else value
            masks[f"{name}={label}"] = values == value
    return masks


def run_source(source: Any, inputs: tuple[np.ndarray, ...], y: np.ndarray, *, task: str, batch_size: int,
               output: str | int | None, scores: str) -> _Run:
    """Opens ``source``, runs every row through it and pairs the chosen output with ``y``."""
    src = open_source(source, tuple(x[:1] for x in inputs))
    flat = predict_all(src, cast_inputs(inputs, src), batch_size)
    name, out = select_output(flat, src.output_names, output)
    if len(out) != len(y):
        raise InvalidInputError(f"output {name!r} has {len(out)} rows for {len(y)} input rows; "
                                "evaluation needs one prediction per row")
    if task == "classification":
        preds, scores = classification_predictions(y, out, scores)
    else:
        preds, scores = regression_predictions(y, out), "values"
    return _Run(src, name, out, preds, scores)


def prepare_data(X: Any, y: Any, task: str, metrics: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray, list[str]]:
    """Checks X, y and the metric names before anything runs."""
    names = resolve_metrics(task, metrics)
    inputs = as_inputs(X)
    labels = _labels_array(y)
    if len(inputs[0]) != len(labels):
        raise InvalidInputError(f"X has {len(inputs[0])} rows but y has {len(labels)}; they must match row for row")
    return inputs, labels, names


def build_report(run: _Run, names: list[str], masks: dict[str, np.ndarray], task: str) -> EvaluationReport:
    """The report of one run: metrics on every row and on each slice, with notes on missing figures."""
    p = run.predictions
    notes = []
    metrics = compute(p, names)
    without_scores = [m for m in names if m in NEEDS_PROBABILITIES] if p.probabilities is None else []
    if without_scores and task == "classification":
        notes.append(f"the output holds labels, not scores: {', '.join(without_scores)} need class probabilities")
    for name, value in metrics.items():
        if value is None and name not in without_scores:
            notes.append(f"{name} is undefined on these rows (for example, a class missing from the labels)")
    slices = {}
    for slice_name, mask in masks.items():
        rows = int(mask.sum())
        slices[slice_name] = {"rows": rows, "metrics": compute(p.subset(mask), names)}
    return EvaluationReport(
        task=task, source=run.source.label, output=run.output_name, scores=run.scores, rows=len(p),
        metrics=metrics, higher_is_better={m: METRICS_BY_TASK[task][m] for m in names},
        per_class=per_class(p) if task == "classification" else [],
        confusion_matrix=confusion(p) if task == "classification" else [],
        calibration=calibration_bins(p) if task == "classification" else None,
        slices=slices, latency=latency_figures(run.source.latencies_s, len(p)), notes=notes,
        predictions=p, latencies_s=list(run.source.latencies_s),
    )


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    task: str = "classification",
    metrics: list[str] | None = None,
    slices: dict[str, Any] | None = None,
    batch_size: int = 256,
    output: str | int | None = None,
    *,
    scores: str = "auto",
) -> EvaluationReport:
    """Runs ``X`` through a model in batches and reports how its predictions compare with ``y``.

    Parameters
    ----------
    model : mlship.Model, mlship.Deployment, str or torch.nn.Module
        What to evaluate: a loaded model, a deployment (called in-process, through its batcher),
        the URL of a model on any KServe v2 server (``http://host:port/v2/models/NAME``, with
        ``MLSHIP_TOKEN`` sent as a bearer token when set), or anything :func:`mlship.load` takes
        (a file, a module; loaded with the first row of ``X`` as example input).
    X : array, tensor, or tuple of them
        One row per example; a tuple holds one array per model input. Cast to the model's input dtypes.
    y : array
        Class indices 0..classes-1 (classification) or targets (regression), one per row.
    task : {"classification", "regression"}
    metrics : list of str, optional
        Classification: accuracy, precision_macro, recall_macro, f1_macro, roc_auc, log_loss, ece
        (expected calibration error, 10 bins of top-class confidence). Regression: mse, mae, r2.
        Default: all of the task's. Computed with scikit-learn (ECE by mlship).
    slices : dict, optional
        ``{"name": mask_or_column}``: a boolean mask per row is one slice; other values per row
        (or an int: that column of X) give one slice per distinct value.
    batch_size : int
        Rows per call. Each call is timed: the report's latency figures are per call.
    output : str or int, optional
        Which output to evaluate when the model has several (by name or position).
    scores : {"auto", "probabilities", "logits", "labels"}
        What a classifier's output holds; "auto" decides from the values (see docs/evaluation.md).

    Returns
    -------
    EvaluationReport
        Prints as a table; ``to_dict()``, ``to_dataframe()``, ``save_html(path)``.

    Raises
    ------
    mlship.InvalidInputError
        X and y of different lengths, non-numeric data, labels the model cannot produce,
        several outputs and no ``output=``, a bad slice.

    Examples
    --------
    >>> report = mlship.evaluate(model, X_test, y_test)  # doctest: +SKIP
    >>> report.metrics["accuracy"]  # doctest: +SKIP
    0.964
    """
    inputs, labels, names = prepare_data(X, y, task, metrics)
    masks = resolve_slices(slices, inputs, len(labels))
    run = run_source(model, inputs, labels, task=task, batch_size=batch_size, output=output, scores=scores)
    return build_report(run, names, masks, task)
