"""Monitoring settings: the SLO behind automatic fallback, drift and anomaly checks."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlship import _options


@dataclasses.dataclass(frozen=True)
class SLO:
    """A service-level objective. When the primary model breaches it over ``window_s``,
    traffic moves to the deployment's ``fallback`` model.

    Attributes
    ----------
    max_error_rate : float, optional
        Largest share (0..1) of requests that may fail on the server's side (the model
        raised, an internal error, a missed deadline, a full queue) over the window.
        Invalid inputs never count. Default None: not checked.
    p99_ms : float, optional
        Largest 99th-percentile latency of successful requests over the window, in
        milliseconds. Default None: not checked.
    window_s : int
        How far back the judgement looks, in seconds. Default 30.
    min_requests : int
        Requests the window must hold before it is judged, so one early failure is not
        a 100% error rate. Default 20.
    restore_after_s : int, optional
        After this long on the fallback, traffic moves back to the primary by itself
        (a probation; a new breach falls back again). Default None: only
        :meth:`Deployment.restore` moves it back.

    Examples
    --------
    >>> import mlship
    >>> mlship.SLO(max_error_rate=0.05, p99_ms=50, window_s=10)
    SLO(max_error_rate=0.05, p99_ms=50, window_s=10, min_requests=20, restore_after_s=None)
    """

    max_error_rate: float | None = None
    p99_ms: float | None = None
    window_s: int = _options.default("slo_window_s")
    min_requests: int = _options.default("slo_min_requests")
    restore_after_s: int | None = None

    def __post_init__(self) -> None:
        # Checked by the options schema in the core, as if a fallback existed.
        _options.check({**self.as_options(), "fallback_version": "fallback"}, ("model",))

    def as_options(self) -> dict[str, Any]:
        return {
            "slo_max_error_rate": self.max_error_rate,
            "slo_p99_ms": self.p99_ms,
            "slo_window_s": self.window_s,
            "slo_min_requests": self.min_requests,
            "slo_restore_after_s": self.restore_after_s,
        }


@dataclasses.dataclass(frozen=True)
class DriftOptions:
    """How live inputs are compared with the reference. Defaults suit most uses.

    Features are the last dimension of a 1-D or 2-D first input; for larger inputs
    (images, sequences) each row is summarised as its mean, std, min and max.

    Attributes
    ----------
    window : int
        Live rows kept in the sliding window. Default 5000.
    min_samples : int
        Rows the window needs before a feature is judged at all. Default 500.
    psi_threshold : float
        PSI at or above which a feature has drifted. Default 0.2 (the usual "significant
        shift"; 0.1-0.2 is "moderate").
    ks_pvalue : float
        The KS test flags drift when its p-value is below this AND its D statistic is at
        least ``ks_min_statistic``. Default 0.01; 0 judges on PSI alone.
    ks_min_statistic : float
        Default 0.1: with thousands of rows tiny, harmless shifts are "significant", so
        a minimum effect size is required too.
    check_interval_s : float
        How often drift is judged, on the monitor's thread. Default 10.
    anomaly_tolerance : float
        A finite value is anomalous when it lies more than this many reference ranges
        (max - min) beyond the reference's min or max. Default 1.0. NaN and ±Inf are
        always anomalous.
    reject_anomalies : bool
        Refuse requests with anomalous values (HTTP 400, ``InvalidInputError``) instead
        of only counting them. Default False.

    Examples
    --------
    >>> import mlship
    >>> mlship.DriftOptions(window=2000, min_samples=200).window
    2000
    """

    window: int = _options.default("drift_window")
    min_samples: int = _options.default("drift_min_samples")
    psi_threshold: float = _options.default("drift_psi_threshold")
    ks_pvalue: float = _options.default("drift_ks_pvalue")
    ks_min_statistic: float = _options.default("drift_ks_min_statistic")
    check_interval_s: float = _options.default("drift_check_interval_s")
    anomaly_tolerance: float = _options.default("anomaly_tolerance")
    reject_anomalies: bool = _options.default("reject_anomalies")

    def __post_init__(self) -> None:
        # Checked by the options schema in the core, the one place the rules live.
        _options.check(self.as_options(), ("version",))

    def as_options(self) -> dict[str, Any]:
        return {
            "drift_window": self.window,
            "drift_min_samples": self.min_samples,
            "drift_psi_threshold": self.psi_threshold,
            "drift_ks_pvalue": self.ks_pvalue,
            "drift_ks_min_statistic": self.ks_min_statistic,
            "drift_check_interval_s": self.check_interval_s,
            "anomaly_tolerance": self.anomaly_tolerance,
            "reject_anomalies": self.reject_anomalies,
        }


def metrics_dict(families: list[dict[str, Any]]) -> dict[str, Any]:
    """Families from the native registry as ``{name: value}``.

    The model and version labels (the same on every series of a deployment) are
    dropped. A family with no other label maps to its value (a number, or for a
    histogram ``{"buckets": {le: cumulative count}, "sum": s, "count": n}``); one with
    one more label maps that label's values to values; with more, tuples of them.
    """
    out: dict[str, Any] = {}
    for family in families:
        names = family["label_names"]
        keep = [i for i, n in enumerate(names) if n not in ("model", "version")]
        values: dict[Any, Any] = {}
        for sample in family["samples"]:
            if family["type"] == "histogram":
                buckets = {str(b): c for b, c in zip(sample["buckets"], sample["cumulative_counts"])}
                buckets["+Inf"] = sample["count"]
                value: Any = {"buckets": buckets, "sum": sample["sum"], "count": sample["count"]}
            else:
                value = sample["value"]
            labels = [sample["labels"][i] for i in keep]
            key: Any = None if not labels else labels[0] if len(labels) == 1 else tuple(labels)
            values[key] = value
        out[family["name"]] = values.get(None, 0.0) if not keep else values
    return out
