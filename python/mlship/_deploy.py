"""mlship.deploy: serve one model with dynamic batching behind a KServe v2 HTTP server,
update it in place and roll it back."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Any, Callable

from mlship import _core, _options, _tune
from mlship._endpoint import ModelEndpoint, _as_array
from mlship._limits import Limits
from mlship._load import load
from mlship._model import Model
from mlship._monitor import SLO, DriftOptions

if TYPE_CHECKING:
    from mlship._tune import TuneResult


def _url(host: str, port: int, tls: bool = False) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}"


def _golden_args(model: Model, golden: Any) -> dict[str, Any]:
    """``golden=inputs`` (outputs computed by ``model``) or ``golden=(inputs, outputs)`` as core arguments."""
    if golden is None:
        return {}
    import numpy as np

    if isinstance(golden, tuple) and len(golden) == 2 and isinstance(golden[0], (tuple, list)):
        inputs, outputs = tuple(golden[0]), golden[1]
    else:
        inputs = golden if isinstance(golden, tuple) else (golden,)
        outputs = model(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else tuple(outputs.values()) if isinstance(outputs, dict) else (
        tuple(outputs) if isinstance(outputs, list) else (outputs,))
    as_arrays = [np.ascontiguousarray(np.asarray(x)) for x in inputs]
    return {"golden_inputs": as_arrays, "golden_outputs": [np.ascontiguousarray(np.asarray(y)) for y in outputs]}


class Deployment(ModelEndpoint):
    """A model being served: in-process calls, HTTP, or both; updated in place, rolled back.

    Created by :func:`mlship.deploy`. Every method is thread-safe.

    Examples
    --------
    >>> import numpy as np, torch, mlship
    >>> model = mlship.load(torch.nn.Linear(4, 2), example_inputs=torch.zeros(1, 4))
    >>> with mlship.deploy(model, port=0) as dep:
    ...     dep.predict(np.ones((3, 4), np.float32)).shape
    (3, 2)
    """

    def __init__(self, core: Any, model: Model, fallback: Model | None = None) -> None:
        super().__init__(core.server, core.name, self._model_for_version)
        self._core = core
        self._model = model
        self._fallback = fallback
        # Python models of every version served, for rollback and for outputs' structure.
        self._models: dict[str, Model] = {core.version: model}
        if fallback is not None:
            self._models["fallback"] = fallback
        self._tuning: TuneResult | None = None
        self._tuning_note = "not tuned: made by mlship serve or a server, not deploy()"

    def _model_for_version(self, version: str) -> Model:
        if not version:
            return self._model
        return self._models.get(self._server.resolve(self._name, version), self._model)

    @property
    def url(self) -> str | None:
        """``http://host:port`` (``https://`` with TLS) of the KServe v2 endpoint, or None when HTTP is off."""
        if not self._core.serve_http:
            return None
        return _url(self._core.host, self._core.port, self._core.serves_tls)

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def grpc_port(self) -> int:
        """The port of the gRPC front end (``grpc_port=`` in :func:`mlship.deploy`), or 0 when it is off."""
        return self._core.grpc_port

    def reload_tokens(self) -> None:
        """Re-reads the ``token_file`` the deployment was started with; see :meth:`mlship.Server.reload_tokens`."""
        self._core.reload_tokens()

    def reload_tls(self) -> None:
        """Re-reads ``tls_cert``, ``tls_key`` and ``tls_client_ca``; see :meth:`mlship.Server.reload_tls`."""
        self._core.reload_tls()

    def reload(self) -> list[str]:
        """What SIGHUP does: reloads the TLS files and the token file; see :meth:`mlship.Server.reload`."""
        return _reloaded(self._core.reload())

    @property
    def tuning(self) -> TuneResult | None:
        """The :class:`mlship.TuneResult` of ``deploy(..., tune=...)``: the measured table and
        the setting chosen; None when the deployment was not tuned (see :attr:`tuning_note`)."""
        return self._tuning

    @property
    def tuning_note(self) -> str:
        """What ``deploy(tune=...)`` did and why, e.g. ``"not tuned: a forward pass of one request
        takes 0.08 ms, under 1 ms (overhead-bound): the defaults serve it"``."""
        return self._tuning_note

    @property
    def model(self) -> Model:
        """The model serving now."""
        return self._model

    @property
    def version(self) -> str:
        """The version serving now (``"1"`` at first; each :meth:`update` makes a new one)."""
        return self._core.version

    @property
    def history(self) -> list[str]:
        """Every version served so far, oldest first; the last one serves now."""
        return list(self._core.history)

    @property
    def server(self) -> Any:
        """The :class:`mlship.Server` underneath (other models can be served beside this one)."""
        from mlship._server import Server

        return Server._view(self._server, self._core.serve_http, self._core.host)

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting in effect (the options schema's keys), plus ``auth``."""
        import json

        s = json.loads(self._server.settings(self._name, ""))
        s["auth"] = bool(s.get("token")) or bool(s.get("token_file"))
        return s

    def update(self, model: Any, *, golden: Any = None, rtol: float | None = None, atol: float | None = None,
               version: str | None = None, example_inputs: Any = None) -> str:
        """Serves ``model`` as a new version and moves the traffic to it, without failing a request.

        The new version is loaded, warmed up and, with ``golden``, checked first: ``golden``
        is sample inputs (the outputs the *current* model gives on them must be reproduced)
        or ``(inputs, outputs)``; ``rtol``/``atol`` override the per-dtype tolerance. Only
        then does the traffic switch, in one step; the old version's requests in flight are
        answered, then it is freed. A model that fails its check never takes traffic and
        this raises ``FailedPreconditionError``. Returns the new version (``version``, or the
        next integer).
        """
        if not isinstance(model, Model):
            model = load(model, example_inputs)
        golden_args = _golden_args(self._model, golden)
        new_version = self._core.update(model._core, version=version or "", rtol=rtol, atol=atol, **golden_args)
        self._models[new_version] = model
        self._model = model
        return new_version

    def rollback(self) -> str:
        """Swaps back to the version before the last :meth:`update`, as a swap (no request
        fails). Returns the version now serving. Raises ``FailedPreconditionError`` when there
        is none."""
        version = self._core.rollback()
        self._model = self._models[version]
        return version

    def set_reference(self, data: Any, version: str | None = None) -> None:
        """Profiles ``data`` (shaped like the model's first input, e.g. the training set)
        for drift and anomaly checks on the version serving now and on every later
        :meth:`update`, replacing any earlier reference and its live window. For a
        classifier the model also runs once over ``data`` to learn its class mix."""
        if version:
            super().set_reference(data, version)
            return
        self._core.set_reference(_as_array(data))

    @property
    def dashboard_url(self) -> str | None:
        """The live dashboard page, or None without HTTP or monitoring."""
        url = self.url
        return None if url is None or not self._server.monitoring(self._name, "") else f"{url}/dashboard"

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

    def wait(self, ready: Callable[[], None] | None = None) -> None:
        """Blocks the calling script until SIGINT/SIGTERM, then stops with drain; SIGHUP meanwhile
        calls :meth:`reload` (TLS files, token file) and logs the outcome on stderr. ``ready`` is
        called once the signal handlers are in place (e.g. to announce the URL)."""
        _wait_for_signal(self.stop, self.reload if self._core.serve_http else None, ready)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        s = self.settings
        state = "stopping" if self._core.draining else "serving"
        return (
            f"mlship.Deployment(name={self.name!r}, version={self.version!r}, url={self.url!r}, {state}, "
            f"max_batch_size={s['max_batch_size']}, max_delay_ms={s['max_delay_ms']}, "
            f"max_queue_size={s['max_queue_size']}, instances={s['instances']}, "
            f"intra_op_threads={s['intra_op_threads'] or 'auto'}, auth={s['auth']})"
        )


def _reloaded(done: str) -> list[str]:
    """What a core ``reload()`` says it reloaded ("TLS certificate, token file") as a list."""
    return [part for part in done.split(", ") if part]


def _reload_on_hangup(reload: Callable[[], list[str]]) -> None:
    """Runs ``reload`` for a SIGHUP and logs one line on stderr saying what it did."""
    import sys

    from mlship._errors import MlshipError

    try:
        done = reload()
    except MlshipError as e:
        print(f"mlship: SIGHUP: reload failed, still serving with the previous files: {e}", file=sys.stderr,
              flush=True)
        return
    what = ", ".join(done) if done else "nothing (no tls_cert, no token_file)"
    print(f"mlship: SIGHUP: reloaded {what}", file=sys.stderr, flush=True)


def _wait_for_signal(stop: Callable[[], None], reload: Callable[[], list[str]] | None = None,
                     ready: Callable[[], None] | None = None) -> None:
    """Blocks until SIGINT/SIGTERM (when on the main thread), then calls ``stop``; with ``reload``,
    each SIGHUP meanwhile calls it (see :func:`_reload_on_hangup`). ``ready`` runs once the
    handlers are installed, so a signal sent after it has been seen is never missed."""
    done = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: done.set())
        if reload is not None and hasattr(signal, "SIGHUP"):
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: _reload_on_hangup(reload))
    try:
        if ready is not None:
            ready()
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop()


