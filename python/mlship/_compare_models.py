"""mlship.compare: is a candidate model better than a baseline on the same data, or just different?

Each metric's difference gets a paired bootstrap confidence interval (both models are scored on
the same resampled rows, so row difficulty cancels out) from ``scipy.stats.bootstrap``, and a
plain verdict: better, worse, or no clear difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlship import _core
from mlship._eval_metrics import METRICS_BY_TASK, Predictions, compute
from mlship._eval_report import EvaluationReport, HtmlPage, dataframe, fmt, json_safe, signed, text_table
from mlship._evaluate import build_report, prepare_data, resolve_slices, run_source

VERDICTS = ("better", "worse", "no clear difference")


def _verdict(low: float | None, high: float | None, higher_is_better: bool) -> str:
    if low is None or high is None:
        return "no clear difference"
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "no clear difference"


def bootstrap_differences(candidate: Predictions, baseline: Predictions, names: list[str], *, n_resamples: int,
                          confidence: float, seed: int) -> dict[str, tuple[float | None, float | None]]:
    """metric -> (low, high) of the ``confidence`` percentile interval of candidate - baseline,
    over resamples of the rows (the same rows for both models). (None, None) where the metric is
    undefined on some resample (a class missing from it, say)."""
    try:
        from scipy import stats
    except ImportError:
        raise ImportError("mlship.compare uses scipy.stats.bootstrap, which is not installed; "
                          "run `pip install scipy` (or `pip install mlship[evaluate]`)") from None

    def statistic(rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.int64)
        c, b = compute(candidate.subset(rows), names), compute(baseline.subset(rows), names)
        return np.array([np.nan if c[m] is None or b[m] is None else c[m] - b[m] for m in names])

    result = stats.bootstrap((np.arange(len(candidate)),), statistic, vectorized=False, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile", rng=seed)
    lows = np.atleast_1d(result.confidence_interval.low)
    highs = np.atleast_1d(result.confidence_interval.high)
    out = {}
    for i, m in enumerate(names):
        defined = np.isfinite(lows[i]) and np.isfinite(highs[i])
        out[m] = (float(lows[i]), float(highs[i])) if defined else (None, None)
    return out


def disagreement(candidate: EvaluationReport, baseline: EvaluationReport, outputs: tuple[np.ndarray, np.ndarray]
                 ) -> tuple[int, int]:
    """(disagreeing, compared): rows whose predicted class differs, or, for regression, predicted
    values outside the output dtype's default tolerance (mlship._core.compare_outputs, the golden
    check's rule; with two dtypes, the looser one's)."""
    pc, pb = candidate.predictions, baseline.predictions
    assert pc is not None and pb is not None
    if candidate.task == "classification":
        return int(np.sum(pc.predicted != pb.predicted)), len(pc)
    a, b = (np.ascontiguousarray(o.reshape(len(o), -1)) for o in outputs)
    tolerances = [_core.default_tolerance(_dtype_name(o)) for o in (a, b) if _dtype_name(o)]
    rtol, atol = max(t[0] for t in tolerances), max(t[1] for t in tolerances)
    result = _core.compare_outputs(a.astype(np.float64), b.astype(np.float64), rtol, atol)
    return int(result["mismatched"]), int(result["total"])


def _dtype_name(a: np.ndarray) -> str | None:
    return {"float16": "FP16", "float32": "FP32", "float64": "FP64"}.get(a.dtype.name)


@dataclass
class ComparisonReport(HtmlPage):
    """The result of :func:`mlship.compare`.

    Attributes
    ----------
    candidate, baseline : EvaluationReport
        Each model's own report on the same rows.
    metric : str
        The headline metric; ``verdict`` is its verdict.
    verdict : str
        ``"better"``, ``"worse"`` or ``"no clear difference"`` (the candidate against the baseline).
    differences : dict
        Metric -> ``candidate``, ``baseline``, ``difference`` (candidate - baseline), ``ci_low``,
        ``ci_high``, ``verdict``, ``higher_is_better``.
    disagreeing_rows, rows_compared : int
        Rows (regression: values) where the two models' predictions differ, and how many were compared.
    """

    candidate: EvaluationReport
    baseline: EvaluationReport
    metric: str
    differences: dict[str, dict[str, Any]]
    disagreeing_rows: int
    rows_compared: int
    n_resamples: int
    confidence: float
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.differences[self.metric]["verdict"]

    @property
    def disagreement(self) -> float:
        """Share of rows (regression: predicted values) where the two models' predictions differ."""
        return self.disagreeing_rows / self.rows_compared if self.rows_compared else 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One dict per metric: ``metric`` and the fields of :attr:`differences`."""
        return [{"metric": m, **d} for m, d in self.differences.items()]

    def summary(self) -> str:
        """One line: the verdict on the headline metric, its interval, and the disagreement."""
        d = self.differences[self.metric]
        what = "predicted classes" if self.candidate.task == "classification" else "predicted values"
        interval = (f"{self.confidence:.0%} CI {signed(d['ci_low'])} to {signed(d['ci_high'])}"
                    if d["ci_low"] is not None else "no interval: the metric is undefined on some resamples")
        head = (f"candidate is {d['verdict']} than baseline" if d["verdict"] != "no clear difference"
                else "no clear difference between candidate and baseline")
        return (f"{head} on {self.metric}: {signed(d['difference'])} ({interval}); {what} disagree on "
                f"{self.disagreement:.1%} ({self.disagreeing_rows} of {self.rows_compared})")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serializable data: the differences and both reports."""
        return json_safe({
            "kind": "mlship.comparison", "metric": self.metric, "verdict": self.verdict, "summary": self.summary(),
            "differences": self.differences, "disagreeing_rows": self.disagreeing_rows,
            "rows_compared": self.rows_compared, "disagreement": self.disagreement,
            "n_resamples": self.n_resamples, "confidence": self.confidence, "notes": self.notes,
            "candidate": self.candidate.to_dict(), "baseline": self.baseline.to_dict(),
        })

    def to_dataframe(self) -> Any:
        """The differences as a pandas DataFrame indexed by metric (pandas is optional)."""
        return dataframe(self.rows(), "metric", "ComparisonReport")

    def to_html(self) -> str:
        """A self-contained HTML page with both models' plots side by side. Needs matplotlib."""
        from mlship._eval_html import comparison_html

        return comparison_html(self)

    def __str__(self) -> str:
        level = f"{self.confidence:.0%} CI"
        table = [["metric", "candidate", "baseline", "difference", level, "verdict"]]
        for r in self.rows():
            ci = f"{signed(r['ci_low'])} to {signed(r['ci_high'])}" if r["ci_low"] is not None else "-"
            table.append([r["metric"], fmt(r["candidate"]), fmt(r["baseline"]), signed(r["difference"]), ci,
                          r["verdict"]])
        lines = [(f"mlship.compare: {self.candidate.source} (candidate) vs {self.baseline.source} (baseline), "
                  f"{self.candidate.rows} rows, {self.n_resamples} paired bootstrap resamples"),
                 text_table(table), self.summary()]
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ComparisonReport({self.metric}: {self.verdict}, disagreement={self.disagreement:.3f})"


