"""mlship.deploy: serve a model with dynamic batching behind a KServe v2 HTTP server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading
from typing import Any, Callable

from mlship import _core
from mlship._limits import Limits
from mlship._monitor import SLO, DriftOptions, metrics_dict
from mlship._load import load
from mlship._model import Model, _numpy_from_dlpack


class Deployment:
    """A model being served: in-process calls, HTTP, or both.

    Created by :func:`mlship.deploy`. Every method is thread-safe.

    Examples
    --------
    >>> import numpy as np, torch, mlship
    >>> model = mlship.load(torch.nn.Linear(4, 2), example_inputs=torch.zeros(1, 4))
    >>> with mlship.deploy(model, port=0) as dep:
    ...     dep.predict(np.ones((3, 4), np.float32)).shape
    (3, 2)
    """

    def __init__(self, core: Any, model: Model) -> None:
        self._core = core
        self._model = model

    @property
    def url(self) -> str | None:
        """``http://host:port`` of the KServe v2 endpoint, or None when HTTP is off."""
        if not self._core.serve_http:
            return None
        host = self._core.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._core.port}"

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def model(self) -> Model:
        return self._model

    @property
    def settings(self) -> dict[str, Any]:
        """Batching and worker settings in effect."""
        return dict(self._core.settings)

    def predict(self, *inputs: Any, timeout: float | None = None) -> Any:
        """Runs one request through the batcher (no HTTP) and waits for it.

        Inputs are as for :meth:`mlship.Model.__call__`. Concurrent calls from
        several threads are batched together. Raises ``OverloadedError`` when
        the queue is full or the deployment is stopping, ``DeadlineExceededError``
        when ``timeout`` (seconds) passes before the request runs.
        """
        flat = self._core.predict_arrays(inputs, timeout or 0.0)  # plain numpy arrays: no DLPack round trips
        if flat is None:
            prepared, convert = self._prepare(inputs)
            flat = self._core.predict(prepared, convert, timeout or 0.0)
        return self._model._structure(flat)

    def submit(self, *inputs: Any, timeout: float | None = None) -> concurrent.futures.Future:
        """Queues one request and returns a ``concurrent.futures.Future`` of its result."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        structure = self._model._structure

        def on_done(error: BaseException | None, flat: Any) -> None:
            if future.set_running_or_notify_cancel():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(structure(flat))

        try:
            prepared, convert = self._prepare(inputs)
        except BaseException as e:  # noqa: BLE001 - bad input resolves the future, like any error
            future.set_running_or_notify_cancel()
            future.set_exception(e)
            return future
        self._core.submit(prepared, convert, on_done, timeout or 0.0)
        return future

    async def apredict(self, *inputs: Any, timeout: float | None = None) -> Any:
        """``await dep.apredict(x)``: :meth:`submit` for asyncio code (FastAPI handlers, notebooks)."""
        return await asyncio.wrap_future(self.submit(*inputs, timeout=timeout))

    # ---- Monitoring ----

    @property
    def dashboard_url(self) -> str | None:
        """The live dashboard page, or None without HTTP or monitoring."""
        url = self.url
        return None if url is None or not self._core.monitoring else f"{url}/dashboard"

    def metrics(self) -> dict[str, Any]:
        """The figures served at ``GET /metrics``, as a dict keyed by metric name.

        The model and version labels are left out (they are the same on every series).
        Counters and gauges map to numbers, histograms to
        ``{"buckets": {le: cumulative count}, "sum", "count"}``; a metric with one more
        label (``reason``, ``feature``) maps its values, with two (``feature``, ``kind``)
        tuples of them. README.md ("Monitoring") lists every metric.

        Examples
        --------
        >>> m = dep.metrics()  # doctest: +SKIP
        >>> m["mlship_requests_succeeded_total"], m["mlship_requests_failed_total"]["invalid_argument"]  # doctest: +SKIP
        (120.0, 3.0)
        """
        return metrics_dict(self._core.metrics_families())

    def metrics_text(self) -> str:
        """The same figures in the Prometheus text format, exactly as ``GET /metrics`` serves them."""
        return self._core.metrics_text()

    def stats(self) -> dict[str, float]:
        """Latency percentiles, throughput and mean batch size over the recent window.

        Keys: ``p50_ms``, ``p90_ms``, ``p99_ms``, ``mean_ms`` (successful requests),
        ``throughput_rps``, ``requests`` and ``failed_requests`` in the window,
        ``mean_batch_size`` (rows per forward pass) and ``window_s`` (the span covered,
        at most ``stats_window_s``).
        """
        return dict(self._core.stats())

    def status(self) -> dict[str, Any]:
        """Which model serves and why: ``{"serving": "primary" | "fallback", "reason": str,
        "seconds_since_change": float, "fallback_switches": int}``."""
        return dict(self._core.status())

    def restore(self) -> None:
        """Moves traffic from the fallback back to the primary model.

        Raises ``FailedPreconditionError`` without a fallback or when the primary already serves.
        """
        self._core.restore()

    def set_reference(self, data: Any) -> None:
        """Profiles ``data`` (shaped like the model's first input, e.g. the training set)
        for drift and anomaly checks, replacing any earlier reference and its live window.
        For a classifier the model also runs once over ``data`` to learn its class mix."""
        self._core.set_reference(_as_array(data))

    def check_drift(self) -> dict[str, Any]:
        """Judges drift now (as the periodic check does, alerts included) and returns the
        report: ``{"window_rows", "drifted": [feature names], "features": [{"feature", "psi",
        "ks_statistic", "ks_pvalue", "live_count", "judged", "drifted"}], "prediction"}``.

        ``prediction`` is None unless the reference is a classifier's (see ``deploy``'s
        ``classifier``); then ``{"window_rows", "psi", "judged", "drifted",
        "reference_shares", "live_shares"}`` for the predicted classes."""
        return dict(self._core.check_drift())

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stops serving: readiness goes false, new requests get 503 / ``OverloadedError``,
        everything already accepted is answered (or, with ``drain=False``, answered with
        ``OverloadedError`` without running), then the threads exit. Idempotent.

        ``timeout`` bounds the wait in seconds; on expiry the stop goes on in the background.
        """
        if timeout is None:
            self._core.stop(drain)
            return
        worker = threading.Thread(target=self._core.stop, args=(drain,), daemon=True)
        worker.start()
        worker.join(timeout)

    def wait(self) -> None:
        """Blocks the calling script until SIGINT/SIGTERM, then stops with drain."""
        done = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        s = self._core.settings
        state = "stopping" if self._core.draining else "serving"
        return (
            f"mlship.Deployment(name={self.name!r}, url={self.url!r}, {state}, "
            f"max_batch_size={s['max_batch_size']}, max_delay_ms={s['max_delay_ms']}, "
            f"max_queue_size={s['max_queue_size']}, instances={s['instances']}, "
            f"intra_op_threads={s['intra_op_threads']}, auth={s['auth']})"
        )

    def _prepare(self, inputs: tuple[Any, ...]) -> tuple[list[Any], Any]:
        prepared, as_torch = self._model._prepare(inputs)
        if as_torch:
            import torch

            return prepared, torch.from_dlpack
        return prepared, _numpy_from_dlpack


