"""Drift (PSI and KS against a reference) and input anomalies, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from scipy import stats

import mlship

FEATURES = 8


class Tabular(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(FEATURES, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class Images(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.flatten(1).mean(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def tabular() -> mlship.Model:
    return mlship.load(Tabular().eval(), example_inputs=torch.zeros(1, FEATURES))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 1.0, (2000, FEATURES)).astype(np.float32)


def _of_kind(alerts: list[dict], kind: str = "drift") -> list[dict]:
    """Feature drift alerts only: Tabular is also a classifier, whose predicted-class mix
    may drift too (test_monitor_prediction_drift.py covers that)."""
    return [a for a in alerts if a["kind"] == kind]


def _send(dep, rows: np.ndarray, per_request: int = 50) -> None:
    for start in range(0, len(rows), per_request):
        dep.predict(rows[start : start + per_request])


DRIFT = mlship.DriftOptions(window=1000, min_samples=200, check_interval_s=3600)


def test_reference_like_data_raises_no_alert_and_shifted_features_are_named(tabular, reference):
    alerts = []
    rng = np.random.default_rng(1)
    with mlship.deploy(tabular, port=0, http=False, reference=reference, drift=DRIFT, on_alert=alerts.append) as dep:
        assert dep.check_drift()["window_rows"] == 0
        _send(dep, rng.normal(0.0, 1.0, (1000, FEATURES)).astype(np.float32))
        report = dep.check_drift()
        assert report["window_rows"] == 1000 and report["drifted"] == []
        assert all(f["judged"] and f["psi"] < 0.1 for f in report["features"])
        assert alerts == []

        shifted = rng.normal(0.0, 1.0, (1000, FEATURES)).astype(np.float32)
        shifted[:, 2] += 1.5
        shifted[:, 5] *= 3.0
        _send(dep, shifted)
        report = dep.check_drift()
        assert report["drifted"] == ["2", "5"]
        assert len(_of_kind(alerts)) == 1
        alert = _of_kind(alerts)[0]
        assert alert["kind"] == "drift" and alert["features"] == ["2", "5"]
        assert [d["feature"] for d in alert["drift"]] == ["2", "5"]
        assert "'2'" in alert["message"] and "'5'" in alert["message"]
        # The same KS D as scipy on the same samples (the reference has <= 2000 rows,
        # so it is kept whole; the window holds exactly the shifted rows).
        for f in report["features"]:
            i = int(f["feature"])
            expected = stats.ks_2samp(reference[:, i].astype(np.float64), shifted[:, i].astype(np.float64))
            assert f["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
        # An ongoing drift is not alerted again.
        dep.check_drift()
        assert len(_of_kind(alerts)) == 1

        m = dep.metrics()
        assert m["mlship_drift_alerts_total"] == 1
        assert m["mlship_drift_detected"] == {str(i): (1.0 if i in (2, 5) else 0.0) for i in range(FEATURES)}
        assert m["mlship_drift_psi"]["2"] >= 0.2 and m["mlship_drift_psi"]["0"] < 0.1
        assert m["mlship_drift_window_rows"] == 1000


def test_drift_is_checked_periodically_off_the_request_path(tabular, reference):
    alerts = []
    options = mlship.DriftOptions(window=500, min_samples=200, check_interval_s=0.2)
    with mlship.deploy(tabular, port=0, http=False, reference=reference, drift=options, on_alert=alerts.append) as dep:
        shifted = np.random.default_rng(2).normal(4.0, 1.0, (500, FEATURES)).astype(np.float32)
        _send(dep, shifted)
        for _ in range(100):  # at most ~10 s
            if _of_kind(alerts):
                break
            import time

            time.sleep(0.1)
        drift = _of_kind(alerts)
        assert len(drift) == 1 and drift[0]["features"] == [str(i) for i in range(FEATURES)]


def test_anomalies_are_counted_per_feature_and_kind(tabular, reference):
    with mlship.deploy(tabular, port=0, http=False, reference=reference) as dep:
        x = np.zeros((4, FEATURES), np.float32)
        x[0, 1] = np.nan
        x[1, 1] = np.nan
        x[2, 3] = np.inf
        x[3, 6] = 1e6
        assert np.asarray(dep.predict(x)).shape == (4, 3)  # counted, not refused
        dep.predict(np.zeros((2, FEATURES), np.float32))
        a = dep.metrics()["mlship_input_anomalies_total"]
        assert a[("1", "nan")] == 2 and a[("3", "inf")] == 1 and a[("6", "out_of_range")] == 1
        assert sum(a.values()) == 4


def test_reject_anomalies_answers_400_and_keeps_serving(tabular, reference):
    options = mlship.DriftOptions(reject_anomalies=True)
    with mlship.deploy(tabular, name="tab", port=0, reference=reference, drift=options) as dep:
        bad = np.zeros((2, FEATURES), np.float32)
        bad[1, 4] = -1e5
        with pytest.raises(mlship.InvalidInputError, match="anomalous.*feature 4"):
            dep.predict(bad)
        name = tabular.signature.inputs[0].name
        status, body, _ = request(dep.url, "POST", "/v2/models/tab/infer", infer_body(name, bad))
        assert status == 400 and "anomalous" in body["error"]
        status, body, _ = request(dep.url, "POST", "/v2/models/tab/infer", infer_body(name, bad[:1]))
        assert status == 200, body
        m = dep.metrics()
        assert m["mlship_requests_failed_total"]["input_anomaly"] == 2
        assert m["mlship_requests_failed_total"]["invalid_argument"] == 0
        assert m["mlship_input_anomalies_total"][("4", "out_of_range")] == 2


def test_images_are_profiled_by_per_row_summaries():
    model = mlship.load(Images(), example_inputs=torch.zeros(1, 1, 8, 8))
    rng = np.random.default_rng(3)
    reference = rng.uniform(0, 1, (1000, 1, 8, 8)).astype(np.float32)
    alerts = []
    with mlship.deploy(model, port=0, http=False, reference=reference, drift=DRIFT, on_alert=alerts.append) as dep:
        _send(dep, (rng.uniform(0, 1, (400, 1, 8, 8)) * 0.5).astype(np.float32))  # darker images
        report = dep.check_drift()
        assert [f["feature"] for f in report["features"]] == ["mean", "std", "min", "max"]
        assert set(report["drifted"]) >= {"mean", "std", "max"}
        assert alerts and alerts[0]["features"] == report["drifted"]


def test_a_badly_shaped_reference_is_a_clear_error(tabular, reference):
    with mlship.deploy(tabular, port=0, http=False) as dep:
        with pytest.raises(mlship.InvalidInputError, match=r"shaped like input .*\[rows, 8\].*got \[10, 7\]"):
            dep.set_reference(np.zeros((10, 7), np.float32))
        with pytest.raises(mlship.InvalidInputError, match="no finite value"):
            dep.set_reference(np.full((10, FEATURES), np.nan, np.float32))
        assert dep.check_drift() == {"window_rows": 0, "features": [], "drifted": [], "prediction": None}
        dep.set_reference(reference)
        assert np.asarray(dep.predict(reference[:3])).shape == (3, 3)
