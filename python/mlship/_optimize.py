"""mlship.optimize: try each technique, measure it, keep the fastest within an accuracy budget."""

from __future__ import annotations

import math
import numbers
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlship import _core
from mlship._errors import FailedPreconditionError, InvalidInputError, MlshipError
from mlship._export import compile_pt2
from mlship._int8_export import int8_for_export
from mlship._metrics import Metric, resolve
from mlship._model import Model
from mlship._passes import _as_model, check_inputs, fold, low_rank, prune, quantize
from mlship._report import Candidate, OptimizationReport

#: The techniques mlship.optimize tries by default; "a+b" applies a, then b.
METHODS = ("int8", "fp16", "bf16", "prune", "low_rank")
#: Techniques tried only when asked for: "fold" changes nothing that mlship.load's own
#: freezing does not already do for the running model (it puts the folding in the saved file);
#: "pt2" compiles with AOTInductor, which takes seconds to minutes per candidate, and must be
#: the last step of a combination ("low_rank+pt2").
OPTIONAL_METHODS = ("fold", "pt2")
#: Combinations tried when both parts are among the methods asked for.
COMBINATIONS = ("low_rank+int8", "prune+int8")
#: Rows per forward pass when scoring the validation set.
_CHUNK_ROWS = 512


def _plan(methods: Sequence[str]) -> list[str]:
    if isinstance(methods, str):
        methods = (methods,)
    plan: list[str] = []
    for method in methods:
        parts = method.split("+") if isinstance(method, str) else [method]
        for part in parts:
            if part not in METHODS + OPTIONAL_METHODS:
                raise ValueError(
                    f"unknown method {part!r}; supported: {', '.join(repr(m) for m in METHODS + OPTIONAL_METHODS)} "
                    "(combine them with '+', e.g. 'low_rank+int8')"
                )
        if "pt2" in parts[:-1]:
            raise ValueError(f"method {method!r}: 'pt2' compiles the model, so it must be the last step "
                             "(e.g. 'low_rank+pt2')")
        if method not in plan:
            plan.append(method)
    for combo in COMBINATIONS:
        if all(part in plan for part in combo.split("+")) and combo not in plan:
            plan.append(combo)
    return plan


def _apply(model: Model, step: str, prune_amount: float, low_rank_energy: float,
           examples: tuple[np.ndarray, ...], module: Any = None, calibration: Any = None) -> Model:
    if step == "pt2":
        # The eager module, when optimize() was given one, exports more graphs than TorchScript.
        return compile_pt2(module if module is not None else model, examples)
    if step == "prune":
        return prune(model, prune_amount)
    if step == "low_rank":
        return low_rank(model, low_rank_energy)
    if step == "fold":
        return fold(model)
    return quantize(model, step, calibration=calibration if step == "int8" else None)


