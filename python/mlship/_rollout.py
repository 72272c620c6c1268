"""Rollouts: a new version takes the traffic step by step, within a guard, or goes back."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from mlship import _options

_FINISHED = ("succeeded", "rolled_back", "aborted")


@dataclasses.dataclass(frozen=True)
class Guard:
    """What a candidate version must stay within at every step of a rollout; the first
    breach sends the traffic back to the stable version. Defaults check nothing but
    each check is one field away.

    Attributes
    ----------
    max_error_rate : float
        Largest share (0..1) of the candidate's requests that fail on the server's side.
        Default 1 (not checked).
    p99_ms : float
        Largest p99 latency of the candidate's successful requests. Default 0 (not checked).
    max_divergence : float
        Largest share (0..1) of rows where the candidate, run as a shadow of the stable
        version on the same requests, answers differently (another class for a classifier,
        another value beyond 1e-5 otherwise). Below 1 the rollout runs that shadow.
        Default 1 (not checked).
    min_accuracy : float
        The candidate breaches when its live accuracy (from outcomes reported with
        :meth:`ModelEndpoint.record_outcomes` or ``POST /v2/models/{name}/outcomes``) is
        below this and clearly (p < 0.05) below the stable version's. Needs the model to
        be served with ``track_outcomes=True``. Default 0 (not checked).
    min_requests : int
        Requests (or compared rows, or outcomes) the candidate needs in a step before it
        is judged and before the step may end. Default 100.

    Examples
    --------
    >>> import mlship
    >>> mlship.Guard(max_error_rate=0.01).as_options()["guard_max_error_rate"]
    0.01
    """

    max_error_rate: float = _options.default("guard_max_error_rate")
    p99_ms: float = _options.default("guard_p99_ms")
    max_divergence: float = _options.default("guard_max_divergence")
    min_accuracy: float = _options.default("guard_min_accuracy")
    min_requests: int = _options.default("guard_min_requests")

    def __post_init__(self) -> None:
        _options.check(self.as_options(), ("rollout",), "mlship.Guard")

    def as_options(self) -> dict[str, Any]:
        return {f"guard_{field.name}": getattr(self, field.name) for field in dataclasses.fields(self)}


def rollout_options(to: str, *, from_version: str | None, steps: Any, hold_s: int | None,
                    guard: Guard | None) -> dict[str, Any]:
    """The rollout's keys of the options schema (None: the schema's default)."""
    return {
        "rollout_to": to,
        "rollout_from": from_version,
        "rollout_steps": list(steps) if steps is not None else None,
        "rollout_hold_s": hold_s,
        **(guard.as_options() if guard is not None else {}),
    }


class Rollout:
    """One model's rollout on a server: its status and the operator's controls.

    Made by :meth:`Server.rollout` (to start one) or :meth:`Server.rollout_of` (the one
    running). The server's policy thread moves it on; these methods only look and steer.
    """

    def __init__(self, status: Callable[[str], dict[str, Any]], name: str) -> None:
        self._action = status
        self._name = name

    @property
    def model(self) -> str:
        return self._name

    def status(self) -> dict[str, Any]:
        """The rollout's options (``rollout_to``, ``rollout_from``, ``rollout_steps``,
        ``rollout_hold_s``, ``guard_*``) and ``model``, ``state`` (running, paused,
        succeeded, rolled_back or aborted), ``step`` (index into the steps), ``weight`` (the
        candidate's share now, percent), ``seconds_in_step``, ``reason`` (why it stopped or
        paused) and ``figures`` (what the last judgement measured: ``requests``,
        ``server_failures``, ``p99_ms``; ``shadow_rows``/``divergence`` with a shadow;
        ``candidate_accuracy``/``stable_accuracy``/``p_value`` with outcomes), exactly as
        ``POST /v2/repository/models/{name}/rollout/status`` answers."""
        return self._action("status")

    @property
    def state(self) -> str:
        return self.status()["state"]

    def pause(self) -> dict[str, Any]:
        """Holds the current step (a breach still rolls back)."""
        return self._action("pause")

    def resume(self) -> dict[str, Any]:
        return self._action("resume")

    def abort(self) -> dict[str, Any]:
        """Sends all the traffic back to the stable version now."""
        return self._action("abort")

    def wait(self, timeout: float, poll_s: float = 0.5) -> dict[str, Any]:
        """Waits (at most ``timeout`` seconds of wall time) until the rollout has succeeded,
        rolled back or been aborted; returns its last status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] in _FINISHED or time.monotonic() >= deadline:
                return status
            time.sleep(poll_s)

    def __repr__(self) -> str:
        s = self.status()
        return (f"mlship.Rollout({self._name!r}: {s['rollout_from']} -> {s['rollout_to']}, "
                f"{s['state']} at {s['weight']:g}%)")
