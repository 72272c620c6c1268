"""Self-contained HTML pages for evaluation and comparison reports.

Plots are drawn with matplotlib's object API (``matplotlib.figure.Figure``, no pyplot), so
nothing touches a global backend or figure registry and it works on headless servers and from
threads. Each plot is embedded as a base64 PNG: one file, no external requests.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship._eval_report import fmt, signed

if TYPE_CHECKING:
    from mlship._compare_models import ComparisonReport
    from mlship._eval_report import EvaluationReport

#: Classes up to which the confusion matrix shows its counts in the cells.
ANNOTATED_CLASSES = 20

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
.better { color: #1a7f37; font-weight: bold; } .worse { color: #cf222e; font-weight: bold; }
.note { color: #555; }
"""


def _figure(width: float = 5.0, height: float = 4.0) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("HTML reports draw their plots with matplotlib, which is not installed; "
                          "run `pip install matplotlib` (or `pip install mlship[evaluate]`)") from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(caption)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{alt}" title="{alt}"></figure>'


def _confusion_plot(matrix: list[list[int]], title: str) -> str:
    m = np.asarray(matrix)
    fig = _figure()
    ax = fig.subplots()
    image = ax.imshow(m, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if len(m) <= ANNOTATED_CLASSES:
        ticks = np.arange(len(m))
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        threshold = m.max() / 2 if m.size else 0
        for (i, j), count in np.ndenumerate(m):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=10 if len(m) <= 10 else 7,
                    color="white" if count > threshold else "black")
    return _png(fig, title)


def _calibration_plot(curves: list[tuple[str, dict[str, list[Any]]]], title: str) -> str:
    fig = _figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for label, bins in curves:
        points = [(c, a, n) for c, a, n in zip(bins["confidence"], bins["accuracy"], bins["count"]) if n]
        if points:
            conf, acc, counts = zip(*points)
            line = ax.plot(conf, acc, label=label)[0]
            # Marker area by rows in the bin: a bin of three rows should not look like one of three hundred.
            ax.scatter(conf, acc, s=[12 + 200 * n / max(counts) for n in counts], color=line.get_color(), alpha=0.7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence (top-class probability); marker area: rows")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig, title)


def _latency_plot(series: list[tuple[str, list[float]]], title: str) -> str:
    fig = _figure()
    ax = fig.subplots()
    for label, latencies in series:
        if latencies:
            ax.hist(np.asarray(latencies) * 1e3, bins=min(30, max(5, len(latencies))), alpha=0.6, label=label)
    ax.set_xlabel("ms per call")
    ax.set_ylabel("calls")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig, title)


def _regression_plots(report: EvaluationReport) -> list[str]:
    p = report.predictions
    if p is None:
        return []
    truth, pred = p.y_true.reshape(-1), p.predicted.reshape(-1)
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(truth, pred, s=6, alpha=0.5)
    low, high = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey")
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title("predictions against targets")
    scatter = _png(fig, "predictions against targets")
    fig = _figure()
    ax = fig.subplots()
    ax.hist(pred - truth, bins=40)
    ax.set_xlabel("prediction - target")
    ax.set_ylabel("rows")
    ax.set_title("residuals")
    return [scatter, _png(fig, "residuals")]


