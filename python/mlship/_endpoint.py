"""ModelEndpoint: one model of a server as its callers see it (predict, submit, metrics).

``mlship.Deployment`` is one; ``Server.endpoint(name)`` (or ``server[name]``) gives one for
any model a server serves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from typing import Any, Callable

from mlship._model import Model, _numpy_from_dlpack
from mlship._monitor import metrics_dict


class ModelEndpoint:
    """Calls and figures of the model ``name`` on a server, any version.

    ``version`` arguments take a version or an alias; None means the model's default
    (or its fallback while the fallback policy is active). Every method is thread-safe.
    """

    def __init__(self, server_core: Any, name: str, model_for: Callable[[str], Model]) -> None:
        self._server = server_core
        self._name = name
        self._model_for = model_for

    @property
    def name(self) -> str:
        return self._name

    def predict(self, *inputs: Any, version: str | None = None, timeout: float | None = None,
                routing_key: str | None = None, request_id: str | None = None) -> Any:
        """Runs one request through the model's batcher (no HTTP) and waits for it.

        Inputs are as for :meth:`mlship.Model.__call__`. Concurrent calls from several
        threads are batched together. Raises ``OverloadedError`` when the queue is full
        or the server is stopping, ``DeadlineExceededError`` when ``timeout`` (seconds)
        passes before the request runs, ``NotFoundError`` for an unknown version.

        ``routing_key`` (a user or session id) keeps a caller on one version while the
        traffic is split (``traffic_split``, a rollout); ``request_id`` is the id a later
        :meth:`record_outcomes` joins the true label on, for models that track outcomes.
        """
        v = version or ""
        model = self._model_for(v)
        key, rid = routing_key or "", request_id or ""
        # Plain numpy arrays: no DLPack round trips.
        flat = self._server.predict_arrays(self._name, v, inputs, len(model._specs), timeout or 0.0, key, rid)
        if flat is None:
            prepared, convert = _prepare(model, inputs)
            flat = self._server.predict(self._name, v, prepared, convert, timeout or 0.0, key, rid)
        return model._structure(flat)

    def submit(self, *inputs: Any, version: str | None = None, timeout: float | None = None,
               routing_key: str | None = None, request_id: str | None = None) -> concurrent.futures.Future:
        """Queues one request and returns a ``concurrent.futures.Future`` of its result
        (arguments as for :meth:`predict`)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        v = version or ""
        try:
            model = self._model_for(v)
            prepared, convert = _prepare(model, inputs)
        except BaseException as e:  # noqa: BLE001 - bad input resolves the future, like any error
            future.set_running_or_notify_cancel()
            future.set_exception(e)
            return future
        structure = model._structure

        def on_done(error: BaseException | None, flat: Any) -> None:
            if future.set_running_or_notify_cancel():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(structure(flat))

        self._server.submit(self._name, v, prepared, convert, on_done, timeout or 0.0, routing_key or "",
                            request_id or "")
        return future

    async def apredict(self, *inputs: Any, version: str | None = None, timeout: float | None = None,
                       routing_key: str | None = None, request_id: str | None = None) -> Any:
        """``await endpoint.apredict(x)``: :meth:`submit` for asyncio code (FastAPI handlers, notebooks)."""
        return await asyncio.wrap_future(self.submit(*inputs, version=version, timeout=timeout,
                                                     routing_key=routing_key, request_id=request_id))

    def explain(self, *inputs: Any, method: str = "integrated_gradients", target: Any = None,
                baseline: Any = None, steps: int = 32, samples: int | None = None, window: int = 1,
                seed: int = 0, version: str | None = None, timeout: float | None = None) -> Any:
        """Explains one request on the served model: :func:`mlship.explain`'s arguments and
        result, computed the way ``POST /v2/models/{name}/explain`` computes it (the version's
        own low-priority queue behind inference, one core, the per-request budget
        ``explain_max_evaluations``).

        Raises ``InvalidInputError`` (bad arguments, over the budget), ``UnsupportedMethodError``
        (a gradient method on a model without gradients), ``OverloadedError`` (the explanation
        queue is full: ``explain_queue_size``), ``DeadlineExceededError`` (``timeout`` seconds
        passed while it waited).
        """
        from mlship import _core
        from mlship._explain import _check_method, baselines_list, make_explanation, targets_list

        v = version or ""
        model = self._model_for(v)
        if hasattr(model, "_core"):
            _check_method(model, method)
        prepared, as_torch = model._prepare(inputs)
        result = _core.explain_served(
            self._server, self._name, v, prepared, method, targets_list(target),
            baselines_list(baseline, model._specs), int(steps), int(samples or 0), int(window), int(seed),
            timeout or 0.0,
        )
        names, tensors = list(result["names"]), list(result["tensors"])
        n_out = len(model._signature.outputs)
        flat = {
            "outputs": tensors[:n_out],
            "attributions": tensors[n_out:n_out + len(model._specs)],
            "targets": tensors[names.index("explain_target")],
            "delta": tensors[names.index("explain_delta")] if "explain_delta" in names else None,
            "evaluations": result["evaluations"],
        }
        return make_explanation(method, flat, model._structure, as_torch)

    def feature_importance(self, version: str | None = None) -> dict[str, Any] | None:
        """The running global feature importance of the requests sampled for explanation
        (``explain_sample_rate``), beside the same figure on the drift reference:
        ``{"rows", "reference_rows", "shift", "features": [{"feature", "live", "reference"}]}``
        (mean |attribution| per feature; ``shift``: the share of importance that moved, 0..1,
        None until both sides are known). None when sampling is off."""
        from mlship import _core

        return json.loads(_core.feature_importance_json(self._server, self._name, version or ""))

    # ---- Outcomes and shadows ----

    def record_outcomes(self, ids: Any, labels: Any) -> dict[str, int]:
        """Reports the true outcome of earlier requests by their ``request_id``: a class
        index for a classifier, the target value(s) otherwise. Each version's live
        accuracy (:meth:`online`) and a rollout's accuracy guard are computed from them.
        Returns ``{"matched", "unknown"}`` (unknown: ids never predicted, expired, or
        reported before). Needs ``track_outcomes=True``, else ``FailedPreconditionError``."""
        ids = [str(i) for i in ids]
        rows = [[float(v) for v in (label if hasattr(label, "__len__") else [label])] for label in _rows(labels)]
        if len(ids) != len(rows):
            raise ValueError(f"record_outcomes got {len(ids)} ids but {len(rows)} labels; expected one label per id")
        return dict(self._server.record_outcomes(self._name, ids, rows))

    def online(self) -> dict[str, dict[str, Any]]:
        """Live figures per version from the outcomes joined so far: ``{version: {"rows",
        "classifier", "accuracy", "accuracy_low", "accuracy_high" (95% Wilson interval),
        "mse", "mae"}}``."""
        return self.traffic()["online"]

    def shadow(self) -> dict[str, Any] | None:
        """How the shadow version (``shadow_version``, or a rollout's candidate) compares
        with the versions that answered the same requests: ``{"compared", "skipped",
        "failed", "rows", "agreement", "max_abs_diff", "mean_abs_diff", "mean_latency_ms"}``,
        or None without a shadow. ``skipped`` copies were dropped because the shadow was
        busy: a shadow never delays or fails a live request."""
        return self.traffic()["shadow"]

    def traffic(self) -> dict[str, Any]:
        """The model's traffic policies now: ``{"rollout": status or None, "shadow":
        :meth:`shadow`, "online": :meth:`online`}``, as ``GET /dashboard/data`` shows them."""
        return json.loads(self._server.traffic_json(self._name))

    # ---- Monitoring ----

    def metrics(self, version: str | None = None) -> dict[str, Any]:
        """The figures of one version (default: the one serving) and the server's, as a dict.

        The model and version labels are left out. Counters and gauges map to numbers,
        histograms to ``{"buckets": {le: cumulative count}, "sum", "count"}``; a metric with
        one more label (``reason``, ``feature``) maps its values, with two (``feature``,
        ``kind``) tuples of them. README.md ("Monitoring") lists every metric.

        Examples
        --------
        >>> m = dep.metrics()  # doctest: +SKIP
        >>> m["mlship_requests_succeeded_total"], m["mlship_requests_failed_total"]["invalid_argument"]  # doctest: +SKIP
        (120.0, 3.0)
        """
        return metrics_dict(self._server.metrics_families(self._name, version or ""))

    def metrics_text(self) -> str:
        """Every metric of the server in the Prometheus text format, exactly as ``GET /metrics`` serves it."""
        return self._server.metrics_text()

    def stats(self, version: str | None = None) -> dict[str, float]:
        """Latency percentiles, throughput and mean batch size over the recent window.

        Keys: ``p50_ms``, ``p90_ms``, ``p99_ms``, ``mean_ms`` (successful requests),
        ``throughput_rps``, ``requests`` and ``failed_requests`` in the window,
        ``mean_batch_size`` (rows per forward pass) and ``window_s`` (the span covered,
        at most ``stats_window_s``).
        """
        return dict(self._server.stats(self._name, version or ""))

    def status(self) -> dict[str, Any]:
        """Which version serves and why: ``{"serving": "primary" | "fallback", "reason": str,
        "seconds_since_change": float, "fallback_switches": int}``."""
        return dict(self._server.status(self._name))

    def restore(self) -> None:
        """Moves traffic from the fallback back to the default version.

        Raises ``FailedPreconditionError`` without a fallback or when the default already serves.
        """
        self._server.restore(self._name)

    def set_reference(self, data: Any, version: str | None = None) -> None:
        """Profiles ``data`` (shaped like the model's first input, e.g. the training set)
        for drift and anomaly checks, replacing any earlier reference and its live window.
        For a classifier the model also runs once over ``data`` to learn its class mix."""
        self._server.set_reference(self._name, version or "", _as_array(data))

    def check_drift(self, version: str | None = None) -> dict[str, Any]:
        """Judges drift now (as the periodic check does, alerts included) and returns the
        report: ``{"window_rows", "drifted": [feature names], "features": [{"feature", "psi",
        "ks_statistic", "ks_pvalue", "live_count", "judged", "drifted"}], "prediction"}``.

        ``prediction`` is None unless the reference is a classifier's; then ``{"window_rows",
        "psi", "judged", "drifted", "reference_shares", "live_shares"}`` for the predicted classes."""
        return dict(self._server.check_drift(self._name, version or ""))


def _prepare(model: Model, inputs: tuple[Any, ...]) -> tuple[list[Any], Any]:
    prepared, as_torch = model._prepare(inputs)
    if as_torch:
        import torch

        return prepared, torch.from_dlpack
    return prepared, _numpy_from_dlpack


def _rows(labels: Any) -> list[Any]:
    if hasattr(labels, "tolist"):
        labels = labels.tolist()
    return list(labels)


def _as_array(data: Any) -> Any:
    """numpy arrays and torch tensors pass as they are (both speak DLPack); lists become arrays."""
    if hasattr(data, "__dlpack__"):
        return data
    import numpy as np

    return np.ascontiguousarray(np.asarray(data, dtype=np.float32))
