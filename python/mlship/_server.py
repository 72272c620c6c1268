"""mlship.serve: one server for many models and versions, from memory or from a repository."""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable

from mlship import _core, _options, _tune
from mlship._deploy import _golden_args, _reloaded, _url, _wait_for_signal
from mlship._endpoint import ModelEndpoint
from mlship._limits import Limits
from mlship._load import load
from mlship._model import Model, _Interface
from mlship._rollout import Guard, Rollout, rollout_options
from mlship._signature import Signature


class Server:
    """Many models, each with versions, behind one KServe v2 server.

    Created by :func:`mlship.serve`. Models come from a repository (:class:`mlship.Repository`)
    or from memory (:meth:`deploy`); each has a default version, aliases and a version
    policy. New versions are swapped in without failing a request; unloaded ones load
    again on demand. Every method is thread-safe.

    Examples
    --------
    >>> server = mlship.serve(repository="models/", port=0)  # doctest: +SKIP
    >>> server.predict("digits", x)                          # doctest: +SKIP
    >>> server.load("digits")          # after `mlship repo add`: swaps to the new version  # doctest: +SKIP
    """

    def __init__(self, core: Any, http: bool, host: str, owned: bool = True,
                 tuning_notes: list[str] | None = None) -> None:
        self._core = core
        self._http = http
        self._host = host
        self._owned = owned
        self._interfaces: dict[str, _Interface] = {}
        self._lock = threading.Lock()
        self._tuning_notes = list(tuning_notes or [])

    @property
    def tuning_notes(self) -> list[str]:
        """What ``serve(repository, tune=...)`` did for each repository model before it started,
        one line each (``"cnn: tuned: ...; stored {...} in its settings"``)."""
        return list(self._tuning_notes)

    @classmethod
    def _view(cls, core: Any, http: bool, host: str) -> Server:
        """A Server over the core of a Deployment (stopping it stops the deployment)."""
        return cls(core, http, host, owned=False)

    @property
    def url(self) -> str | None:
        """``http://host:port`` (``https://`` with TLS) of the KServe v2 endpoint, or None when HTTP is off."""
        return _url(self._host, self._core.port, self._core.serves_tls) if self._http else None

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def grpc_port(self) -> int:
        """The port of the gRPC front end (KServe v2 / Triton ``GRPCInferenceService``); 0 when off."""
        return self._core.grpc_port

    @property
    def repository(self) -> Any:
        """The :class:`mlship.Repository` served, or None."""
        from mlship._repository import Repository

        return Repository(self._core.repository, create=False) if self._core.repository else None

    # ---- Models ----

    def endpoint(self, name: str) -> ModelEndpoint:
        """Calls and figures of model ``name`` (``server[name]`` is the same)."""
        return ModelEndpoint(self._core, name, lambda version: self._interface(name, version))

    __getitem__ = endpoint

    def _interface(self, name: str, version: str) -> _Interface:
        text = self._core.signature_json(name, version)
        with self._lock:
            found = self._interfaces.get(text)
            if found is None:
                found = self._interfaces[text] = _Interface(Signature.from_json(text))
            return found

    def _model_and_version(self, name: str, model: Any, version: str | None,
                           example_inputs: Any) -> tuple[Model, str]:
        """``model`` loaded, and ``version`` or the next integer version of ``name``."""
        if not isinstance(model, Model):
            model = load(model, example_inputs)
        if version is None:
            numbers = [int(v["version"]) for m in self.models() if m["name"] == name for v in m["versions"]
                       if v["version"].isdigit()]
            version = str(max(numbers, default=0) + 1)
        return model, version

    def deploy(self, model: Any, *, name: str = "model", version: str | None = None, default: bool = True,
               example_inputs: Any = None, reference: Any = None, on_alert: Callable[[dict[str, Any]], None] | None = None,
               golden: Any = None, rtol: float | None = None, atol: float | None = None,
               **settings: Any) -> ModelEndpoint:
        """Serves ``model`` (from memory) as ``version`` of ``name`` beside the other models.

        ``version`` defaults to the next integer. With ``default`` (True) the model's
        requests without a version go to it once it is loaded, warmed up and, with
        ``golden`` (sample inputs, or ``(inputs, outputs)``), checked. ``settings`` are
        version and model options (``max_batch_size=16``, ``drift_window=2000``, ...; the
        keys of the options schema, see docs/serving.md); an unknown key is an error.
        Returns the model's endpoint.
        """
        model, version = self._model_and_version(name, model, version, example_inputs)
        self._core.deploy(name, version, model._core, _options.to_json(settings), default,
                          reference=_as_reference(reference), on_alert=on_alert, rtol=rtol, atol=atol,
                          **_golden_args(model, golden))
        return self.endpoint(name)

    def swap(self, name: str, model: Any, *, version: str | None = None, golden: Any = None, rtol: float | None = None,
             atol: float | None = None, example_inputs: Any = None) -> str:
        """Serves ``model`` as a new version of ``name`` and moves the traffic to it, then
        drains and frees the version that served before (what :meth:`Deployment.update`
        does). Returns the new version."""
        model, version = self._model_and_version(name, model, version, example_inputs)
        current = self._interface(name, "")
        self._core.swap(name, version, model._core, rtol=rtol, atol=atol,
                        **_golden_args(_CurrentModel(self, name, current), golden))
        return version

    def models(self) -> list[dict[str, Any]]:
        """Every model served: ``{"name", "default", "aliases", "serving", "versions": [{"version",
        "loaded", "memory_bytes", "platform", "reloadable"}]}``."""
        return list(self._core.models())

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """The repository index (``POST /v2/repository/index``): one row per version with its state."""
        return list(self._core.index(ready_only))

    def load(self, name: str, version: str | None = None) -> None:
        """(Re)loads ``name`` from the repository: the versions its policy selects (and
        ``version``, even outside it), its aliases and settings; a newer default is swapped
        in without failing a request and versions no longer selected are unloaded."""
        self._core.load(name, version or "")

    def unload(self, name: str, version: str | None = None) -> None:
        """Unloads one version (or the whole model) after its requests in flight are answered."""
        self._core.unload(name, version or "")

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        """Points ``alias`` (e.g. ``"stable"``) at ``version`` (None removes it), here and, for a
        repository model, in the repository, so a restart keeps it."""
        self._core.set_alias(name, alias, version or "")

    def set_default(self, name: str, version: str | None) -> None:
        """Moves ``name``'s default to ``version`` (or an alias; None: the newest), atomically."""
        self._core.set_default(name, version or "")

    def configure(self, name: str, **settings: Any) -> None:
        """Changes model settings of ``name`` now, e.g. ``traffic_split="1:90,2:10"`` (an A/B
        test, sticky by ``routing_key``), ``shadow_version="2"``, ``track_outcomes=True``,
        the SLO; settings not given keep their values. Saved in the repository for a
        repository model. The traffic settings are refused while a rollout runs."""
        self._core.configure(name, _options.to_json(settings))

    # ---- Rollouts ----

    def rollout(self, name: str, to: str, *, from_version: str | None = None, steps: Any = None,
                hold_s: int | None = None, guard: Guard | None = None) -> Rollout:
        """Moves ``name``'s traffic to version ``to`` step by step, within ``guard``.

        Each step (``steps``, percent of the traffic; default 1, 5, 25, 50, 100) holds for
        ``hold_s`` seconds (default 60) and at least ``guard.min_requests`` requests; the
        first breach of the guard sends all the traffic back to ``from_version`` (default:
        the version serving now) and raises an alert. The aliases ``stable`` and ``canary``
        name the two versions meanwhile; the split is sticky by ``routing_key``. A
        repository model's rollout is saved in the repository: a restarted server resumes
        it. ``to`` is loaded from the repository if it is not served yet.

        Examples
        --------
        >>> r = server.rollout("digits", "4", guard=mlship.Guard(max_error_rate=0.01))  # doctest: +SKIP
        >>> r.wait(timeout=600)["state"]                                                 # doctest: +SKIP
        'succeeded'
        """
        options = rollout_options(to, from_version=from_version, steps=steps, hold_s=hold_s, guard=guard)
        self._core.rollout(name, _options.to_json(options))
        return self.rollout_of(name)

    def rollout_of(self, name: str) -> Rollout:
        """The rollout of ``name`` (running or finished); ``NotFoundError`` when it never had one."""
        self._core.rollout_action(name, "status")
        return Rollout(lambda action: json.loads(self._core.rollout_action(name, action)), name)

    # ---- Requests, by model name ----

    def predict(self, name: str, *inputs: Any, version: str | None = None, timeout: float | None = None,
                routing_key: str | None = None, request_id: str | None = None) -> Any:
        """:meth:`ModelEndpoint.predict` on model ``name``."""
        return self.endpoint(name).predict(*inputs, version=version, timeout=timeout, routing_key=routing_key,
                                           request_id=request_id)

    def submit(self, name: str, *inputs: Any, version: str | None = None, timeout: float | None = None,
               routing_key: str | None = None, request_id: str | None = None) -> Any:
        return self.endpoint(name).submit(*inputs, version=version, timeout=timeout, routing_key=routing_key,
                                          request_id=request_id)

    async def apredict(self, name: str, *inputs: Any, version: str | None = None, timeout: float | None = None,
                       routing_key: str | None = None, request_id: str | None = None) -> Any:
        return await self.endpoint(name).apredict(*inputs, version=version, timeout=timeout,
                                                  routing_key=routing_key, request_id=request_id)

    def record_outcomes(self, name: str, ids: Any, labels: Any) -> dict[str, int]:
        """:meth:`ModelEndpoint.record_outcomes` on model ``name``."""
        return self.endpoint(name).record_outcomes(ids, labels)

    def metrics(self, name: str, version: str | None = None) -> dict[str, Any]:
        """:meth:`ModelEndpoint.metrics` of model ``name``."""
        return self.endpoint(name).metrics(version)

    def metrics_text(self) -> str:
        """Every model's and the server's metrics, as ``GET /metrics`` serves them."""
        return self._core.metrics_text()

    def reload_tokens(self) -> None:
        """Re-reads the ``token_file`` the server was started with (scoped tokens; see docs/security.md).

        Raises :class:`mlship.MlshipError` (and keeps the current tokens) when the file is unreadable or
        a line is bad, or when the server has no token file.
        """
        self._core.reload_tokens()

    def reload_tls(self) -> None:
        """Re-reads ``tls_cert``, ``tls_key`` and ``tls_client_ca``: new connections get the new
        certificate at once, open ones keep theirs.

        Raises :class:`mlship.MlshipError` (and keeps serving the current certificate) when a
        file is unreadable or the key does not match, or when the server does not serve TLS.
        """
        self._core.reload_tls()

    def reload(self) -> list[str]:
        """What SIGHUP does under :meth:`wait`: :meth:`reload_tls` when TLS is on and
        :meth:`reload_tokens` when there is a token file, both tried. Returns what was
        reloaded (``["TLS certificate", "token file"]``; empty when nothing is configured);
        raises :class:`mlship.MlshipError` naming the part that failed (which keeps its old files).
        """
        return _reloaded(self._core.reload())

    def tick_policies(self) -> None:
        """Judges every routing policy now (for tests on a fake clock)."""
        self._core.tick_policies()

    # ---- Lifetime ----

    def stop(self, drain: bool = True) -> None:
        """Stops: readiness false, new requests refused, everything accepted answered. Idempotent."""
        self._core.stop(drain)

    def wait(self, ready: Callable[[], None] | None = None) -> None:
        """Blocks the calling script until SIGINT/SIGTERM, then stops with drain; SIGHUP meanwhile
        calls :meth:`reload` (TLS files, token file) and logs the outcome on stderr. ``ready`` is
        called once the signal handlers are in place (e.g. to announce the URL)."""
        _wait_for_signal(self.stop, self.reload if self._http else None, ready)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        names = ", ".join(m["name"] for m in self.models())
        return f"mlship.Server(url={self.url!r}, models=[{names}])"