def _table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = classes[i] if classes else [""] * len(row)
        body.append("<tr>" + "".join(f'<td class="{c}">{html.escape(v)}</td>' if c else f"<td>{html.escape(v)}</td>"
                                     for v, c in zip(row, cls)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _page(title: str, body: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>")


def _metrics_section(report: EvaluationReport) -> list[str]:
    rows = report.table_rows()
    header = ["metric", *(r["slice"] for r in rows)]
    body = [["rows", *(str(r["rows"]) for r in rows)]]
    for m in report.metrics:
        body.append([f"{m} ({'higher' if report.higher_is_better[m] else 'lower'} is better)",
                     *(fmt(r[m]) for r in rows)])
    out = ["<h2>Metrics</h2>", _table(header, body)]
    out.extend(f'<p class="note">{html.escape(n)}</p>' for n in report.notes)
    if report.per_class:
        out.append("<h2>Per class</h2>")
        out.append(_table(["class", "precision", "recall", "f1", "support"], [
            [str(c["class"]), fmt(c["precision"], 3), fmt(c["recall"], 3), fmt(c["f1"], 3), str(c["support"])]
            for c in report.per_class]))
    lat = report.latency
    if lat.get("calls"):
        out.append("<h2>Latency</h2>")
        out.append(_table(["calls", "p50 ms", "p90 ms", "p99 ms", "mean ms", "rows/s"], [[
            str(lat["calls"]), fmt(lat["p50_ms"], 3), fmt(lat["p90_ms"], 3), fmt(lat["p99_ms"], 3),
            fmt(lat["mean_ms"], 3), fmt(lat["rows_per_s"], 0)]]))
    return out


def _plots(report: EvaluationReport, label: str = "") -> list[str]:
    prefix = f"{label}: " if label else ""
    plots = []
    if report.task == "classification":
        plots.append(_confusion_plot(report.confusion_matrix, f"{prefix}confusion matrix"))
        if report.calibration is not None:
            plots.append(_calibration_plot([(label or "model", report.calibration)], f"{prefix}calibration curve"))
    else:
        plots.extend(_regression_plots(report))
    plots.append(_latency_plot([(label or "model", report.latencies_s)], f"{prefix}latency histogram"))
    return plots


def evaluation_html(report: EvaluationReport) -> str:
    """The page for one :class:`EvaluationReport`."""
    intro = (f"<p>{html.escape(report.task)} of <b>{report.rows}</b> rows by <code>{html.escape(report.source)}"
             f"</code>, output <code>{html.escape(report.output)}</code> ({html.escape(report.scores)}).</p>")
    return _page("mlship evaluation", [intro, *_metrics_section(report), "<h2>Plots</h2>",
                                       f'<div class="plots">{"".join(_plots(report))}</div>'])


def comparison_html(cmp: ComparisonReport) -> str:
    """The page for a :class:`ComparisonReport`: the differences, then both models' figures."""
    level = f"{cmp.confidence:.0%}"
    rows, classes = [], []
    for r in cmp.rows():
        rows.append([r["metric"], fmt(r["candidate"]), fmt(r["baseline"]), signed(r["difference"]),
                     f"{signed(r['ci_low'])} to {signed(r['ci_high'])}", r["verdict"]])
        verdict_class = {"better": "better", "worse": "worse"}.get(r["verdict"], "")
        classes.append(["", "", "", "", "", verdict_class])
    body = [
        f"<p><b>{html.escape(cmp.summary())}</b></p>",
        (f"<p>candidate: <code>{html.escape(cmp.candidate.source)}</code>; baseline: "
         f"<code>{html.escape(cmp.baseline.source)}</code>; {cmp.rows_compared} rows; {level} confidence intervals "
         f"from {cmp.n_resamples} paired bootstrap resamples.</p>"),
        "<h2>Differences (candidate - baseline)</h2>",
        _table(["metric", "candidate", "baseline", "difference", f"{level} CI", "verdict"], rows, classes),
    ]
    plots = []
    if cmp.candidate.task == "classification":
        for label, report in (("candidate", cmp.candidate), ("baseline", cmp.baseline)):
            plots.append(_confusion_plot(report.confusion_matrix, f"{label}: confusion matrix"))
        curves = [(label, r.calibration) for label, r in (("candidate", cmp.candidate), ("baseline", cmp.baseline))
                  if r.calibration is not None]
        if curves:
            plots.append(_calibration_plot(curves, "calibration curves"))
    else:
        for label, report in (("candidate", cmp.candidate), ("baseline", cmp.baseline)):
            plots.extend(_regression_plots(report))
    plots.append(_latency_plot([("candidate", cmp.candidate.latencies_s), ("baseline", cmp.baseline.latencies_s)],
                               "latency histograms"))
    body += ["<h2>Plots</h2>", f'<div class="plots">{"".join(plots)}</div>']
    for label, report in (("Candidate", cmp.candidate), ("Baseline", cmp.baseline)):
        body.append(f"<h2>{label}</h2>")
        body.extend(_metrics_section(report)[1:])
    return _page("mlship comparison", body)
