"""mlship.tune: measure a model on this machine over instances × intra-op threads × max batch
size and pick the setting to serve it with (issue 22, "Self-tuned settings").

Each candidate is deployed in-process (``deploy(http=False)``, no HTTP, no monitoring) and
driven by a closed loop of caller threads calling ``Deployment.predict``; the whole search is
bounded by ``budget_s``. The selection is a pure function of the measured rows, so tests
drive it with an injected measurement and clock.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlship import _options
from mlship._model import Model

TUNED_KEYS = ("instances", "intra_op_threads", "max_batch_size")
"""The settings tune() varies: the options schema's keys, as deploy() takes them."""

PER_MODEL_KEYS = ("intra_op_threads", "max_batch_size")
"""The tuned keys a repository can keep per model (``instances`` is server-wide: every model
of a server shares its workers)."""

BATCH_SIZES = (1, 8, 32)


def default_setting() -> dict[str, int]:
    """What deploy() serves with when nothing is given: the schema's defaults."""
    return {key: int(_options.default(key)) for key in TUNED_KEYS}


def _powers_up_to(cores: int) -> list[int]:
    values = [p for p in (1 << i for i in range(16)) if p <= cores]
    return values + ([cores] if cores not in values else [])


def default_candidates(cores: int | None = None, fixed: dict[str, Any] | None = None) -> list[dict[str, int]]:
    """The settings tune() measures by default, the default setting first.

    ``instances`` and ``intra_op_threads`` are powers of two (and ``cores``) whose product
    lies between half the cores and the cores (fewer leave cores idle, more oversubscribe
    them); ``max_batch_size`` is 1, 8 or 32. A key in ``fixed`` takes only its given value.
    """
    cores = max(1, cores or os.cpu_count() or 1)
    fixed = {k: int(v) for k, v in (fixed or {}).items() if k in TUNED_KEYS and v is not None}
    searched = {"instances": _powers_up_to(cores), "intra_op_threads": _powers_up_to(cores),
                "max_batch_size": list(BATCH_SIZES)}
    choices = {key: [fixed[key]] if key in fixed else values for key, values in searched.items()}
    pairs = [(i, t) for i in choices["instances"] for t in choices["intra_op_threads"]]
    fitting = [(i, t) for i, t in pairs if max(1, cores // 2) <= i * t <= cores]
    if not fitting:  # fixed values that fit nowhere: the least oversubscribed of what they allow
        smallest = min(i * t for i, t in pairs)
        fitting = [(i, t) for i, t in pairs if i * t == smallest]
    grid = [{"instances": i, "intra_op_threads": t, "max_batch_size": b}
            for i, t in fitting for b in choices["max_batch_size"]]
    first = {**default_setting(), **fixed}
    return [first] + [c for c in grid if c != first]


@dataclasses.dataclass(frozen=True)
class TuneRow:
    """One measured candidate.

    Attributes
    ----------
    settings : dict
        ``instances``, ``intra_op_threads``, ``max_batch_size`` (deploy() keywords).
    requests_per_s : float
        Requests answered per second by the closed loop of ``concurrency`` callers.
    p50_ms, p99_ms : float or None
        Latency of one request, as its caller saw it (None when none was timed).
    requests, errors : int
        Requests timed, and requests that raised.
    seconds : float
        What measuring this candidate took, deploy and stop included.
    within_budget : bool
        ``p99_ms`` <= the latency budget (True without one), no errors, and at least one request timed.
    """

    settings: dict[str, int]
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    errors: int
    seconds: float
    within_budget: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What :func:`mlship.tune` measured and chose.

    Attributes
    ----------
    settings : dict
        The chosen setting, ``{"instances", "intra_op_threads", "max_batch_size"}``:
        ``mlship.deploy(model, **result.settings)``.
    rows : list of TuneRow
        Every candidate measured, in the order measured (the default setting first).
    skipped : list of dict
        Candidates not measured because ``budget_s`` ran out.
    default : TuneRow or None
        The row of the setting deploy() uses when nothing is given (measured first).
    chosen : TuneRow or None
        The row of ``settings`` (None when nothing could be timed; ``settings`` is then the default).
    reason : str
        Why ``settings`` was chosen.
    latency_budget_ms : float or None
    concurrency : int
        Caller threads of the closed loop.
    budget_s, elapsed_s : float
        The bound on the whole search, and what it took.
    """

    settings: dict[str, int]
    rows: list[TuneRow]
    skipped: list[dict[str, int]]
    default: TuneRow | None
    chosen: TuneRow | None
    reason: str
    latency_budget_ms: float | None
    concurrency: int
    budget_s: float
    elapsed_s: float

    @property
    def speedup(self) -> float | None:
        """The chosen setting's req/s over the default's (None without both)."""
        if self.chosen is None or self.default is None or not self.default.requests_per_s:
            return None
        return self.chosen.requests_per_s / self.default.requests_per_s

    def table(self) -> str:
        """Every measured candidate, one line each, then the choice."""
        header = ["instances", "threads", "max_batch", "req/s", "p50 ms", "p99 ms", "requests", "errors", "note"]
        lines = []
        for row in self.rows:
            notes = []
            if row is self.default:
                notes.append("default")
            if row is self.chosen:
                notes.append("chosen")
            if not row.within_budget:
                notes.append("over budget" if row.requests and not row.errors else "failed" if row.errors
                             else "not timed")
            s = row.settings
            lines.append([str(s["instances"]), str(s["intra_op_threads"] or "auto"), str(s["max_batch_size"]),
                          f"{row.requests_per_s:.1f}", _ms(row.p50_ms), _ms(row.p99_ms), str(row.requests),
                          str(row.errors), ", ".join(notes)])
        widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
        text = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
        text += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
        chosen = " ".join(f"{k}={v}" for k, v in self.settings.items())
        text.append(f"chosen: {chosen} ({self.reason})")
        if self.speedup is not None and self.chosen is not self.default:
            p99 = (f", p99 {self.chosen.p99_ms / self.default.p99_ms:.2f}x"
                   if self.chosen.p99_ms and self.default.p99_ms else "")
            text.append(f"vs the default: {self.speedup:.2f}x req/s{p99}")
        if self.skipped:
            text.append(f"not measured ({len(self.skipped)}): budget_s={self.budget_s:g} ran out")
        text.append(f"measured {len(self.rows)} of {len(self.rows) + len(self.skipped)} candidates in "
                    f"{self.elapsed_s:.1f} s, {self.concurrency} caller threads")
        return "\n".join(text)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "settings": dict(self.settings), "rows": [r.to_dict() for r in self.rows],
            "skipped": [dict(s) for s in self.skipped], "default": self.default.to_dict() if self.default else None,
            "chosen": self.chosen.to_dict() if self.chosen else None, "reason": self.reason,
            "latency_budget_ms": self.latency_budget_ms, "concurrency": self.concurrency,
            "budget_s": self.budget_s, "elapsed_s": self.elapsed_s, "speedup": self.speedup,
        }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def choose(rows: Sequence[TuneRow], latency_budget_ms: float | None) -> tuple[TuneRow | None, str]:
    """The row to serve with, and why: the best req/s among rows within the latency budget;
    without a budget the lowest p99; when no row meets the budget, the lowest p99 too."""
    timed = [r for r in rows if r.requests and not r.errors and r.p99_ms is not None]
    if not timed:
        return None, "no candidate answered a timed request; kept the default"
    if latency_budget_ms is None:
        best = min(timed, key=lambda r: (r.p99_ms, -r.requests_per_s))
        return best, "lowest p99; no latency_budget_ms given"
    within = [r for r in timed if r.within_budget]
    if within:
        best = max(within, key=lambda r: (r.requests_per_s, -r.p99_ms))
        return best, f"best req/s with p99 <= {latency_budget_ms:g} ms"
    best = min(timed, key=lambda r: (r.p99_ms, -r.requests_per_s))
    return best, f"no candidate kept p99 <= {latency_budget_ms:g} ms; lowest p99"


def example_request(model: Model, example_inputs: Any = None) -> tuple[np.ndarray, ...]:
    """The inputs of one request: ``example_inputs`` as given (one array per input), or one
    row per input built from the signature (which then may have no dynamic dimension but the batch)."""
    if example_inputs is not None:
        items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
        out = []
        for item in items:
            if hasattr(item, "detach"):
                item = item.detach().cpu().numpy()
            out.append(np.ascontiguousarray(np.asarray(item)))
        return tuple(out)
    rng = np.random.default_rng(0)
    out = []
    for spec in model.signature.inputs:
        dims = list(spec.shape)
        if dims and dims[0] == -1:
            dims[0] = 1
        if any(d < 0 for d in dims):
            raise ValueError(f"input {spec.name!r} has shape {spec.shape}: tune() needs example_inputs for a "
                             "dynamic dimension other than the batch")
        dtype = np.dtype(spec.numpy_dtype)
        if dtype.kind == "f":
            out.append(rng.standard_normal(dims).astype(dtype))
        else:
            out.append(np.zeros(dims, dtype))
    return tuple(out)


def measure_in_process(model: Model, inputs: tuple[np.ndarray, ...], settings: dict[str, Any],
                       concurrency: int, seconds: float, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Serves ``model`` with ``settings`` in-process and drives it with ``concurrency``
    threads calling ``predict`` back to back for ``seconds``; requests started in the
    first fifth are not timed (warm-up). Returns ``{"requests_per_s", "p50_ms", "p99_ms",
    "requests", "errors"}``."""
    from mlship._deploy import deploy

    dep = deploy(model, name="tune", http=False, monitoring=False, tune=False, **(fixed or {}), **settings)
    try:
        dep.predict(*inputs)
        go = threading.Barrier(concurrency + 1)
        latencies: list[list[float]] = [[] for _ in range(concurrency)]
        finished = [0.0] * concurrency
        errors = [0] * concurrency
        window: list[float] = []

        def caller(i: int) -> None:
            go.wait()
            warm_until, end = window
            mine = latencies[i]
            while True:
                start = time.perf_counter()
                if start >= end:
                    break
                try:
                    dep.predict(*inputs)
                except Exception:  # noqa: BLE001 - counted; a failing setting is not chosen
                    errors[i] += 1
                    continue
                done = time.perf_counter()
                if start >= warm_until:
                    mine.append(done - start)
                    finished[i] = done

        threads = [threading.Thread(target=caller, args=(i,), name=f"mlship-tune{i}", daemon=True)
                   for i in range(concurrency)]
        for t in threads:
            t.start()
        now = time.perf_counter()
        window.extend((now + 0.2 * seconds, now + seconds))
        go.wait()
        for t in threads:
            t.join()
    finally:
        dep.stop(drain=True)
    samples = np.array([x for mine in latencies for x in mine])
    if samples.size == 0:
        return {"requests_per_s": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0, "errors": sum(errors)}
    span = max(finished) - window[0]
    return {
        "requests_per_s": float(samples.size / span) if span > 0 else 0.0,
        "p50_ms": float(np.percentile(samples, 50) * 1e3),
        "p99_ms": float(np.percentile(samples, 99) * 1e3),
        "requests": int(samples.size),
        "errors": int(sum(errors)),
    }


def tune(model: Any, example_inputs: Any = None, *, budget_s: float = 10.0, latency_budget_ms: float | None = None,
         concurrency: int | None = None, candidates: Sequence[dict[str, Any]] | None = None,
         fixed: dict[str, Any] | None = None, measure: Callable[[dict[str, int]], dict[str, Any]] | None = None,
         clock: Callable[[], float] | None = None) -> TuneResult:
    """Measures ``model`` on this machine over instances × intra-op threads × max batch size
    and picks the setting to serve it with.

    Each candidate is served in-process (:func:`mlship.deploy` with ``http=False``) and
    driven by ``concurrency`` caller threads calling ``predict`` back to back, each sending
    ``example_inputs``, for an equal share of ``budget_s``. The chosen setting is the best
    requests/s whose p99 is at most ``latency_budget_ms``; without a budget (or when no
    candidate meets it) the lowest p99.

    Parameters
    ----------
    model : mlship.Model, or anything :func:`mlship.load` accepts (with ``example_inputs``)
    example_inputs : one request's inputs, optional
        Sent as they are by every caller (give one row for row-at-a-time traffic). Default:
        one row of random values per input, built from the signature.
    budget_s : float
        Bound on the whole search, in seconds. Each candidate gets ``budget_s`` / candidates,
        deploy and stop included; a candidate is started only while the time left covers the
        longest one so far, so the rest are skipped (listed in ``skipped``) rather than overrun it.
    latency_budget_ms : float, optional
        The p99 a chosen setting must keep to.
    concurrency : int, optional
        Caller threads (requests in flight). Default 32, the largest default batch size.
    candidates : list of dict, optional
        Settings to measure (keys ``instances``, ``intra_op_threads``, ``max_batch_size``;
        missing keys take deploy()'s defaults). Default: :func:`default_candidates`, which
        derives them from ``os.cpu_count()``.
    fixed : dict, optional
        Other deploy() settings held while measuring (``max_delay_ms``, ...). A tuned key
        given here is held too: only its value is measured.
    measure, clock : callables, optional
        For tests: ``measure(settings) -> {"requests_per_s", "p50_ms", "p99_ms", "requests",
        "errors"}`` replaces serving the model, and ``clock()`` (seconds) replaces
        ``time.monotonic`` for the budget.

    Returns
    -------
    TuneResult
        ``.settings`` (deploy() keywords), ``.rows``, ``.table()``.
    """
    from mlship._load import load

    clock = clock or time.monotonic
    fixed = dict(fixed or {})
    held = {k: fixed.pop(k) for k in TUNED_KEYS if fixed.get(k) is not None}
    for k in (*TUNED_KEYS, "name", "http", "monitoring", "tune"):
        fixed.pop(k, None)
    if candidates is None:
        candidates = default_candidates(fixed=held)
    else:
        base = default_setting()
        candidates = [{**base, **{k: int(v) for k, v in c.items()}, **held} for c in candidates]
        candidates = [c for i, c in enumerate(candidates) if c not in candidates[:i]]
    unknown = sorted({k for c in candidates for k in c} - set(TUNED_KEYS))
    if unknown:
        raise ValueError(f"candidates may set only {', '.join(TUNED_KEYS)}; got {', '.join(unknown)}")
    if budget_s <= 0:
        raise ValueError(f"budget_s must be > 0; was {budget_s}")
    concurrency = int(concurrency or max(BATCH_SIZES))
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1; was {concurrency}")
    if measure is None:
        if not isinstance(model, Model):
            model = load(model, example_inputs)
        inputs = example_request(model, example_inputs)
        share = budget_s / len(candidates)

        def measure(settings: dict[str, int]) -> dict[str, Any]:
            # Deploying and stopping take part of the share; the load gets the rest.
            return measure_in_process(model, inputs, settings, concurrency, max(0.05, 0.8 * share), fixed)

    started = clock()
    longest = 0.0
    rows: list[TuneRow] = []
    skipped: list[dict[str, int]] = []
    for candidate in candidates:
        now = clock()
        if rows and now - started + longest > budget_s:
            skipped.append(candidate)
            continue
        figures = measure(dict(candidate))
        took = clock() - now
        longest = max(longest, took)
        p99 = figures.get("p99_ms")
        requests = int(figures.get("requests", 1 if p99 is not None else 0))
        errors = int(figures.get("errors", 0))
        ok = (p99 is not None and requests > 0 and errors == 0
              and (latency_budget_ms is None or p99 <= latency_budget_ms))
        rows.append(TuneRow(dict(candidate), float(figures.get("requests_per_s", 0.0)), figures.get("p50_ms"), p99,
                            requests, errors, took, ok))
    chosen, reason = choose(rows, latency_budget_ms)
    default = {**default_setting(), **held}
    return TuneResult(
        settings=dict(chosen.settings) if chosen else default,
        rows=rows, skipped=skipped,
        default=next((r for r in rows if r.settings == default), None),
        chosen=chosen, reason=reason, latency_budget_ms=latency_budget_ms, concurrency=concurrency,
        budget_s=float(budget_s), elapsed_s=clock() - started,
    )


def store_in_repository(repository: Any, name: str, result: TuneResult,
                        keys: Sequence[str] = PER_MODEL_KEYS) -> dict[str, Any]:
    """Writes the per-model keys of ``result.settings`` (``intra_op_threads``,
    ``max_batch_size``; ``keys`` picks fewer) into ``name``'s model settings
    (``mlship-model.json``), keeping its other settings; a server started on the repository
    then uses them. Returns what was stored."""
    stored = {k: result.settings[k] for k in keys if k in PER_MODEL_KEYS}
    settings = repository.settings(name)
    settings.update(stored)
    repository.set_settings(name, **settings)
    return stored


# deploy(tune="auto"), the default: measure only the models that gain from it.

AUTO_BUDGET_S = 5.0
"""The bound of the search ``tune="auto"`` runs for a compute-bound model (full load for a few
seconds at deploy; ``tune={"budget_s": ...}`` or ``mlship tune`` measure longer)."""

HELD_KEYS = ("max_delay_ms", "preferred_batch_sizes", "latency_aware_batching", "sched_batch_callers")
"""The other deploy() settings a tune at deploy holds as given while measuring."""

TUNE_MODES = {"auto": "auto", "on": True, "off": False}
"""``mlship serve --tune`` values and the ``tune=`` each stands for."""


def compute_bound_forward_ms() -> float:
    """The forward pass, in ms, from which a model counts as compute-bound: the threshold from
    which intra-op threads "auto" widens (``AutoThreads``), so both decide alike."""
    from mlship import _core

    return float(_core.compute_bound_forward_seconds) * 1e3


def probe_forward_ms(model: Model, inputs: tuple[np.ndarray, ...], *, warmup: int = 2, calls: int = 5,
                     max_s: float = 1.0, clock: Callable[[], float] = time.perf_counter) -> float:
    """The median of up to ``calls`` forward passes of ``inputs`` on the calling thread, in ms,
    after ``warmup`` untimed ones (TorchScript optimizes its graph on the first runs); the
    timed passes stop once ``max_s`` has gone by, so a slow model costs a few passes."""
    for _ in range(warmup):
        model(*inputs)
    times: list[float] = []
    started = clock()
    while len(times) < calls:
        now = clock()
        model(*inputs)
        times.append(clock() - now)
        if clock() - started > max_s:
            break
    return float(np.median(times) * 1e3)


def at_deploy(model: Model, example_inputs: Any, mode: Any, options: dict[str, Any],
              probe: Callable[[tuple[np.ndarray, ...]], float] | None = None,
              **tune_kwargs: Any) -> tuple[TuneResult | None, str]:
    """Tunes ``model`` as ``deploy(tune=mode)`` asks, before it is served with ``options``
    (schema keys; the tuned keys chosen are written into it). Returns the result (None when
    nothing was measured) and a line saying what was done and why.

    ``mode``: False measures nothing; True (or a dict of :func:`tune` keywords) measures;
    ``"auto"`` measures only a compute-bound model: one whose forward pass of one request
    (:func:`probe_forward_ms`) takes at least :func:`compute_bound_forward_ms`, for
    :data:`AUTO_BUDGET_S`. An overhead-bound model (the digits MLP: 0.1 ms a batch of 32) is
    served best as the defaults serve it, and measuring it would only cost seconds.
    Settings given in ``options`` are held while measuring.
    """
    if mode is False or mode is None:
        return None, "not tuned: tune=False"
    if not (mode is True or mode == "auto" or isinstance(mode, dict)):
        raise ValueError(f"tune must be 'auto', True, False or a dict of mlship.tune() keywords; was {mode!r}")
    given = {k: options[k] for k in TUNED_KEYS if options.get(k) is not None}
    held = {k: options[k] for k in HELD_KEYS if options.get(k) is not None}
    kwargs = {**(mode if isinstance(mode, dict) else {}), **tune_kwargs}
    if mode == "auto":
        if len(given) == len(TUNED_KEYS):
            return None, "not tuned: instances, intra_op_threads and max_batch_size were given"
        try:
            inputs = example_request(model)
        except ValueError:
            if example_inputs is None:
                return None, ("not tuned: the signature has a dynamic dimension other than the batch, so tune='auto' "
                              "needs example_inputs (one request) to measure it")
            inputs = example_request(model, example_inputs)
        try:
            forward_ms = (probe or (lambda x: probe_forward_ms(model, x)))(inputs)
        except Exception as e:  # noqa: BLE001 - the model is served anyway; its errors surface on predict
            return None, f"not tuned: a forward pass of one example request failed: {e}"
        threshold = compute_bound_forward_ms()
        if forward_ms < threshold:
            return None, (f"not tuned: a forward pass of one request takes {forward_ms:.2f} ms, under "
                          f"{threshold:g} ms (overhead-bound): the defaults serve it")
        kwargs.setdefault("budget_s", AUTO_BUDGET_S)
        example_inputs = inputs
    result = tune(model, example_inputs, fixed={**held, **given}, **kwargs)
    options.update(result.settings)
    why = f"a forward pass of one request takes {forward_ms:.2f} ms (compute-bound); " if mode == "auto" else ""
    chosen = " ".join(f"{k}={v}" for k, v in result.settings.items())
    # No ratio to the default here: in a short share the default's auto threads have not widened yet.
    return result, (f"tuned: {why}measured {len(result.rows)} settings in {result.elapsed_s:.1f} s; chosen "
                    f"{chosen} ({result.reason})")


def at_serve(root: Any, mode: Any, options: dict[str, Any], **tune_kwargs: Any) -> list[str]:
    """Before a server starts on the repository at ``root`` with ``options`` (schema keys):
    each model whose settings hold neither ``intra_op_threads`` nor ``max_batch_size`` has its
    default version (``default_version``, else the newest) tuned as :func:`at_deploy` tunes at
    ``mode``, at the instances the server will run, and the chosen per-model keys that the
    server's options do not give are stored in its settings, so the next start does not
    measure again. Returns one line per model saying what was done."""
    if mode is False or mode is None:
        return []
    from mlship._repository import Repository

    try:
        repo = Repository(root, create=False)
    except Exception:  # noqa: BLE001 - the server, started next, refuses the folder with its own error
        return []
    notes = []
    for name in sorted({entry["name"] for entry in repo.list()}):
        settings = repo.settings(name)
        kept = [k for k in PER_MODEL_KEYS if k in settings]
        if kept:
            notes.append(f"{name}: not tuned: its settings hold {', '.join(kept)}")
            continue
        # The model's own settings override the server's (as the server applies them); the
        # per-model tuned keys are absent (checked above), so only held keys can come from them.
        merged = {**options, **{k: v for k, v in settings.items() if k in HELD_KEYS}}
        merged.setdefault("instances", _options.default("instances"))
        given = {k for k in PER_MODEL_KEYS if merged.get(k) is not None}
        try:
            model = repo.load(name, settings.get("default_version"))
        except Exception as e:  # noqa: BLE001 - the server reports the version's load error itself
            notes.append(f"{name}: not tuned: its default version did not load: {e}")
            continue
        result, note = at_deploy(model, None, mode, merged, **tune_kwargs)
        if result is not None:
            try:
                stored = store_in_repository(repo, name, result, [k for k in PER_MODEL_KEYS if k not in given])
                note += f"; stored {stored} in its settings"
            except Exception as e:  # noqa: BLE001 - a read-only repository still serves, tuned this once
                note += f"; not stored ({e}): the next start measures again"
        notes.append(f"{name}: {note}")
    return notes
