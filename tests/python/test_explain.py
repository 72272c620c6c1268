"""mlship.explain against Captum (same models, same inputs), completeness, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship

# captum is a test dependency (the Makefile's PY_DEPS): the reference implementation.
from captum.attr import InputXGradient, IntegratedGradients, Occlusion, Saliency


@pytest.fixture(scope="module")
def nets(zoo):
    """name -> (eager net, mlship model, a batch of 6 rows)."""
    out = {}
    for name in ("mlp", "cnn"):
        net, (x,) = zoo[name]
        net = net.eval()
        out[name] = (net, mlship.load(net, example_inputs=x[:1]), x[:6].clone())
    return out


def _close(ours, theirs, rtol=1e-4):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = max(np.abs(theirs).max(), 1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_integrated_gradients_match_captum_with_predicted_targets(nets, name):
    net, model, x = nets[name]
    e = mlship.explain(model, x, method="integrated_gradients", steps=32)
    predicted = net(x).argmax(1)
    np.testing.assert_array_equal(e.target, predicted.numpy())
    ref, ref_delta = IntegratedGradients(net).attribute(
        x, baselines=torch.zeros_like(x), target=predicted, n_steps=32, return_convergence_delta=True
    )
    assert e.attribution.shape == x.shape
    _close(e.attribution, ref.detach())
    scale = float(ref.abs().reshape(len(x), -1).sum(1).max())
    np.testing.assert_allclose(e.delta, ref_delta.detach().numpy(), atol=1e-4 * scale)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_integrated_gradients_with_a_baseline_and_fixed_target_match_captum(nets, name):
    net, model, x = nets[name]
    g = torch.Generator().manual_seed(3)
    baseline = torch.rand(x[:1].shape, generator=g)
    e = mlship.explain(model, x, method="integrated_gradients", target=4, baseline=baseline, steps=16)
    ref = IntegratedGradients(net).attribute(x, baselines=baseline.expand_as(x), target=4, n_steps=16)
    _close(e.attribution, ref.detach())
    assert (e.target == 4).all()


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_completeness_holds_within_the_reported_delta(nets, name):
    """sum(attributions) = f(x) - f(baseline) up to the delta the engine reports; recomputed here from
    the eager model, independently of the engine."""
    net, model, x = nets[name]
    e = mlship.explain(model, x, method="integrated_gradients", steps=64)
    with torch.no_grad():
        rows = torch.arange(len(x))
        t = torch.from_numpy(e.target)
        gap = (net(x)[rows, t] - net(torch.zeros_like(x))[rows, t]).numpy()
    total = e.attribution.reshape(len(x), -1).sum(1).numpy()
    np.testing.assert_allclose(total - gap, e.delta, atol=1e-4 * max(1.0, np.abs(gap).max()))
    # and the delta is small next to the gap it closes
    assert np.abs(e.delta).max() < 0.05 * max(1.0, np.abs(gap).max())


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_saliency_and_input_x_gradient_match_captum(nets, name):
    net, model, x = nets[name]
    targets = [int(i) % 10 for i in range(len(x))]
    s = mlship.explain(model, x, method="saliency", target=targets)
    _close(s.attribution, Saliency(net).attribute(x.clone().requires_grad_(), target=targets).detach())
    ixg = mlship.explain(model, x, method="input_x_gradient", target=targets)
    _close(ixg.attribution, InputXGradient(net).attribute(x.clone().requires_grad_(), target=targets).detach())
    assert s.delta is None and ixg.delta is None
    np.testing.assert_array_equal(s.target, targets)


def test_occlusion_matches_captum_on_the_cnn(nets):
    net, model, x = nets["cnn"]
    e = mlship.explain(model, x, method="occlusion", window=2, target=3)
    ref = Occlusion(net).attribute(x, sliding_window_shapes=(1, 2, 2), strides=(1, 2, 2), target=3, baselines=0.0)
    _close(e.attribution, ref.detach(), rtol=1e-4)
    assert e.evaluations == len(x) * (1 + 16)


def test_outputs_are_the_models_outputs_and_numpy_in_gives_numpy_out(nets):
    net, model, x = nets["mlp"]
    e = mlship.explain(model, x.numpy(), method="saliency")
    assert isinstance(e.attribution, np.ndarray)
    np.testing.assert_allclose(e.outputs, net(x).detach().numpy(), atol=1e-5)


# --- models without gradients ---


def test_int8_model_refuses_gradient_methods_and_says_why_and_what_works(nets):
    _, model, x = nets["mlp"]
    small = mlship.quantize(model, "int8")
    with pytest.raises(mlship.UnsupportedMethodError) as info:
        mlship.explain(small, x, method="integrated_gradients")
    message = str(info.value)
    assert "integrated_gradients" in message and "int8" in message
    assert "occlusion" in message and "kernel_shap" in message
    assert isinstance(info.value, NotImplementedError)
    # the model-agnostic methods work on it, and agree with the float model's
    ours = mlship.explain(small, x[:2], method="occlusion")
    ref = mlship.explain(model, x[:2], method="occlusion", target=list(ours.target))
    assert np.corrcoef(ours.attribution.numpy().ravel(), ref.attribution.numpy().ravel())[0, 1] > 0.9


def test_pt2_package_supports_only_model_agnostic_methods(nets, tmp_path):
    net, model, x = nets["mlp"]
    path = mlship.export_pt2(net, (x[:1],), tmp_path / "mlp.pt2", max_batch=256)
    pt2 = mlship.load(path)
    with pytest.raises(mlship.UnsupportedMethodError, match="saliency.*AOTInductor.*occlusion, kernel_shap"):
        mlship.explain(pt2, x, method="saliency")
    e = mlship.explain(pt2, x[:2], method="occlusion", target=1)
    ref = mlship.explain(model, x[:2], method="occlusion", target=1)
    _close(e.attribution, ref.attribution, rtol=1e-3)


# --- bad inputs: each a clear InvalidInputError, and the model keeps working ---


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "lime"}, "unknown explanation method 'lime'; expected one of saliency, input_x_gradient"),
        ({"target": 10}, r"target 10 is out of range: output 'output_0' has 10 value\(s\) per row \(targets 0..9\)"),
        ({"target": -1}, "target -1 is out of range"),
        ({"target": [1, 2]}, r"expected one target, or one per row \(6\); got 2"),
        ({"target": "biggest"}, "target must be a class/output index"),
        ({"baseline": np.zeros((1, 63), np.float32)}, r"baseline for input 'x' has shape \[1, 63\]; expected \[1, 64\] or \[6, 64\]"),
        ({"baseline": np.zeros((3, 64), np.float32)}, r"has shape \[3, 64\]; expected \[1, 64\] or \[6, 64\]"),
        ({"steps": 5000}, r"steps must be in \[1, 1024\]; was 5000"),
        ({"steps": 0}, r"steps must be in \[1, 1024\]; was 0"),
        ({"method": "kernel_shap", "samples": 10**7}, r"samples must be in \[0, 100000\]"),
        ({"method": "occlusion", "window": 0}, r"window must be in"),
        ({"output": 3}, r"output index 3 is out of range: the model has 1 output"),
    ],
)
def test_bad_explain_arguments_are_clear_errors(nets, kwargs, match):
    net, model, x = nets["mlp"]
    kwargs = {"method": "integrated_gradients", **kwargs}
    with pytest.raises(mlship.InvalidInputError, match=match):
        mlship.explain(model, x, **kwargs)
    np.testing.assert_allclose(model(x), net(x).detach(), atol=1e-5)  # still serving


def test_inputs_that_do_not_match_the_signature_are_refused(nets):
    _, model, x = nets["mlp"]
    with pytest.raises(mlship.InvalidInputError, match="input 'x'"):
        mlship.explain(model, x[:, :10])
    with pytest.raises(mlship.InvalidInputError, match=r"expected 1 input\(s\)"):
        mlship.explain(model, x, x)
    with pytest.raises(TypeError, match="mlship.explain takes an mlship.Model"):
        mlship.explain(torch.nn.Linear(2, 2), x)