class _CurrentModel:
    """What `_golden_args` needs of the model serving now: its outputs on the golden inputs."""

    def __init__(self, server: Server, name: str, interface: _Interface) -> None:
        self._server, self._name = server, name

    def __call__(self, *inputs: Any) -> Any:
        return self._server.predict(self._name, *inputs)


def _as_reference(data: Any) -> Any:
    if data is None:
        return None
    from mlship._endpoint import _as_array

    return _as_array(data)


def serve(
    repository: str | os.PathLike | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    grpc_port: int = 0,
    token: str | None = None,
    admin_token: str | None = None,
    insecure: bool = False,
    http: bool = True,
    limits: Limits | None = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
    clock: Any = None,
    tune: bool | str | dict[str, Any] = "auto",
    **settings: Any,
) -> Server:
    """Starts a server for many models: every model of ``repository`` (as each one's
    version policy selects its versions), and any you :meth:`Server.deploy` from memory.

    Parameters
    ----------
    repository : path, optional
        A folder made with :class:`mlship.Repository` / ``mlship repo add``. Every version
        is verified (sha256 of every file) before it loads.
    host, port, grpc_port, token, insecure, http, limits
        As for :func:`mlship.deploy` (``grpc_port`` serves gRPC too; its repository
        methods need the admin token, as over HTTP).
    admin_token : str, optional
        Opens the repository endpoints (``POST /v2/repository/index``,
        ``.../models/{name}/load``, ``.../unload``); it must differ from ``token``.
        Defaults to ``MLSHIP_ADMIN_TOKEN``; without one those endpoints answer 403.
    on_alert : callable, optional
        Called with every alert of every model (see :func:`mlship.deploy`).
    token_file, rate_limit_per_s, rate_limit_burst
        Scoped tokens and rate limits, as for :func:`mlship.deploy` (pass them as settings);
        re-read the file with :meth:`Server.reload_tokens`.
    tls_cert, tls_key, tls_client_ca
        HTTPS and mutual TLS, as for :func:`mlship.deploy` (pass them as settings); re-read
        with :meth:`Server.reload_tls` or SIGHUP under :meth:`Server.wait`.
    clock : optional
        A fake clock for tests of the time-dependent policies.
    tune : "auto", bool or dict
        Before the server starts, each repository model whose settings hold neither
        ``intra_op_threads`` nor ``max_batch_size`` is tuned as :func:`mlship.deploy` tunes
        (``"auto"``, the default: only a compute-bound model, for up to 5 s), at the server's
        ``instances``, and the chosen keys are stored in its settings (``mlship-model.json``),
        so the next start does not measure again. False measures nothing.
        :attr:`Server.tuning_notes` says what was done for each model.
    **settings
        Any other option of the schema (docs/serving.md): server-wide ones such as
        ``instances``, ``max_loaded_versions``, ``memory_budget_mb``, ``on_unloaded``, and
        defaults for every model and version (``max_batch_size``, ``version_policy``, ...),
        which each model's and version's own settings override.

    Examples
    --------
    >>> with mlship.serve("models/", port=0, admin_token=secret) as server:  # doctest: +SKIP
    ...     server.predict("digits", x, version="stable")
    """
    options = {
        "host": host,
        "port": port,
        "grpc_port": grpc_port,
        "token": token if token is not None else os.environ.get("MLSHIP_TOKEN") or None,
        "admin_token": admin_token if admin_token is not None else os.environ.get("MLSHIP_ADMIN_TOKEN") or None,
        "insecure": insecure,
        "http": http,
        **(limits.as_options() if limits is not None else {}),
        **settings,
    }
    notes = _tune.at_serve(repository, tune, options) if repository is not None else []
    core = _core.Server(_options.to_json(options), os.fspath(repository) if repository is not None else "",
                        on_alert, clock)
    return Server(core, http, host, tuning_notes=notes)
