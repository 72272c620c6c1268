"""mlship.evaluate gets the same figures from every kind of source: a Model, a Deployment, a
KServe v2 URL (mlship's own server), a saved file, a plain TorchScript file and a torch module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship
from mlship._kserve_client import KServeClient


@pytest.fixture(scope="module")
def reference(digits_model, digits):
    _, X, _, y = digits
    return mlship.evaluate(digits_model, X, y, metrics=["accuracy", "log_loss"])


def _same(report, reference):
    assert report.rows == reference.rows
    assert report.metrics["accuracy"] == pytest.approx(reference.metrics["accuracy"])
    assert report.metrics["log_loss"] == pytest.approx(reference.metrics["log_loss"], rel=1e-5)
    assert report.confusion_matrix == reference.confusion_matrix


def test_deployment_in_process(digits_model, digits, reference):
    _, X, _, y = digits
    with mlship.deploy(digits_model, http=False) as dep:
        report = mlship.evaluate(dep, X, y, metrics=["accuracy", "log_loss"], batch_size=64)
    _same(report, reference)
    assert report.source.startswith("mlship.Deployment") and report.latency["calls"] == -(-len(y) // 64)


def test_kserve_v2_url(digits_model, digits, reference):
    _, X, _, y = digits
    with mlship.deploy(digits_model, name="digits", port=0) as dep:
        url = f"{dep.url}/v2/models/digits"
        report = mlship.evaluate(url, X.astype(np.float64), y, metrics=["accuracy", "log_loss"])
        _same(report, reference)
        assert report.source == url
        versioned = mlship.evaluate(url + "/versions/1", X[:50], y[:50], metrics=["accuracy"])
        assert versioned.rows == 50


def test_kserve_errors_map_to_mlship_exceptions(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match="expected a model URL like http://127.0.0.1:8000/v2/models/NAME"):
        KServeClient("http://127.0.0.1:1/predict")
    with mlship.deploy(digits_model, name="digits", port=0, token="s3cret") as dep:
        with pytest.raises(mlship.UnauthenticatedError, match="HTTP 401"):
            mlship.evaluate(f"{dep.url}/v2/models/digits", X, y)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLSHIP_TOKEN", "s3cret")
            assert mlship.evaluate(f"{dep.url}/v2/models/digits", X[:20], y[:20]).rows == 20
            with pytest.raises(mlship.NotFoundError, match="HTTP 404"):
                mlship.evaluate(f"{dep.url}/v2/models/nope", X, y)
        with pytest.raises(mlship.InvalidInputError, match="HTTP 400"):
            KServeClient(f"{dep.url}/v2/models/digits", token="s3cret").infer([X[:2, :10]])
        port = dep.port
    with pytest.raises(mlship.OverloadedError, match="cannot reach"):
        mlship.evaluate(f"http://127.0.0.1:{port}/v2/models/digits", X, y)


def test_saved_file_plain_torchscript_and_module(mlp, digits, reference, tmp_path):
    _, X, _, y = digits
    saved = tmp_path / "digits.pt"
    mlship.load(mlp, example_inputs=X[:1]).save(str(saved))
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(mlp), str(plain))  # no signature: loaded with X's first row
    for source in (saved, str(plain), mlp):
        _same(mlship.evaluate(source, X, y, metrics=["accuracy", "log_loss"]), reference)


def test_torch_tensors_and_multi_input_models(zoo, digits):
    _, X, _, y = digits
    module, _ = zoo["two_input_dict"]
    model = mlship.load(module, example_inputs=(torch.zeros(1, 64), torch.ones(1, 1)))
    scale = np.ones((len(y), 1), np.float32)
    report = mlship.evaluate(model, (torch.from_numpy(X), scale), torch.from_numpy(y), output="logits")
    with torch.no_grad():
        pred = module(torch.from_numpy(X), torch.from_numpy(scale))["logits"].argmax(1).numpy()
    assert report.metrics["accuracy"] == pytest.approx(np.mean(pred == y))
    with pytest.raises(mlship.InvalidInputError, match="takes 2 input"):
        mlship.evaluate(model, X, y, output="logits")
    with pytest.raises(mlship.InvalidInputError, match="different row counts"):
        mlship.evaluate(model, (X, scale[:10]), y, output="logits")


def test_a_new_user_on_breast_cancer_with_float64_features_and_a_torch_sequential():
    """numpy's float64 data and a float32 torch module, as a new user has them: X is cast to the
    module's dtype, both to load it and to run it."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    report = mlship.evaluate(net.eval(), X_test, y_test)
    assert X_test.dtype == np.float64 and report.metrics["accuracy"] > 0.9 and report.metrics["roc_auc"] > 0.95
    assert len(report.per_class) == 2 and sum(c["support"] for c in report.per_class) == len(y_test)
