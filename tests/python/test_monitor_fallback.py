"""SLO-based automatic fallback: a model that starts failing hands its traffic to a known-good one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship
from mlship import _core


class FailsOnTrigger(torch.nn.Module):
    """Fine until a request carries the trigger (feature 0 above 100), then raises."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x[:, 0] > 100).any()):
            raise RuntimeError("the primary model broke")
        return self.fc(x)


class KnownGood(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2] * 0.0 + 7.0


@pytest.fixture(scope="module")
def models() -> tuple[mlship.Model, mlship.Model]:
    example = torch.zeros(1, 4)
    return mlship.load(FailsOnTrigger(), example_inputs=example), mlship.load(KnownGood(), example_inputs=example)


def test_traffic_moves_to_the_fallback_and_no_request_fails_after_the_switch(models):
    primary, fallback = models
    alerts = []
    clock = _core.FakeClock()  # the policy is judged when the test says, never by sleeping
    slo = mlship.SLO(max_error_rate=0.2, window_s=5, min_requests=5)
    good = np.ones((2, 4), np.float32)
    trigger = good.copy()
    trigger[:, 0] = 1000.0
    with mlship.deploy(primary, port=0, http=False, fallback=fallback, slo=slo, on_alert=alerts.append,
                       clock=clock) as dep:
        for _ in range(20):
            np.testing.assert_allclose(dep.predict(good), primary(good), atol=1e-6)
        dep.server.tick_policies()
        assert dep.status()["serving"] == "primary"

        failed_before_switch = 0
        for _ in range(10):
            with pytest.raises(mlship.InferenceError):
                dep.predict(trigger)
            failed_before_switch += 1
        assert dep.status()["serving"] == "primary", "judged only on a policy tick"
        dep.server.tick_policies()
        status = dep.status()
        assert status["serving"] == "fallback", status
        assert "error rate" in status["reason"] and status["fallback_switches"] == 1

        for _ in range(50):  # after the switch, every request succeeds, from the fallback
            np.testing.assert_array_equal(dep.predict(trigger), np.full((2, 2), 7.0, np.float32))
        m = dep.metrics()  # the default version's figures: the one that broke
        assert m["mlship_fallback_active"] == 1 and m["mlship_fallback_switches_total"] == 1
        assert m["mlship_requests_failed_total"]["inference_failed"] == failed_before_switch
        assert dep.metrics(version="fallback")["mlship_requests_succeeded_total"] == 50
        assert [a["kind"] for a in alerts] == ["fallback"]
        assert "error rate" in alerts[0]["message"]

        dep.restore()
        assert dep.status()["serving"] == "primary" and dep.metrics()["mlship_fallback_active"] == 0
        assert [a["kind"] for a in alerts] == ["fallback", "restore"]
        dep.server.tick_policies()
        assert dep.status()["serving"] == "primary", "failures from before the restore do not count again"
        np.testing.assert_allclose(dep.predict(good), primary(good), atol=1e-6)
        with pytest.raises(mlship.FailedPreconditionError, match="already serves"):
            dep.restore()


def test_a_probation_moves_traffic_back_by_itself(models):
    primary, fallback = models
    clock = _core.FakeClock()
    slo = mlship.SLO(max_error_rate=0.5, window_s=2, min_requests=3, restore_after_s=10)
    trigger = np.full((1, 4), 1000.0, np.float32)
    with mlship.deploy(primary, port=0, http=False, fallback=fallback, slo=slo, clock=clock) as dep:
        for _ in range(5):
            with pytest.raises(mlship.InferenceError):
                dep.predict(trigger)
        dep.server.tick_policies()
        assert dep.status()["serving"] == "fallback"
        clock.advance(9)
        dep.server.tick_policies()
        assert dep.status()["serving"] == "fallback", "the probation has not run out"
        clock.advance(1)
        dep.server.tick_policies()
        assert dep.status()["serving"] == "primary"
        assert "probation" in dep.status()["reason"]
        assert dep.status()["fallback_switches"] == 1


def test_fallback_settings_are_checked(models):
    primary, fallback = models
    with pytest.raises(ValueError, match="needs slo"):
        mlship.deploy(primary, port=0, fallback=fallback)
    with pytest.raises(ValueError, match="needs fallback"):
        mlship.deploy(primary, port=0, slo=mlship.SLO(p99_ms=10))
    with pytest.raises(ValueError, match="slo_max_error_rate or slo_p99_ms"):
        mlship.SLO()
    other = mlship.load(torch.nn.Linear(3, 2), example_inputs=torch.zeros(1, 3))
    with pytest.raises(mlship.InvalidInputError, match="same inputs"):
        mlship.deploy(primary, port=0, fallback=other, slo=mlship.SLO(max_error_rate=0.1))
    with mlship.deploy(primary, port=0, http=False) as dep:
        with pytest.raises(mlship.FailedPreconditionError, match="no fallback"):
            dep.restore()
        status = dep.status()
        assert (status["serving"], status["reason"], status["fallback_switches"]) == ("primary", "", 0)
