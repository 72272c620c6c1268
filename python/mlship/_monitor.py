"""Monitoring settings: the SLO behind automatic fallback, drift and anomaly checks."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


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
    window_s: int = 30
    min_requests: int = 20
    restore_after_s: int | None = None

    def __post_init__(self) -> None:
        if self.max_error_rate is None and self.p99_ms is None:
            raise ValueError("an SLO needs max_error_rate or p99_ms (or both); got neither")
        if self.max_error_rate is not None and not 0 <= self.max_error_rate <= 1:
            raise ValueError(f"SLO.max_error_rate must be in 0..1; was {self.max_error_rate!r}")
        if self.p99_ms is not None and not (self.p99_ms > 0 and math.isfinite(self.p99_ms)):
            raise ValueError(f"SLO.p99_ms must be a positive number of milliseconds; was {self.p99_ms!r}")
        for name in ("window_s", "min_requests"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SLO.{name} must be a positive int; was {value!r}")
        if self.restore_after_s is not None and (
            not isinstance(self.restore_after_s, int) or self.restore_after_s < 1
        ):
            raise ValueError(f"SLO.restore_after_s must be a positive int or None; was {self.restore_after_s!r}")

    def as_options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    window: int = 5000
    min_samples: int = 500
    psi_threshold: float = 0.2
    ks_pvalue: float = 0.01
    ks_min_statistic: float = 0.1
    check_interval_s: float = 10.0
    anomaly_tolerance: float = 1.0
    reject_anomalies: bool = False

    def __post_init__(self) -> None:
        if not self.check_interval_s > 0:
            raise ValueError(f"DriftOptions.check_interval_s must be > 0; was {self.check_interval_s!r}")

    def as_options(self) -> dict[str, Any]:
        return {
            "drift_window": self.window,
            "drift_min_samples": self.min_samples,
            "psi_threshold": self.psi_threshold,
            "ks_pvalue_threshold": self.ks_pvalue,
            "ks_min_statistic": self.ks_min_statistic,
            "drift_interval_ms": max(1, int(round(self.check_interval_s * 1000))),
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
