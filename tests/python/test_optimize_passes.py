"""mlship.quantize / prune / low_rank on the trained digits MLP: outputs, shapes, sizes, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship


@pytest.fixture(scope="module")
def loaded(mlp, digits) -> mlship.Model:
    _, X_test, _, _ = digits
    return mlship.load(mlp, example_inputs=X_test[:1])


@pytest.fixture(scope="module")
def reference(loaded, digits) -> np.ndarray:
    _, X_test, _, _ = digits
    return loaded(X_test)


def accuracy(model: mlship.Model, digits) -> float:
    _, X_test, _, y_test = digits
    return float(np.mean(model(X_test).argmax(1) == y_test))


def saved_size(model: mlship.Model, tmp_path, name: str) -> int:
    path = tmp_path / name
    model.save(str(path))
    return path.stat().st_size


TORCH_KERNEL = "dynamic (torch quantized::linear_dynamic)"
MLSHIP_KERNEL = "weight-only (mlship)"


@pytest.mark.parametrize("mode", ["weight_only", "dynamic"])
def test_int8_keeps_outputs_close_with_either_kernel(loaded, reference, digits, mode):
    # A LibTorch without the dynamic kernel serves "dynamic" with mlship's own.
    has_torch_kernel = mlship._core.torch_has_dynamic_int8_kernel()
    kernel = TORCH_KERNEL if mode == "dynamic" and has_torch_kernel else MLSHIP_KERNEL
    small = mlship.quantize(loaded, "int8", mode=mode)
    _, X_test, _, _ = digits
    out = small(X_test)
    assert small.optimization["layers_changed"] == 3
    assert small.optimization["details"]["kernel"] == kernel
    # Both hidden ReLUs run inside the int8 product before them (mlship::linear_relu_int8).
    assert small.optimization["details"]["ReLUs fused into the int8 Linear before them"] == "2"
    assert np.max(np.abs(out - reference)) < 0.05 * np.max(np.abs(reference))
    assert accuracy(small, digits) >= accuracy(loaded, digits) - 0.01


class ReadsTheProductTwice(torch.nn.Module):
    """relu(linear(x)) where the product is read again: fusing the ReLU would change the
    second reader, so the pass must leave it; and an in-place relu_ that is the sole reader."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 16)
        self.b = torch.nn.Linear(16, 16)
        self.c = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        h = torch.relu(y) + y
        return self.c(torch.relu_(self.b(h)))


@pytest.mark.parametrize("mode", ["weight_only", "dynamic"])
def test_int8_fuses_a_relu_only_where_it_is_the_products_sole_reader(mode):
    torch.manual_seed(3)
    net = ReadsTheProductTwice().eval()
    x = torch.randn(32, 8)
    loaded = mlship.load(torch.jit.script(net), example_inputs=x[:1])
    small = mlship.quantize(loaded, "int8", mode=mode)
    assert small.optimization["details"]["ReLUs fused into the int8 Linear before them"] == "1"  # relu_(b(h))
    reference = loaded(x.numpy())
    assert np.max(np.abs(small(x.numpy()) - reference)) < 0.05 * np.max(np.abs(reference))


def test_int8_auto_reports_both_kernels_measured(loaded):
    small = mlship.quantize(loaded, "int8", timing_runs=3)
    details = small.optimization["details"]
    assert "batch 1:" in details["best us (weight-only / dynamic)"]
    assert "batch 32:" in details["best us (weight-only / dynamic)"]
    assert "weight-only" in details["kernel"] or "dynamic" in details["kernel"]


def test_int8_weights_are_int8_on_disk(loaded, tmp_path):
    fp32 = saved_size(loaded, tmp_path, "fp32.pt")
    int8 = saved_size(mlship.quantize(loaded, "int8", mode="weight_only"), tmp_path, "int8.pt")
    # 4 bytes -> 1 byte per weight, plus scales, biases and the archive's code.
    assert int8 < 0.3 * fp32


