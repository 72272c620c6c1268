"""mlship's KernelSHAP against shap's KernelExplainer: same tabular models, same background, same rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.preprocessing import StandardScaler

import mlship


def _tabular(loader, outputs: int, seed: int = 0):
    """A small MLP fitted full-batch on a scikit-learn dataset (standardized)."""
    data = loader()
    X = StandardScaler().fit_transform(data.data).astype(np.float32)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 16), torch.nn.Tanh(), torch.nn.Linear(16, outputs))
    x, y = torch.from_numpy(X), torch.from_numpy(data.target)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        out = net(x)
        if outputs == 1:
            loss = torch.nn.functional.mse_loss(out[:, 0], (y.float() - y.float().mean()) / y.float().std())
        else:
            loss = torch.nn.functional.cross_entropy(out, y.long())
        loss.backward()
        opt.step()
    return net.eval(), X


def _shap_values(net, X_background, X_rows, target: int, nsamples: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's import warns through matplotlib
        import shap

    def f(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(a.astype(np.float32)))[:, target].double().numpy()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own deprecation and progress-bar warnings
        explainer = shap.KernelExplainer(f, X_background)
        # l1_reg=False: plain KernelSHAP (shap's default "auto" adds a feature-selection step
        # when few coalitions are sampled, which is not part of the method).
        values = explainer.shap_values(X_rows, nsamples=nsamples, l1_reg=False, silent=True)
    return np.asarray(values), float(explainer.expected_value)


def test_kernel_shap_is_exact_and_matches_shap_when_every_coalition_fits():
    """Diabetes has 10 features: 2^10 - 2 = 1022 coalitions, which both enumerate."""
    net, X = _tabular(load_diabetes, outputs=1)
    model = mlship.load(net, example_inputs=torch.from_numpy(X[:1]))
    background, rows = X[:16], X[100:104]
    ours = mlship.explain(model, rows, method="kernel_shap", baseline=background, samples=1022)
    theirs, expected = _shap_values(net, background, rows, target=0, nsamples=1022)
    np.testing.assert_allclose(ours.attribution, theirs, atol=2e-5 * np.abs(theirs).max())
    # efficiency: the values add up to f(x) - E f(background)
    with torch.no_grad():
        fx = net(torch.from_numpy(rows))[:, 0].numpy()
    np.testing.assert_allclose(ours.attribution.sum(1), fx - expected, atol=1e-4)
    assert np.abs(ours.delta).max() < 1e-4
    assert ours.evaluations == 4 + 16 + 4 * 1022 * 16


def test_kernel_shap_agrees_with_shap_on_sampled_coalitions():
    """Breast cancer has 30 features: both sample (different random streams, seeded), so compare
    the ranking and the correlation, per row."""
    net, X = _tabular(load_breast_cancer, outputs=2)
    model = mlship.load(net, example_inputs=torch.from_numpy(X[:1]))
    background, rows = X[:10], X[200:203]
    ours = mlship.explain(model, rows, method="kernel_shap", baseline=background, target=1, seed=7)
    theirs, _ = _shap_values(net, background, rows, target=1, nsamples=2 * 30 + 2048)
    for a, b in zip(ours.attribution, theirs):
        assert np.corrcoef(a, b)[0, 1] > 0.97
        top_ours, top_theirs = set(np.argsort(-np.abs(a))[:5]), set(np.argsort(-np.abs(b))[:5])
        assert len(top_ours & top_theirs) >= 4
    # the same seed gives the same values; another seed gives close ones
    again = mlship.explain(model, rows, method="kernel_shap", baseline=background, target=1, seed=7)
    np.testing.assert_array_equal(again.attribution, ours.attribution)


def test_kernel_shap_background_of_the_wrong_width_is_refused():
    net, X = _tabular(load_diabetes, outputs=1)
    model = mlship.load(net, example_inputs=torch.from_numpy(X[:1]))
    with pytest.raises(mlship.InvalidInputError, match=r"baseline for input .* has shape \[4, 9\]; expected \[-1, 10\]"):
        mlship.explain(model, X[:2], method="kernel_shap", baseline=X[:4, :9])
