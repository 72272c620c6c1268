"""mlship.evaluate's figures against scikit-learn's on the same predictions, slices, latency, and
the report's forms (table, dict, DataFrame)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_diabetes

import mlship
from mlship._eval_report import latency_figures


@pytest.fixture(scope="module")
def evaluated(digits_model, digits):
    _, X_test, _, y_test = digits
    return mlship.evaluate(digits_model, X_test, y_test, batch_size=100)


@pytest.fixture(scope="module")
def probabilities(digits_model, digits):
    logits = torch.from_numpy(digits_model(digits[1]))
    return torch.softmax(logits.double(), dim=1).numpy()


def test_every_classification_metric_matches_scikit_learn(evaluated, probabilities, digits):
    y = digits[3]
    pred = probabilities.argmax(1)
    m = evaluated.metrics
    assert evaluated.scores == "logits"
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision_macro"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert m["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probabilities, multi_class="ovr"), rel=1e-6)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, probabilities), rel=1e-5)
    assert evaluated.confusion_matrix == skm.confusion_matrix(y, pred).tolist()
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=range(10), zero_division=0)
    for row in evaluated.per_class:
        c = row["class"]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[c], recall[c], f1[c], support[c]))
    assert 0.85 < m["accuracy"] < 1.0  # a trained model, not a degenerate one


def test_calibration_bins_match_sklearn_and_ece_weighs_them_by_rows(evaluated, probabilities, digits):
    y = digits[3]
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == y
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    bins = evaluated.calibration
    filled = [i for i, n in enumerate(bins["count"]) if n]
    assert [bins["accuracy"][i] for i in filled] == pytest.approx(prob_true.tolist())
    assert [bins["confidence"][i] for i in filled] == pytest.approx(prob_pred.tolist())
    assert sum(bins["count"]) == len(y)
    # ECE straight from its definition, with numpy's histogram doing the binning.
    counts, _ = np.histogram(confidence, bins=np.linspace(0, 1, 11))
    assert counts[filled].tolist() == [bins["count"][i] for i in filled]
    expected = np.sum(counts[filled] / len(y) * np.abs(prob_true - prob_pred))
    assert evaluated.metrics["ece"] == pytest.approx(expected)


def test_softmax_outputs_are_read_as_probabilities(mlp, digits):
    _, X_test, _, y_test = digits
    net = torch.nn.Sequential(mlp, torch.nn.Softmax(dim=1)).eval()
    report = mlship.evaluate(net, X_test, y_test)
    with torch.no_grad():
        p = net(torch.from_numpy(X_test)).double().numpy()
    assert report.scores == "probabilities"
    assert report.metrics["log_loss"] == pytest.approx(skm.log_loss(y_test, p / p.sum(1, keepdims=True)), rel=1e-4)


class ArgmaxLabels(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).argmax(dim=1)


def test_label_outputs_give_label_metrics_and_say_why_the_rest_are_missing(mlp, digits, evaluated):
    _, X_test, _, y_test = digits
    report = mlship.evaluate(ArgmaxLabels(mlp).eval(), X_test, y_test)
    assert report.scores == "labels"
    assert report.metrics["accuracy"] == pytest.approx(evaluated.metrics["accuracy"])
    assert report.metrics["f1_macro"] == pytest.approx(evaluated.metrics["f1_macro"])
    assert report.metrics["roc_auc"] is None and report.metrics["log_loss"] is None and report.calibration is None
    assert any("need class probabilities" in n for n in report.notes)


def test_a_binary_classifier_with_one_logit_column(digits):
    X_train, X_test, y_train, y_test = digits
    torch.manual_seed(0)
    net = torch.nn.Linear(64, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(X_train), torch.from_numpy((y_train >= 5).astype(np.float32))
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(xt)[:, 0], yt).backward()
        opt.step()
    y = (y_test >= 5).astype(np.int64)
    report = mlship.evaluate(net.eval(), X_test, y)
    with torch.no_grad():
        p1 = torch.sigmoid(net(torch.from_numpy(X_test))[:, 0]).double().numpy()
    assert report.scores == "logits"
    assert len(report.per_class) == 2
    assert report.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1), rel=1e-6)
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, p1 > 0.5))
    assert report.metrics["log_loss"] == pytest.approx(skm.log_loss(y, p1), rel=1e-5)


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes()
    X, y = data.data.astype(np.float32), data.target.astype(np.float64)
    # Least squares, written into a torch Linear: a real regression model without training.
    A = np.hstack([X[:300], np.ones((300, 1), np.float32)])
    coef, *_ = np.linalg.lstsq(A, y[:300], rcond=None)
    net = torch.nn.Linear(10, 1)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(coef[:10].astype(np.float32))[None])
        net.bias.fill_(float(coef[10]))
    return net.eval(), X[300:], y[300:]


def test_regression_metrics_match_scikit_learn(diabetes):
    net, X, y = diabetes
    report = mlship.evaluate(net, X, y, task="regression")
    with torch.no_grad():
        pred = net(torch.from_numpy(X))[:, 0].double().numpy()
    assert report.metrics["mse"] == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-6)
    assert report.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-6)
    assert report.metrics["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-6)
    assert 0.3 < report.metrics["r2"] < 0.7
    assert report.per_class == [] and report.calibration is None and report.scores == "values"


def test_slices_by_mask_by_values_and_by_column(digits_model, digits, probabilities):
    _, X_test, _, y_test = digits
    pred = probabilities.argmax(1)
    bright = X_test[:, 36] > 0.5
    group = np.where(np.arange(len(y_test)) % 3 == 0, "a", "b")
    report = mlship.evaluate(digits_model, X_test, y_test, slices={"bright": bright, "group": group},
                             metrics=["accuracy", "f1_macro"])
    assert list(report.slices) == ["bright", "group=a", "group=b"]
    for name, mask in (("bright", bright), ("group=a", group == "a"), ("group=b", group == "b")):
        s = report.slices[name]
        assert s["rows"] == int(mask.sum())
        assert s["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y_test[mask], pred[mask]))
        assert s["metrics"]["f1_macro"] == pytest.approx(skm.f1_score(y_test[mask], pred[mask], average="macro"))
    by_column = mlship.evaluate(digits_model, X_test, y_test, slices={"px0": 0}, metrics=["accuracy"])
    assert sum(s["rows"] for s in by_column.slices.values()) == len(y_test)
    assert all(name.startswith("px0=") for name in by_column.slices)


def test_an_empty_slice_has_no_figures_rather_than_an_error(digits_model, digits):
    _, X_test, _, y_test = digits
    report = mlship.evaluate(digits_model, X_test, y_test, slices={"none": np.zeros(len(y_test), bool)})
    assert report.slices["none"]["rows"] == 0
    assert all(v is None for v in report.slices["none"]["metrics"].values())


def test_latency_is_measured_per_call(evaluated, digits):
    rows = len(digits[3])
    lat = evaluated.latency
    assert lat["calls"] == math.ceil(rows / 100) == len(evaluated.latencies_s)
    assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert lat["rows_per_s"] == pytest.approx(rows / sum(evaluated.latencies_s))


def test_latency_figures_from_known_durations():
    f = latency_figures([0.001, 0.002, 0.003, 0.004], rows=40)
    assert f["calls"] == 4
    assert f["p50_ms"] == pytest.approx(2.5) and f["max_ms"] == pytest.approx(4.0)
    assert f["mean_ms"] == pytest.approx(2.5) and f["rows_per_s"] == pytest.approx(4000)
    assert latency_figures([], rows=0)["p50_ms"] is None


def test_report_is_plain_json_a_dataframe_and_a_table(digits_model, digits):
    _, X_test, _, y_test = digits
    report = mlship.evaluate(digits_model, X_test, y_test, slices={"first": np.arange(len(y_test)) < 50})
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["kind"] == "mlship.evaluation" and data["rows"] == len(y_test)
    assert data["metrics"]["accuracy"] == pytest.approx(report.metrics["accuracy"])
    assert len(data["confusion_matrix"]) == 10 and data["slices"]["first"]["rows"] == 50
    frame = report.to_dataframe()
    assert list(frame.index) == ["all", "first"]
    assert frame.loc["all", "accuracy"] == pytest.approx(report.metrics["accuracy"])
    text = str(report)
    assert text.splitlines()[1].split() == ["metric", "all", "first"]
    assert re.search(rf"\naccuracy ↑ +{report.metrics['accuracy']:.4f}\s", text)
    assert "latency per call" in text and "\nclass" in text
