"""OptimizationReport: what each candidate of mlship.optimize bought and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlship._model import Model

#: Columns of the report, in order (to_dict rows and to_dataframe use these names).
COLUMNS = (
    "method", "size_mb", "size_x", "latency_b1_ms", "b1_x", "latency_b32_ms", "b32_x",
    "metric", "drop", "max_abs_diff", "ok", "note",
)


@dataclass
class Candidate:
    """One row: a technique (or combination) and what it measured.

    ``ok`` is True when the candidate was built and its metric drop is within ``max_drop``.
    Ratios (``size_x``, ``b1_x``, ``b32_x``) are against the original, measured in the same run.
    """

    method: str
    model: Model | None = None
    size_bytes: int | None = None
    latency_b1_ms: float | None = None
    latency_b32_ms: float | None = None
    metric: float | None = None
    drop: float | None = None
    max_abs_diff: float | None = None
    ok: bool = False
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


class OptimizationReport:
    """The result of :func:`mlship.optimize`: one row per candidate, and the best one.

    Attributes
    ----------
    best : mlship.Model
        The fastest candidate at batch 1 whose metric drop is within ``max_drop``; the
        original when none qualifies (``reason`` says why).
    best_method : str
        Its row's ``method`` (``"original"`` for the unchanged model).
    reason : str
        Why ``best`` was chosen.
    candidates : list of Candidate
        Every row, the original first.

    Printing the report shows the table; :meth:`to_dict` and :meth:`to_dataframe` give it as data.
    """

    def __init__(self, candidates: list[Candidate], *, metric_name: str, max_drop: float, best: Candidate,
                 reason: str, cpu: str) -> None:
        self.candidates = candidates
        self.metric_name = metric_name
        self.max_drop = max_drop
        self._best = best
        self.reason = reason
        self.cpu = cpu

    @property
    def best(self) -> Model:
        assert self._best.model is not None
        return self._best.model

    @property
    def best_method(self) -> str:
        return self._best.method

    def model(self, method: str) -> Model | None:
        """The model a row produced (None for rows that were skipped)."""
        for c in self.candidates:
            if c.method == method:
                return c.model
        raise KeyError(f"no candidate {method!r}; candidates: {', '.join(c.method for c in self.candidates)}")

    def rows(self) -> list[dict[str, Any]]:
        """One dict per candidate with the report's columns (no model objects)."""
        base = self.candidates[0]
        out = []
        for c in self.candidates:
            out.append({
                "method": c.method,
                "size_mb": None if c.size_bytes is None else c.size_bytes / 1e6,
                "size_x": _ratio(c.size_bytes, base.size_bytes),
                "latency_b1_ms": c.latency_b1_ms,
                "b1_x": _ratio(c.latency_b1_ms, base.latency_b1_ms),
                "latency_b32_ms": c.latency_b32_ms,
                "b32_x": _ratio(c.latency_b32_ms, base.latency_b32_ms),
                "metric": c.metric,
                "drop": c.drop,
                "max_abs_diff": c.max_abs_diff,
                "ok": c.ok,
                "note": c.note,
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain Python data (JSON-serializable)."""
        return {
            "metric": self.metric_name,
            "max_drop": self.max_drop,
            "best": self.best_method,
            "reason": self.reason,
            "cpu": self.cpu,
            "columns": list(COLUMNS),
            "rows": self.rows(),
            "details": {c.method: c.details for c in self.candidates},
        }

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame indexed by method.

        Raises
        ------
        ImportError
            pandas is not installed (it is optional: ``pip install pandas``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "OptimizationReport.to_dataframe() needs pandas, which is not installed; "
                "run `pip install pandas`, or use to_dict() instead"
            ) from None
        return pd.DataFrame(self.rows(), columns=list(COLUMNS)).set_index("method")

    def __str__(self) -> str:
        header = ["method", "size MB", "size x", "b1 ms", "b1 x", "b32 ms", "b32 x", self.metric_name, "drop",
                  "max|diff|", "ok", "note"]
        table = [header]
        for r in self.rows():
            table.append([
                r["method"], _fmt(r["size_mb"], 3), _fmt(r["size_x"], 2), _fmt(r["latency_b1_ms"], 3),
                _fmt(r["b1_x"], 2), _fmt(r["latency_b32_ms"], 3), _fmt(r["b32_x"], 2), _fmt(r["metric"], 4),
                _fmt(r["drop"], 4), _fmt(r["max_abs_diff"], 4), "yes" if r["ok"] else "no", r["note"],
            ])
        widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in table]
        lines.append(f"best: {self.best_method} ({self.reason})")
        lines.append(f"cpu: {self.cpu}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"OptimizationReport(best={self.best_method!r}, candidates={len(self.candidates)}, "
                f"metric={self.metric_name!r}, max_drop={self.max_drop})")


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"