@pytest.mark.parametrize(("dtype", "tolerance"), [("fp16", 0.01), ("bf16", 0.05)])
def test_half_precision_halves_the_weights_and_keeps_outputs_close(loaded, reference, digits, tmp_path, dtype,
                                                                   tolerance):
    half = mlship.quantize(loaded, dtype, timing_runs=3)
    _, X_test, _, _ = digits
    assert np.max(np.abs(half(X_test) - reference)) < tolerance * np.max(np.abs(reference))
    ratio = saved_size(half, tmp_path, f"{dtype}.pt") / saved_size(loaded, tmp_path, "fp32.pt")
    assert 0.4 < ratio < 0.6
    details = half.optimization["details"]
    assert details["compute"].startswith((dtype, "fp32 (weights widened"))
    assert "bf16:" in details["cpu"] and "fp16:" in details["cpu"]


def test_prune_removes_neurons_and_shrinks_the_next_layer(loaded, digits, tmp_path):
    pruned = mlship.prune(loaded, amount=0.5)
    report = pruned.optimization
    assert report["layers_changed"] == 2
    assert report["details"]["weights (out x in)"] == "256x64 -> 128x64, 256x256 -> 128x128, 10x256 -> 10x128"
    _, X_test, _, _ = digits
    assert pruned(X_test).shape == (len(X_test), 10)  # the output layer keeps its shape
    assert saved_size(pruned, tmp_path, "pruned.pt") < 0.4 * saved_size(loaded, tmp_path, "fp32.pt")
    assert accuracy(pruned, digits) >= accuracy(loaded, digits) - 0.05


def test_prune_amount_zero_changes_nothing(loaded):
    same = mlship.prune(loaded, amount=0.0)
    assert same.optimization["layers_changed"] == 0
    assert same.optimization["summary"] == "amount is 0: nothing removed"


def test_low_rank_with_a_fixed_rank_factors_each_layer(loaded, digits):
    factored = mlship.low_rank(loaded, rank=8)
    report = factored.optimization
    assert report["details"]["ranks"] == "256x64 -> rank 8, 256x256 -> rank 8, 10x256 -> rank 8"
    assert report["details"]["weights"] == "84480 -> 8784 parameters in the factored layers"  # 8 * (320 + 512 + 266)
    _, X_test, _, _ = digits
    assert factored(X_test).shape == (len(X_test), 10)


def test_low_rank_with_high_energy_stays_close(loaded, reference, digits):
    factored = mlship.low_rank(loaded, energy=0.999)
    _, X_test, _, _ = digits
    assert np.max(np.abs(factored(X_test) - reference)) < 0.05 * np.max(np.abs(reference))


def test_low_rank_leaves_layers_dense_when_factoring_would_not_shrink_them(loaded):
    same = mlship.low_rank(loaded, energy=1.0)
    report = same.optimization
    assert report["layers_changed"] == 0
    assert report["summary"].startswith("nothing to factor")
    assert "256x256" in report["details"]["left dense (factoring would not shrink them)"]


@pytest.mark.parametrize("make", [
    lambda m: mlship.quantize(m, "int8", mode="weight_only"),
    lambda m: mlship.quantize(m, "int8", mode="dynamic"),
    lambda m: mlship.quantize(m, "fp16", timing_runs=2),
    lambda m: mlship.quantize(m, "bf16", timing_runs=2),
    lambda m: mlship.prune(m, 0.3),
    lambda m: mlship.low_rank(m, 0.9),
    lambda m: mlship.quantize(mlship.low_rank(m, 0.9), "int8", mode="weight_only"),
], ids=["int8_weight_only", "int8_dynamic", "fp16", "bf16", "prune", "low_rank", "low_rank+int8"])
def test_saved_optimized_models_load_and_give_the_same_outputs(loaded, digits, tmp_path, make):
    optimized = make(loaded)
    _, X_test, _, _ = digits
    path = tmp_path / "optimized.pt"
    optimized.save(str(path))
    again = mlship.load(path)
    np.testing.assert_array_equal(again(X_test), optimized(X_test))
    assert again.signature == loaded.signature


def test_passes_leave_the_source_model_unchanged(loaded, reference, digits):
    mlship.quantize(loaded, "int8", mode="weight_only")
    mlship.prune(loaded, 0.5)
    mlship.low_rank(loaded, rank=4)
    _, X_test, _, _ = digits
    np.testing.assert_array_equal(loaded(X_test), reference)


def test_torch_tensors_in_give_torch_tensors_out(loaded, digits):
    small = mlship.quantize(loaded, "int8", mode="weight_only")
    _, X_test, _, _ = digits
    out = small(torch.from_numpy(X_test[:4]))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 10)