def _as_array(data: Any) -> Any:
    """numpy arrays and torch tensors pass as they are (both speak DLPack); lists become arrays."""
    if hasattr(data, "__dlpack__"):
        return data
    import numpy as np

    return np.ascontiguousarray(np.asarray(data, dtype=np.float32))


def deploy(
    model: Any,
    *,
    name: str = "model",
    version: str = "1",
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch_size: int = 32,
    max_delay_ms: float = 0.0,
    max_queue_size: int = 1024,
    timeout_ms: float | None = None,
    instances: int | None = None,
    intra_op_threads: int | None = None,
    token: str | None = None,
    insecure: bool = False,
    http: bool = True,
    example_inputs: Any = None,
    preferred_batch_sizes: list[int] | None = None,
    limits: Limits | None = None,
    reference: Any = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
    fallback: Any = None,
    slo: SLO | None = None,
    drift: DriftOptions | None = None,
    monitoring: bool = True,
    stats_window_s: int = 60,
    classifier: bool | None = None,
    sched_batch_callers: bool = True,
) -> Deployment:
    """Serves ``model`` with a dynamic batcher on native threads and a KServe v2 HTTP server.

    Parameters
    ----------
    model : mlship.Model, or anything :func:`mlship.load` accepts
        Paths and modules are loaded first (with ``example_inputs``).
    name : str
        The model's name in URLs: ``/v2/models/<name>/infer``.
    version : str
        The version served: ``/v2/models/<name>/versions/<version>``. Default ``"1"``.
    host, port : str, int
        Where to listen. Default ``127.0.0.1:8000``; ``port=0`` picks a free port
        (read it from ``.url``). Binding a non-loopback address needs ``token``
        (or ``insecure=True``, by name).
    max_batch_size : int
        Most rows in one forward pass.
    max_delay_ms : float
        How long the oldest request may wait for company before its batch runs.
    max_queue_size : int
        Requests that may wait; beyond it requests are refused (HTTP 503, ``OverloadedError``).
    timeout_ms : float, optional
        A request still queued after this long is answered with a timeout (HTTP 504) and never run.
    instances, intra_op_threads : int, optional
        Worker threads running batches, and torch threads per worker. Defaults keep
        instances × intra_op_threads ≈ cores (docs/serving.md explains how to choose).
    token : str, optional
        Require ``Authorization: Bearer <token>`` on every endpoint except health.
        Defaults to the ``MLSHIP_TOKEN`` environment variable.
    http : bool
        False serves in-process only (``predict``/``submit``/``apredict``).
    limits : mlship.Limits, optional
        Bounds on HTTP requests (body size, JSON depth, elements per tensor,
        connections, header size); see :class:`mlship.Limits` for the defaults.
    reference : array, optional
        Data shaped like the model's first input (e.g. the training set). Live inputs are
        compared with it for drift (PSI and KS per feature) and anomalies (NaN, ±Inf,
        values far outside its range). Also settable later with :meth:`Deployment.set_reference`.
    on_alert : callable, optional
        Called with a dict ``{"kind": "drift" | "prediction_drift" | "fallback" | "restore",
        "model", "version", "message", "features", "drift", "prediction"}`` on every alert, on a native thread holding the
        GIL. Keep it quick. Alerts are also logged on stderr and counted in the metrics.
    fallback : mlship.Model, or anything :func:`mlship.load` accepts
        A known-good model taking the same inputs. Needs ``slo``: when the primary breaches
        it, traffic moves to the fallback (see :meth:`Deployment.status`, :meth:`Deployment.restore`).
    slo : mlship.SLO, optional
        The objective the primary must meet (error rate, p99 latency, over a window).
    drift : mlship.DriftOptions, optional
        Drift window, thresholds, check interval, and the anomaly tolerance and rejection.
    monitoring : bool
        Metrics, stats, drift, anomalies, the SLO and ``/metrics`` + ``/dashboard``.
        Default True; False leaves the request path unmeasured.
    stats_window_s : int
        How far back :meth:`Deployment.stats` looks, in seconds. Default 60.
    classifier : bool, optional
        Whether to watch the predicted-class mix for drift. With a reference, a classifier
        runs once over it to learn which classes it predicts there, and the argmax of each
        live prediction is compared with that mix (PSI, judged with ``drift``'s window,
        ``min_samples`` and ``psi_threshold``; alert kind ``"prediction_drift"``).
        None (default) decides from the model: one floating-point output shaped
        ``[rows, classes]`` with at least 2 classes, and one input. True insists (an error
        if the model does not fit; with several outputs the first is used); False turns it off.
    sched_batch_callers : bool
        Linux: a thread found calling :meth:`Deployment.predict` in a tight loop runs under
        ``SCHED_BATCH`` while it does, and goes back to ``SCHED_OTHER`` at its first call after
        a pause, so the threads waking one another do not preempt each other (about 17% more
        calls/s with 16 threads on 2 cores). Threads under any other policy are left alone.
        Default True; False never touches a caller's scheduling (docs/serving.md).

    Examples
    --------
    >>> dep = mlship.deploy(model, port=0)  # doctest: +SKIP
    >>> dep.url, dep.predict(x)  # doctest: +SKIP
    """
    if not isinstance(model, Model):
        model = load(model, example_inputs)
    if token is None:
        token = os.environ.get("MLSHIP_TOKEN") or None
    for label, value in (("max_delay_ms", max_delay_ms), ("timeout_ms", timeout_ms)):
        if value is not None and value < 0:
            raise ValueError(f"{label} must be >= 0; was {value}")
    if fallback is not None and slo is None:
        raise ValueError("fallback= needs slo=mlship.SLO(...): the SLO decides when traffic moves to it")
    if slo is not None and fallback is None:
        raise ValueError("slo= needs fallback=: a breached SLO moves traffic to the fallback model")
    if fallback is not None and not isinstance(fallback, Model):
        fallback = load(fallback, example_inputs)
    if classifier not in (None, True, False):
        raise ValueError(f"classifier must be None (decide from the model's outputs), True or False; was {classifier!r}")
    if not monitoring and (reference is not None or slo is not None or on_alert is not None or classifier):
        raise ValueError("reference=, slo=, on_alert= and classifier=True need monitoring=True")
    options = {
        "name": name,
        "version": version,
        "host": host,
        "port": port,
        "max_batch_size": max_batch_size,
        "max_delay_us": int(round(max_delay_ms * 1000)),
        "max_queue_size": max_queue_size,
        "timeout_us": int(round(timeout_ms * 1000)) if timeout_ms else None,
        "instances": instances,
        "intra_op_threads": intra_op_threads,
        "token": token,
        "insecure": insecure,
        "http": http,
        "preferred_batch_sizes": preferred_batch_sizes,
        **(limits or Limits()).as_options(),
        **(drift or DriftOptions()).as_options(),
        "monitoring": monitoring,
        "stats_window_s": stats_window_s,
        "classifier": classifier,
        "sched_batch_callers": bool(sched_batch_callers),
        "on_alert": on_alert,
        "slo": slo.as_options() if slo is not None else None,
        "fallback": fallback._core if fallback is not None else None,
    }
    dep = Deployment(_core.deploy(model._core, options), model)
    if reference is not None:
        try:
            dep.set_reference(reference)
        except BaseException:
            dep.stop(drain=False)
            raise
    return dep