def compare(
    candidate: Any,
    baseline: Any,
    X: Any,
    y: Any,
    task: str = "classification",
    metrics: list[str] | None = None,
    slices: dict[str, Any] | None = None,
    batch_size: int = 256,
    output: str | int | None = None,
    *,
    metric: str | None = None,
    scores: str = "auto",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ComparisonReport:
    """Evaluates two models on the same rows and says whether the candidate is better.

    Parameters
    ----------
    candidate, baseline
        Anything :func:`mlship.evaluate` takes (models, deployments, KServe v2 URLs, files, modules).
    X, y, task, metrics, slices, batch_size, output, scores
        As for :func:`mlship.evaluate`; ``output`` applies to both models.
    metric : str, optional
        The headline metric whose verdict is :attr:`ComparisonReport.verdict`; default: accuracy
        (classification) or mse (regression), or the first of ``metrics``.
    n_resamples : int
        Bootstrap resamples (default 1000; each scores both models on every metric).
    confidence : float
        Level of the intervals (default 0.95).
    seed : int
        Seeds the resampling, so a report can be reproduced.

    Returns
    -------
    ComparisonReport
        Differences with confidence intervals, verdicts, the share of rows where the models'
        predictions disagree, and both models' reports.

    Examples
    --------
    >>> result = mlship.compare(int8_model, model, X_test, y_test)  # doctest: +SKIP
    >>> result.verdict, result.disagreement  # doctest: +SKIP
    ('no clear difference', 0.004)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence}")
    if n_resamples < 10:
        raise ValueError(f"n_resamples must be at least 10; got {n_resamples}")
    inputs, labels, names = prepare_data(X, y, task, metrics)
    headline = metric or names[0]
    if headline not in names:
        raise ValueError(f"metric={headline!r} is not among the metrics compared: {', '.join(names)}")
    masks = resolve_slices(slices, inputs, len(labels))
    runs = [run_source(s, inputs, labels, task=task, batch_size=batch_size, output=output, scores=scores)
            for s in (candidate, baseline)]
    reports = [build_report(r, names, masks, task) for r in runs]
    intervals = bootstrap_differences(runs[0].predictions, runs[1].predictions, names, n_resamples=n_resamples,
                                      confidence=confidence, seed=seed)
    differences: dict[str, dict[str, Any]] = {}
    notes = []
    for m in names:
        c, b = reports[0].metrics[m], reports[1].metrics[m]
        low, high = intervals[m]
        higher = METRICS_BY_TASK[task][m]
        differences[m] = {"candidate": c, "baseline": b, "difference": None if c is None or b is None else c - b,
                          "ci_low": low, "ci_high": high, "verdict": _verdict(low, high, higher),
                          "higher_is_better": higher}
        if low is None and c is not None and b is not None:
            notes.append(f"{m}: no interval, the metric is undefined on some resamples")
    disagreeing, compared = disagreement(reports[0], reports[1], (runs[0].output, runs[1].output))
    return ComparisonReport(reports[0], reports[1], headline, differences, disagreeing, compared, n_resamples,
                            confidence, notes)