class NoLinear(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2.0


@pytest.mark.parametrize(("run", "summary"), [
    (lambda m: mlship.quantize(m, "int8"), "nothing to quantize"),
    (lambda m: mlship.quantize(m, "bf16"), "nothing to quantize"),
    (lambda m: mlship.prune(m, 0.5), "nothing to prune"),
    (lambda m: mlship.low_rank(m, 0.9), "nothing to factor"),
])
def test_a_model_with_nothing_to_change_is_reported_not_an_error(run, summary):
    model = mlship.load(NoLinear(), example_inputs=np.ones((1, 5), np.float32))
    result = run(model)
    assert result.optimization["layers_changed"] == 0
    assert result.optimization["summary"].startswith(summary)
    np.testing.assert_array_equal(result(np.ones((2, 5), np.float32)), np.full((2, 5), 2.0, np.float32))


def test_prune_skips_a_single_output_layer():
    model = mlship.load(torch.nn.Linear(8, 4), example_inputs=np.ones((1, 8), np.float32))
    result = mlship.prune(model, 0.5)
    assert result.optimization["layers_seen"] == 1
    assert result.optimization["summary"].startswith("nothing to prune: no Linear layer feeds another")


def test_prune_does_not_cross_a_sigmoid(digits):
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Sigmoid(), torch.nn.Linear(32, 10)).eval()
    result = mlship.prune(mlship.load(net, example_inputs=digits[1][:1]), 0.5)
    assert result.optimization["layers_changed"] == 0  # sigmoid(0) != 0: removing a neuron would shift outputs


def test_prune_follows_gelu_and_tanh(digits):
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 10)).eval()
    result = mlship.prune(mlship.load(net, example_inputs=digits[1][:1]), 0.25)
    assert result.optimization["details"]["neurons"] == "64 -> 48"


# --- bad input ---


@pytest.mark.parametrize("dtype", ["int4", "float8", ""])
def test_unknown_dtype_lists_the_supported_ones(loaded, dtype):
    with pytest.raises(ValueError, match=r"unknown dtype .*supported: 'int8', 'fp16', 'bf16'"):
        mlship.quantize(loaded, dtype)


def test_unknown_int8_mode_lists_the_supported_ones(loaded):
    with pytest.raises(ValueError, match=r"supported: 'auto', 'dynamic', 'weight_only'"):
        mlship.quantize(loaded, "int8", mode="fast")


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5, float("nan")])
def test_amount_outside_0_1_is_rejected_with_its_value(loaded, amount):
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\); got " + repr(amount)):
        mlship.prune(loaded, amount)


@pytest.mark.parametrize("rank", [0, -3])
def test_rank_below_1_is_rejected_with_its_value(loaded, rank):
    with pytest.raises(ValueError, match=f"rank must be at least 1; got {rank}"):
        mlship.low_rank(loaded, rank=rank)


@pytest.mark.parametrize("energy", [0.0, -0.5, 1.01])
def test_energy_outside_0_1_is_rejected_with_its_value(loaded, energy):
    with pytest.raises(ValueError, match=r"energy must be in \(0, 1\]; got " + repr(energy)):
        mlship.low_rank(loaded, energy=energy)


@pytest.mark.slow
@pytest.mark.parametrize("run", [
    lambda m: mlship.quantize(m, "int8"),
    lambda m: mlship.prune(m, 0.5),
    lambda m: mlship.low_rank(m, 0.9),
])
def test_a_pt2_package_says_to_optimize_before_export(pt2_zoo, run):
    compiled = mlship.load(pt2_zoo["mlp"])
    with pytest.raises(mlship.FailedPreconditionError, match=r"before exporting it to \.pt2"):
        run(compiled)


def test_an_optimized_model_deploys_and_serves_the_same_outputs(loaded, digits):
    small = mlship.quantize(loaded, "int8", mode="dynamic")
    _, X_test, _, _ = digits
    with mlship.deploy(small, name="small", http=False) as dep:
        np.testing.assert_allclose(dep.predict(X_test[:8]), small(X_test[:8]), rtol=1e-5, atol=1e-5)


def test_amount_that_is_not_a_number_is_a_type_error(loaded):
    with pytest.raises(TypeError, match=r"amount must be a number; got '0.5'"):
        mlship.prune(loaded, "0.5")
