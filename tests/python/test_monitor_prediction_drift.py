"""Prediction drift: a classifier's predicted-class mix against the mix it predicted on the reference."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request

import mlship

DRIFT = mlship.DriftOptions(window=1000, min_samples=200, check_interval_s=3600)


class SignOfProduct(torch.nn.Module):
    """Two classes: 0 when x0 * x1 > 0, else 1. Per-feature drift cannot see a change in
    how x0 and x1 relate, but the predicted classes do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x[:, 0:1] * x[:, 1:2]
        return torch.cat([p, -p], dim=1)


class Regressor(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def classifier() -> mlship.Model:
    return mlship.load(SignOfProduct(), example_inputs=torch.zeros(1, 2))


def independent(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, (rows, 2)).astype(np.float32)


def aligned(rng: np.random.Generator, rows: int) -> np.ndarray:
    """The same marginals (both columns standard normal) but x1 takes x0's sign: always class 0."""
    x = independent(rng, rows)
    x[:, 1] = np.abs(x[:, 1]) * np.sign(x[:, 0])
    return x


def send(dep: mlship.Deployment, rows: np.ndarray, per_request: int = 50) -> None:
    for start in range(0, len(rows), per_request):
        dep.predict(rows[start : start + per_request])


def test_reference_like_predictions_raise_nothing_and_a_shifted_class_mix_alerts(classifier):
    rng = np.random.default_rng(0)
    alerts = []
    with mlship.deploy(classifier, name="sign", port=0, reference=independent(rng, 4000), drift=DRIFT,
                       on_alert=alerts.append) as dep:
        before = dep.check_drift()["prediction"]
        assert before["window_rows"] == 0 and not before["judged"]
        assert before["reference_shares"] == pytest.approx([0.5, 0.5], abs=0.03)

        send(dep, independent(rng, 1000))
        report = dep.check_drift()
        assert report["prediction"]["window_rows"] == 1000
        assert report["prediction"]["judged"] and not report["prediction"]["drifted"]
        assert report["prediction"]["psi"] < 0.05
        assert alerts == []

        send(dep, aligned(rng, 1000))
        report = dep.check_drift()
        assert report["drifted"] == [], "each feature on its own still looks like the reference"
        assert report["prediction"]["drifted"] and report["prediction"]["psi"] >= 0.2
        assert report["prediction"]["live_shares"] == [1.0, 0.0]
        assert [a["kind"] for a in alerts] == ["prediction_drift"]
        alert = alerts[0]
        assert alert["model"] == "sign" and alert["features"] == [] and alert["drift"] == []
        assert alert["prediction"]["psi"] == pytest.approx(report["prediction"]["psi"])
        assert re.search(r"class 0 went from [45]\d(\.\d+)?% to 100% of predictions", alert["message"]), alert["message"]
        dep.check_drift()
        assert len(alerts) == 1, "an ongoing drift is not alerted again"

        m = dep.metrics()
        assert m["mlship_prediction_drift_psi"] == pytest.approx(report["prediction"]["psi"])
        assert m["mlship_prediction_drift_detected"] == 1.0
        assert m["mlship_prediction_drift_alerts_total"] == 1.0
        assert m["mlship_prediction_window_rows"] == 1000.0
        assert m["mlship_drift_alerts_total"] == 0.0
        status, text, _ = request(dep.url, "GET", "/metrics")
        assert status == 200
        assert b'mlship_prediction_drift_detected{model="sign",version="1"} 1\n' in text


def test_predictions_sent_over_http_feed_the_window(classifier):
    rng = np.random.default_rng(1)
    with mlship.deploy(classifier, name="sign", port=0, reference=independent(rng, 1000), drift=DRIFT) as dep:
        name = classifier.signature.inputs[0].name
        for _ in range(5):
            status, body, _ = request(dep.url, "POST", "/v2/models/sign/infer", infer_body(name, aligned(rng, 60)))
            assert status == 200, body
        assert dep.check_drift()["prediction"]["window_rows"] == 300


def test_classifier_option_turns_the_check_off_or_insists(classifier):
    rng = np.random.default_rng(2)
    with mlship.deploy(classifier, port=0, http=False, reference=independent(rng, 500), classifier=False) as dep:
        send(dep, aligned(rng, 300))
        assert dep.check_drift()["prediction"] is None
        assert "mlship_prediction_drift_psi{" not in dep.metrics_text()

    regressor = mlship.load(Regressor(), example_inputs=torch.zeros(1, 2))
    with mlship.deploy(regressor, port=0, http=False, reference=independent(rng, 500)) as dep:
        assert dep.check_drift()["prediction"] is None, "one output per row is not a classifier"
    with pytest.raises(mlship.InvalidInputError, match=r"classifier=true needs .*output_0: FP32\[-1, 1\]"):
        mlship.deploy(regressor, port=0, http=False, classifier=True)
    with pytest.raises(ValueError, match="classifier must be None.*True or False; was 'yes'"):
        mlship.deploy(regressor, port=0, http=False, classifier="yes")


def test_a_model_that_fails_on_the_reference_says_where(classifier):
    class Picky(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool(x.abs().max() > 100.0):
                raise ValueError("value above 100")
            return torch.cat([x, -x], dim=1)

    model = mlship.load(Picky(), example_inputs=torch.zeros(1, 1))
    reference = np.zeros((100, 1), np.float32)
    reference[70, 0] = 1000.0
    with mlship.deploy(model, port=0, http=False, max_batch_size=32) as dep:
        with pytest.raises(mlship.InvalidInputError, match=r"reference \(rows 64\.\.95\).*value above 100"):
            dep.set_reference(reference)
        dep.set_reference(reference[:60])  # the deployment keeps working
        assert dep.check_drift()["prediction"]["reference_shares"] == [1.0, 0.0]