def _check_validation(model: Model, validation: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The validation inputs as arrays of the signature's dtypes, and the labels; checked."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise InvalidInputError(f"validation must be a pair (X, y); got {type(validation).__name__}")
    X, y = validation
    arrays = check_inputs(model, X, "validation X")
    n = len(arrays[0])
    labels = np.asarray(y)
    if labels.ndim == 0 or len(labels) != n:
        got = "a scalar" if labels.ndim == 0 else f"{len(labels)} rows"
        raise InvalidInputError(f"validation labels y have {got} but X has {n} rows; they must match")
    if n == 0:
        raise InvalidInputError("validation X is empty; pass at least one row")
    return tuple(arrays), labels


def _first_output(out: Any) -> np.ndarray:
    if isinstance(out, dict):
        out = next(iter(out.values()))
    elif isinstance(out, (tuple, list)):
        out = out[0]
    return np.asarray(out)


def _predict(model: Model, xs: tuple[np.ndarray, ...]) -> np.ndarray:
    n = len(xs[0])
    parts = [_first_output(model(*(x[i:i + _CHUNK_ROWS] for x in xs))) for i in range(0, n, _CHUNK_ROWS)]
    return np.concatenate(parts).astype(np.float64, copy=False)


def _batch(xs: tuple[np.ndarray, ...], rows: int) -> tuple[np.ndarray, ...]:
    reps = math.ceil(rows / len(xs[0]))
    return tuple(np.ascontiguousarray(np.concatenate([x] * reps)[:rows]) for x in xs)


#: Timing rounds per candidate: its timed calls are split into this many rounds, which
#: alternate between candidates.
_ROUNDS = 5


def interleaved_ms(calls: Sequence[Callable[[], Any]], runs: int, *, rounds: int = _ROUNDS,
                   clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Median milliseconds per call of each of ``calls``, timed in ``rounds`` rounds that
    alternate between them (``runs`` calls each in all, at least one a round), after 3 warm-up
    calls each. Timing one candidate after another lets a slow spell of a shared machine land on
    whichever ran during it, and optimize() then picks by noise; alternating makes every
    candidate see the same machine."""
    rounds = max(1, min(rounds, runs))
    per_round = math.ceil(runs / rounds)
    for call in calls:
        for _ in range(3):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = clock()
            for _ in range(per_round):
                call()
            samples[i].append((clock() - start) / per_round)
    return [float(np.median(s) * 1e3) for s in samples]


def _size_bytes(model: Model) -> int:
    with tempfile.TemporaryDirectory(prefix="mlship-optimize-") as tmp:
        path = os.path.join(tmp, "model.pt")
        model.save(path)
        return os.path.getsize(path)


class _Measurer:
    """Measures candidates the same way as the original, against its outputs and metric."""

    def __init__(self, xs: tuple[np.ndarray, ...], y: np.ndarray, metric: Metric, latency_runs: int,
                 batchable: bool) -> None:
        self.xs, self.y, self.metric, self.runs = xs, y, metric, latency_runs
        self.one = _batch(xs, 1) if batchable else xs
        self.many = _batch(xs, 32) if batchable else xs
        self.reference: np.ndarray | None = None
        self.baseline: float | None = None

    def measure(self, candidate: Candidate, max_drop: float) -> None:
        model = candidate.model
        assert model is not None
        out = _predict(model, self.xs)
        candidate.metric = self.metric.fn(self.y, out)
        if self.reference is None:
            self.reference, self.baseline = out, candidate.metric
        assert self.baseline is not None
        candidate.drop = self.metric.drop(self.baseline, candidate.metric)
        candidate.max_abs_diff = float(np.max(np.abs(out - self.reference))) if out.shape == self.reference.shape \
            else math.inf
        candidate.size_bytes = _size_bytes(model)
        candidate.ok = bool(candidate.drop <= max_drop + 1e-12)

    def time_all(self, candidates: list[Candidate]) -> None:
        """Sets every built candidate's latencies, timed alternately (see interleaved_ms)."""
        built = [c for c in candidates if c.model is not None]

        def calls(inputs: tuple[np.ndarray, ...]) -> list[Callable[[], Any]]:
            return [lambda m=c.model: m(*inputs) for c in built]

        for c, ms in zip(built, interleaved_ms(calls(self.one), self.runs)):
            c.latency_b1_ms = ms
        for c, ms in zip(built, interleaved_ms(calls(self.many), max(3, self.runs // 3))):
            c.latency_b32_ms = ms


def _choose(candidates: list[Candidate], metric: str, max_drop: float) -> tuple[Candidate, str]:
    original = candidates[0]
    built = [c for c in candidates[1:] if c.model is not None]
    eligible = [c for c in candidates if c.ok]
    best = min(eligible, key=lambda c: (c.latency_b1_ms, c.size_bytes))
    if best is not original:
        ratio = best.latency_b1_ms / original.latency_b1_ms if original.latency_b1_ms else float("nan")
        return best, (f"fastest at batch 1 ({ratio:.2f}x the original); {metric} drop "
                      f"{best.drop:.4f} <= max_drop {max_drop}")
    if not built:
        return original, "no technique applied to this model"
    if len(eligible) == 1:
        closest = min(built, key=lambda c: c.drop if c.drop is not None else math.inf)
        return original, (f"no candidate kept {metric} within max_drop {max_drop} "
                          f"(smallest drop: {closest.drop:.4f}, {closest.method})")
    return original, f"no candidate within max_drop {max_drop} was faster at batch 1 than the original"


def optimize(
    model: Any,
    *,
    example_inputs: Any = None,
    validation: tuple[Any, Any],
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "accuracy",
    max_drop: float = 0.01,
    methods: Sequence[str] = METHODS,
    progress: bool = True,
    latency_runs: int = 30,
    prune_amount: float = 0.5,
    low_rank_energy: float = 0.9,
    calibration: Any = None,
) -> OptimizationReport:
    """Tries each technique, measures it, and returns a report whose ``best`` is the fastest model
    that keeps the metric within ``max_drop`` of the original.

    Each candidate (every method, plus ``low_rank+int8`` and ``prune+int8`` when both parts are
    asked for) is measured the same way as the original, in the same run: size on disk, median
    latency at batch 1 and batch 32, the metric on ``validation``, and the largest absolute
    difference of its outputs from the original's. ``report.best`` is the fastest candidate at
    batch 1 whose metric drop is at most ``max_drop``; the original when none qualifies
    (``report.reason`` says why). A technique with nothing to change (e.g. no Linear layers)
    gets a row that says so; it is not an error.

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
        A TorchScript model. ``.pt2`` packages are compiled already; optimize the module
        before exporting it.
    example_inputs : optional
        Passed to :func:`mlship.load` when ``model`` is not loaded yet.
    validation : (X, y)
        Inputs (an array, or a tuple of arrays for several inputs) and labels or targets,
        one row each. The metric is computed on the model's first output.
    metric : {"accuracy", "f1", "mse"} or callable
        ``accuracy`` and ``f1`` (macro) compare the argmax of the scores with the labels;
        ``mse`` compares outputs with targets (lower is better). A callable
        ``(y_true, y_pred) -> float`` is treated as higher-is-better.
    max_drop : float
        Largest allowed worsening of the metric, in its own units (0.01 = 1 accuracy point).
    methods : sequence of str
        Any of ``"int8"``, ``"fp16"``, ``"bf16"``, ``"prune"``, ``"low_rank"``, ``"fold"``,
        ``"pt2"`` (AOTInductor compilation, see :func:`mlship.compile_pt2`; its row's note says
        how long it took), or combinations like ``"low_rank+int8"``, ``"fold+int8"`` or
        ``"low_rank+pt2"`` (``pt2`` last).
    progress : bool
        Show a tqdm progress bar over the candidates.
    latency_runs : int
        Timed calls per candidate at batch 1 (a third as many at batch 32), once every
        candidate is built, in 5 rounds that alternate between the candidates so that a busy
        spell of the machine hits each alike; the median round counts.
    prune_amount, low_rank_energy : float
        Passed to :func:`mlship.prune` and :func:`mlship.low_rank`.
    calibration : array or tuple of arrays, optional
        Inputs for the activation ranges of int8 convolutions (see :func:`mlship.quantize`).
        Default: the validation inputs. The accuracy guard is unchanged: every candidate is
        still judged on ``validation``.

    Raises
    ------
    ValueError
        Unknown method or metric, or a bad ``max_drop``, ``prune_amount`` or ``low_rank_energy``.
    mlship.InvalidInputError
        Validation data that does not match the signature, or labels of the wrong length.
    mlship.FailedPreconditionError
        The model is a ``.pt2`` package.

    Examples
    --------
    >>> report = mlship.optimize(model, validation=(X_val, y_val), max_drop=0.01)  # doctest: +SKIP
    >>> print(report)                                                              # doctest: +SKIP
    >>> dep = mlship.deploy(report.best, name="digits")                            # doctest: +SKIP
    """
    from tqdm import tqdm

    resolved = resolve(metric)
    plan = _plan(methods)
    if isinstance(max_drop, bool) or not isinstance(max_drop, numbers.Real) or not max_drop >= 0:
        raise ValueError(f"max_drop must be a number >= 0; got {max_drop!r}")
    if isinstance(latency_runs, bool) or not isinstance(latency_runs, int) or latency_runs < 1:
        raise ValueError(f"latency_runs must be a positive integer; got {latency_runs!r}")
    if not 0.0 <= prune_amount < 1.0:
        raise ValueError(f"prune_amount must be in [0, 1); got {prune_amount!r}")
    if not 0.0 < low_rank_energy <= 1.0:
        raise ValueError(f"low_rank_energy must be in (0, 1]; got {low_rank_energy!r}")
    loaded = _as_model(model, example_inputs)
    if loaded.format != "torchscript":
        raise FailedPreconditionError(
            f"cannot optimize a {loaded.format} (.pt2) package: it is compiled ahead of time and its weights "
            "cannot be rewritten. Optimize the torch.nn.Module (mlship.optimize(module, example_inputs=...)), "
            "then export the result"
        )
    xs, y = _check_validation(loaded, validation)
    calibration = xs if calibration is None else check_inputs(loaded, calibration, "calibration")
    measurer = _Measurer(xs, y, resolved, latency_runs, all(s.shape and s.shape[0] == -1 for s in loaded.signature.inputs))

    original = Candidate("original", model=loaded, note="fp32, as loaded")
    candidates = [original]
    with tqdm(total=len(plan) + 2, desc="mlship.optimize", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("original")
        measurer.measure(original, float(max_drop))
        bar.update(1)
        for method in plan:
            bar.set_postfix_str(method)
            candidates.append(_build_and_measure(loaded, method, measurer, float(max_drop), prune_amount,
                                                 low_rank_energy, _eager_module(model), calibration))
            bar.update(1)
        bar.set_postfix_str("timing")
        measurer.time_all(candidates)
        bar.update(1)
    best, reason = _choose(candidates, resolved.name, float(max_drop))
    return OptimizationReport(candidates, metric_name=resolved.name, max_drop=float(max_drop), best=best,
                              reason=reason, cpu=_core.half_precision_support())


def _build_and_measure(model: Model, method: str, measurer: _Measurer, max_drop: float, prune_amount: float,
                       low_rank_energy: float, module: Any = None, calibration: Any = None) -> Candidate:
    candidate = Candidate(method)
    current = model
    notes = []
    steps = method.split("+")
    try:
        for i, step in enumerate(steps):
            if step == "int8" and steps[i + 1:i + 2] == ["pt2"] and module is not None and current is model:
                # Compiled int8: the eager module's Linears get int8 weights the exporter can
                # read (mlship's TorchScript int8 classes cannot be exported); pt2 compiles it.
                module, report = int8_for_export(module)
                candidate.details[step] = report
                if not report["layers_changed"]:
                    candidate.note = f"{step}: {report['summary']}"
                    return candidate
                notes.append(report["summary"])
                continue
            current = _apply(current, step, prune_amount, low_rank_energy, measurer.xs,
                             module if current is model else None, calibration)
            report = current.optimization or {}
            candidate.details[step] = report
            if not report.get("layers_changed"):
                candidate.note = f"{step}: {report.get('summary', 'nothing changed')}"
                return candidate
            notes.append(_short_note(step, report))
    except MlshipError as e:
        candidate.note = f"failed: {e}"
        return candidate
    candidate.model = current
    candidate.note = "; ".join(notes)
    measurer.measure(candidate, max_drop)
    return candidate


def _eager_module(model: Any) -> Any:
    """The torch.nn.Module optimize() was given (not a scripted one), or None."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
        return None
    return model


def _short_note(step: str, report: dict[str, Any]) -> str:
    details = report.get("details", {})
    if step == "int8":
        note = f"int8 kernel: {details.get('kernel', '?')}"
        if "convolutions" in details:
            note += f"; {details['convolutions'].split(' (')[0]}"
        return note
    if step in ("fp16", "bf16"):
        return f"{step} compute: {details.get('compute', '?')}"
    if step == "prune":
        parts = [f"{what} {details[what]}" for what in ("neurons", "channels") if what in details]
        return "; ".join(parts) or report.get("summary", "")
    if step in ("fold", "pt2"):
        return report.get("summary", "")
    return f"ranks {details.get('ranks', '?')}"