def deploy(
    model: Any,
    *,
    name: str = "model",
    version: str = "1",
    host: str = "127.0.0.1",
    port: int = 8000,
    grpc_port: int = 0,
    max_batch_size: int | None = None,
    max_delay_ms: float = 0.0,
    max_queue_size: int = 1024,
    timeout_ms: float | None = None,
    instances: int | None = None,
    intra_op_threads: int | None = None,
    token: str | None = None,
    admin_token: str | None = None,
    token_file: str | os.PathLike | None = None,
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    tls_client_ca: str | os.PathLike | None = None,
    rate_limit_per_s: float = 0.0,
    rate_limit_burst: float = 0.0,
    insecure: bool = False,
    allowed_hosts: str | None = None,
    allowed_origins: str | None = None,
    http: bool = True,
    example_inputs: Any = None,
    preferred_batch_sizes: list[int] | None = None,
    latency_aware_batching: bool = False,
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
    explain_queue_size: int | None = None,
    explain_max_evaluations: int | None = None,
    explain_sample_rate: float | None = None,
    clock: Any = None,
    tune: bool | str | dict[str, Any] = "auto",
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
    grpc_port : int
        Also serve gRPC (KServe v2 / Triton's ``inference.GRPCInferenceService``, for
        ``tritonclient.grpc``) on this port, on the same batcher, with the same host,
        tokens (metadata ``authorization: Bearer ...``) and limits as HTTP. Default 0: off;
        ``-1`` picks a free port (read it from :attr:`Deployment.grpc_port`).
    max_batch_size : int, optional
        Most rows in one forward pass. Default 32 (the options schema's).
    max_delay_ms : float
        How long the oldest request may wait for company before its batch runs.
    max_queue_size : int
        Requests that may wait; beyond it requests are refused (HTTP 503, ``OverloadedError``).
    timeout_ms : float, optional
        A request still queued after this long is answered with a timeout (HTTP 504) and never run.
    latency_aware_batching : bool
        Measure what each batch size costs per row and stop forming batches bigger than the
        smallest size within 3% of the cheapest, and with several instances give each batch at
        most its share of the queue: for compute-bound models (CNNs on few cores), where bigger
        batches only add waiting. Default False (docs/serving.md).
    instances, intra_op_threads : int, optional
        Worker threads running batches, and torch threads per worker. Defaults keep
        instances × intra_op_threads ≈ cores (docs/serving.md explains how to choose).
    token : str, optional
        Require ``Authorization: Bearer <token>`` on every endpoint except health.
        Defaults to the ``MLSHIP_TOKEN`` environment variable.
    admin_token : str, optional
        The bearer token of the repository endpoints (``POST /v2/repository/...``), distinct
        from ``token``. Defaults to ``MLSHIP_ADMIN_TOKEN``; without one those endpoints are off.
    token_file : str or path, optional
        A file of scoped tokens stored hashed (``mlship token create`` writes it): each opens
        its scopes (``infer``, ``read``, ``admin``) under its own rate limit; 403 outside
        them, 429 with Retry-After over the limit. Re-read with :meth:`Deployment.reload_tokens`.
        Counts as a token for a non-loopback ``host``. See docs/security.md.
    tls_cert, tls_key : str or path, optional
        Serve HTTPS only (TLS 1.2 and 1.3): the certificate chain and its unencrypted private
        key, PEM. Both or neither; ``.url`` then starts with ``https://``. Re-read with
        :meth:`Deployment.reload_tls` (or SIGHUP under :meth:`Deployment.wait`).
    tls_client_ca : str or path, optional
        CA certificates (PEM) that clients' certificates must chain to: every client must
        present one (mutual TLS). Needs ``tls_cert``. See docs/security.md.
    rate_limit_per_s, rate_limit_burst : float
        A token-bucket rate limit for ``token`` (requests per second, requests at once);
        0 (the default) sets none.
    allowed_hosts : str, optional
        Host names (comma-separated) the server answers besides ``localhost``,
        ``127.0.0.1`` and ``[::1]``; on loopback any other ``Host`` header gets 403, which
        stops DNS-rebinding pages (docs/security.md).
    allowed_origins : str, optional
        Web origins (comma-separated, e.g. ``"https://app.example.com"``) whose pages may
        call the server; requests with any other ``Origin`` get 403.
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
    explain_queue_size, explain_max_evaluations : int, optional
        Explanations (:meth:`Deployment.explain`, ``POST .../explain``) wait on their own
        low-priority queue: at most ``explain_queue_size`` wait (default 4; full: 503), and
        one may cost at most ``explain_max_evaluations`` model evaluations, in input rows run
        forward (default 50000; above: 400). See docs/explain.md.
    explain_sample_rate : float, optional
        Share of live requests (0..1; default 0) explained in the background for a running
        feature importance, compared with the importance on ``reference``
        (:meth:`Deployment.feature_importance`, the dashboard, ``mlship_feature_importance*``).
    clock : mlship.testing clock, optional
        Time for the monitoring and fallback policies; tests pass a fake clock
        (``mlship._core.FakeClock``) to drive them without sleeping. Default: the real clock.
    tune : "auto", bool or dict
        ``"auto"`` (the default) measures a compute-bound model before serving it: one whose
        forward pass of one request takes 1 ms or more (the threshold from which intra-op
        threads "auto" widen) is measured with :func:`mlship.tune` for up to 5 s and served
        with the setting chosen; a faster model is served with the defaults at the cost of a
        few forward passes. True measures any model (a dict: :func:`mlship.tune`'s keyword
        arguments, e.g. ``{"budget_s": 5, "latency_budget_ms": 50}``); False never measures.
        ``instances``, ``intra_op_threads`` and ``max_batch_size`` given here win over the tuned
        ones (and are held while measuring; all three given, "auto" measures nothing).
        :attr:`Deployment.tuning` holds the result, :attr:`Deployment.tuning_note` what was
        done and why (docs/serving.md, "Self-tuning").

    Examples
    --------
    >>> dep = mlship.deploy(model, port=0)  # doctest: +SKIP
    >>> dep.url, dep.predict(x)  # doctest: +SKIP
    >>> dep.update(retrained)  # doctest: +SKIP
    """
    if not isinstance(model, Model):
        model = load(model, example_inputs)
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
        "grpc_port": grpc_port,
        "max_batch_size": max_batch_size,
        "max_delay_ms": max_delay_ms,
        "max_queue_size": max_queue_size,
        "timeout_ms": timeout_ms,
        "instances": instances,
        "intra_op_threads": intra_op_threads,
        "token": token if token is not None else os.environ.get("MLSHIP_TOKEN") or None,
        "admin_token": admin_token if admin_token is not None else os.environ.get("MLSHIP_ADMIN_TOKEN") or None,
        "token_file": os.fspath(token_file) if token_file is not None else None,
        "tls_cert": os.fspath(tls_cert) if tls_cert is not None else None,
        "tls_key": os.fspath(tls_key) if tls_key is not None else None,
        "tls_client_ca": os.fspath(tls_client_ca) if tls_client_ca is not None else None,
        "rate_limit_per_s": rate_limit_per_s,
        "rate_limit_burst": rate_limit_burst,
        "insecure": insecure,
        "allowed_hosts": allowed_hosts,
        "allowed_origins": allowed_origins,
        "http": http,
        "preferred_batch_sizes": preferred_batch_sizes,
        "latency_aware_batching": bool(latency_aware_batching),
        **(limits or Limits()).as_options(),
        **(drift or DriftOptions()).as_options(),
        **(slo.as_options() if slo is not None else {}),
        "fallback_version": "fallback" if fallback is not None else None,
        "monitoring": monitoring,
        "stats_window_s": stats_window_s,
        "classifier": classifier,
        "sched_batch_callers": bool(sched_batch_callers),
        "explain_queue_size": explain_queue_size,
        "explain_max_evaluations": explain_max_evaluations,
        "explain_sample_rate": explain_sample_rate,
    }
    # Explicit settings win: given ones are held while measuring, so only the rest is searched.
    tuning, tuning_note = _tune.at_deploy(model, example_inputs, tune, options)
    dep = _start(model, options, fallback, reference, on_alert, clock)
    dep._tuning, dep._tuning_note = tuning, tuning_note
    return dep


def _start(model: Model, options: dict[str, Any], fallback: Model | None, reference: Any,
           on_alert: Any = None, clock: Any = None) -> Deployment:
    """A started Deployment of ``model`` with ``options`` (schema keys), its reference set;
    stopped again if the reference is refused. Shared by ``deploy()`` and ``mlship serve``."""
    core = _core.Deployment(model._core, _options.to_json(options), fallback._core if fallback is not None else None,
                            on_alert, clock)
    dep = Deployment(core, model, fallback)
    if reference is not None:
        try:
            dep.set_reference(reference)
        except BaseException:
            dep.stop(drain=False)
            raise
    return dep
