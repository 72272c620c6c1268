"""explain_sample_rate: sampled live requests feed a running feature importance per version,
compared with the importance on the drift reference; on metrics, the dashboard and
Deployment.feature_importance()."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import mlship
from http_helpers import request


@pytest.fixture(scope="module")
def model(mlp):
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


def _explained(dep, rows: int, reference: bool = True) -> dict:
    """The importance once `rows` live rows (and the reference) are in: waits for that state,
    bounded at 300 s (the explanations run at the lowest priority on a shared machine)."""
    deadline = time.monotonic() + 300
    while True:
        imp = dep.feature_importance()
        if imp["rows"] >= rows and (not reference or imp["reference_rows"] > 0):
            return imp
        assert time.monotonic() < deadline, f"only {imp['rows']} rows explained: {imp}"
        time.sleep(0.05)


def test_sampling_is_off_by_default(model):
    with mlship.deploy(model, name="digits", http=False) as dep:
        dep.predict(np.zeros((1, 64), np.float32))
        assert dep.feature_importance() is None


def test_sampled_importance_is_the_mean_attribution_of_the_requests_and_the_reference(model, digits):
    X_train, X_test = digits[0], digits[1]
    with mlship.deploy(model, name="digits", port=0, reference=X_train, explain_sample_rate=1.0,
                       explain_queue_size=64) as dep:
        for i in range(20):
            dep.predict(X_test[i:i + 1])
        imp = _explained(dep, 20)
        assert imp["rows"] == 20 and imp["reference_rows"] == 64
        live = np.array([f["live"] for f in imp["features"]])
        ref = np.array([f["reference"] for f in imp["features"]])
        # the same figures, computed directly: integrated gradients, 16 steps, predicted class
        want_live = np.abs(mlship.explain(model, X_test[:20], steps=16).attribution).mean(0)
        want_ref = np.abs(mlship.explain(model, X_train[:64], steps=16).attribution).mean(0)
        np.testing.assert_allclose(live, want_live, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ref, want_ref, rtol=1e-4, atol=1e-6)
        assert 0 <= imp["shift"] < 0.2  # live requests like the reference rely on the same pixels
        status, text, _ = request(dep.url, "GET", "/metrics")
        text = text.decode() if isinstance(text, bytes) else text
        assert 'mlship_feature_importance{model="digits",version="1",feature=' in text
        assert 'mlship_explanations_sampled_total{model="digits",version="1"} 20' in text
        assert 'mlship_feature_importance_shift{model="digits",version="1"}' in text
        status, dashboard, _ = request(dep.url, "GET", "/dashboard/data?model=digits")
        assert status == 200
        assert dashboard["importance"]["rows"] == 20 and dashboard["importance"]["reference_rows"] == 64


def test_relying_on_different_features_shows_as_a_bigger_shift(model, digits):
    X_train, X_test = digits[0], digits[1]
    left = X_test[:20].copy()
    left[:, 4:] = 0  # only the first pixels carry anything: attributions move there
    shifts = {}
    for label, rows in (("same", X_test[:20]), ("moved", left)):
        with mlship.deploy(model, name="digits", http=False, reference=X_train, explain_sample_rate=1.0,
                           explain_queue_size=64) as dep:
            for i in range(len(rows)):
                dep.predict(rows[i:i + 1])
            shifts[label] = _explained(dep, len(rows))["shift"]
    assert shifts["moved"] > shifts["same"] + 0.2, shifts


def test_the_sample_rate_is_a_checked_setting(model):
    with pytest.raises(mlship.InvalidInputError, match=r"explain_sample_rate must be in \[0, 1\]; was 2"):
        mlship.deploy(model, name="d", http=False, explain_sample_rate=2)
