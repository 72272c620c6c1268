"""EvaluationReport: what mlship.evaluate measured, as a table, plain data, a DataFrame or HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlship._eval_metrics import Predictions

#: Classes up to which the printed report lists per-class figures.
MAX_PRINTED_CLASSES = 30


def latency_figures(latencies_s: list[float], rows: int) -> dict[str, float | int | None]:
    """Percentiles of the per-call latency (ms) and the throughput (rows/s) of the calls made."""
    if not latencies_s:
        return {"calls": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None,
                "rows_per_s": None}
    ms = np.asarray(latencies_s) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    total = float(np.sum(latencies_s))
    return {"calls": len(ms), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "mean_ms": float(ms.mean()), "max_ms": float(ms.max()), "rows_per_s": rows / total if total else None}


def json_safe(value: Any) -> Any:
    """Plain Python data that json.dumps takes: numpy scalars as numbers, NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def dataframe(rows: list[dict[str, Any]], index: str, owner: str) -> Any:
    """``rows`` as a pandas DataFrame indexed by ``index``; pandas is optional, so its absence is a
    clear ImportError naming ``owner``."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"{owner}.to_dataframe() needs pandas, which is not installed; "
                          "run `pip install pandas`, or use to_dict() instead") from None
    return pd.DataFrame(rows).set_index(index)


class HtmlPage:
    """``save_html`` and notebook display for a report that has ``to_html()``."""

    def to_html(self) -> str:  # pragma: no cover - every report defines it
        raise NotImplementedError

    def save_html(self, path: str | Path) -> Path:
        """Writes :meth:`to_html` (one self-contained page) to ``path`` and returns it."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return self.to_html()


def fmt(value: Any, digits: int = 4) -> str:
    """A figure for a table: '-' for None, fixed digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def signed(value: float | None) -> str:
    """A difference for a table: always with its sign, '-' for None."""
    return "-" if value is None else f"{value:+.4f}"


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


@dataclass
class EvaluationReport(HtmlPage):
    """The result of :func:`mlship.evaluate`.

    Attributes
    ----------
    task : str
        ``"classification"`` or ``"regression"``.
    source : str
        What was evaluated (model, deployment or URL).
    output : str
        The output evaluated; ``scores`` says how it was read (probabilities, logits, labels, values).
    rows : int
        Rows evaluated.
    metrics : dict
        Metric name -> value on every row (None where undefined, e.g. ROC-AUC of one class).
    higher_is_better : dict
        Metric name -> its direction.
    per_class : list of dict
        Classification: ``class``, ``precision``, ``recall``, ``f1``, ``support`` of every class.
    confusion_matrix : list of list of int
        Rows: true class; columns: predicted class.
    calibration : dict or None
        Per confidence bin: ``lower``, ``upper``, ``count``, ``confidence``, ``accuracy``.
    slices : dict
        Slice name -> ``{"rows": n, "metrics": {...}}``.
    latency : dict
        Per call of the model: ``calls``, ``p50_ms``, ``p90_ms``, ``p99_ms``, ``mean_ms``,
        ``max_ms``, and ``rows_per_s``.
    notes : list of str
        Why some figure is missing.
    """

    task: str
    source: str
    output: str
    scores: str
    rows: int
    metrics: dict[str, float | None]
    higher_is_better: dict[str, bool]
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    calibration: dict[str, list[Any]] | None = None
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    predictions: Predictions | None = field(default=None, repr=False, compare=False)
    latencies_s: list[float] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain, JSON-serializable data (no per-row predictions), e.g. for a
        repository version's metadata."""
        import mlship

        return json_safe({
            "kind": "mlship.evaluation",
            "mlship_version": mlship.__version__,
            "task": self.task, "source": self.source, "output": self.output, "scores": self.scores,
            "rows": self.rows, "metrics": self.metrics, "higher_is_better": self.higher_is_better,
            "per_class": self.per_class, "confusion_matrix": self.confusion_matrix,
            "calibration": self.calibration, "slices": self.slices, "latency": self.latency, "notes": self.notes,
        })

    def table_rows(self) -> list[dict[str, Any]]:
        """One dict per row of the metrics table: every row ("all") first, then each slice."""
        out = [{"slice": "all", "rows": self.rows, **self.metrics}]
        for name, s in self.slices.items():
            out.append({"slice": name, "rows": s["rows"], **s["metrics"]})
        return out

    def to_dataframe(self) -> Any:
        """The metrics table (all rows, then each slice) as a pandas DataFrame indexed by slice.

        Raises
        ------
        ImportError
            pandas is not installed (it is optional: ``pip install pandas``).
        """
        return dataframe(self.table_rows(), "slice", "EvaluationReport")

    def to_html(self) -> str:
        """A self-contained HTML page: tables and plots (PNG, embedded). Needs matplotlib."""
        from mlship._eval_html import evaluation_html

        return evaluation_html(self)

    def __str__(self) -> str:
        lines = [(f"mlship.evaluate: {self.task} on {self.rows} rows of {self.source}, output {self.output!r} "
                  f"({self.scores})")]
        rows = self.table_rows()
        header = ["metric", *(r["slice"] for r in rows)]
        body = [["rows", *(str(r["rows"]) for r in rows)]]
        for m in self.metrics:
            arrow = "↑" if self.higher_is_better.get(m) else "↓"
            body.append([f"{m} {arrow}", *(fmt(r[m]) for r in rows)])
        lines.append(text_table([header, *body]))
        if self.per_class and len(self.per_class) <= MAX_PRINTED_CLASSES:
            lines.append("")
            lines.append(text_table([["class", "precision", "recall", "f1", "support"]] + [
                [str(c["class"]), fmt(c["precision"], 3), fmt(c["recall"], 3), fmt(c["f1"], 3), str(c["support"])]
                for c in self.per_class]))
        lat = self.latency
        if lat.get("calls"):
            lines.append("")
            calls = f"{lat['calls']} call" + ("" if lat["calls"] == 1 else "s")
            lines.append(f"latency per call ({calls}): p50 {lat['p50_ms']:.3f} ms, "
                         f"p90 {lat['p90_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, mean {lat['mean_ms']:.3f} ms; "
                         f"{lat['rows_per_s']:.0f} rows/s")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={fmt(v)}" for k, v in list(self.metrics.items())[:3])
        return f"EvaluationReport({self.task}, rows={self.rows}, {shown})"
