"""mlship's outputs equal eager PyTorch's, for every format and model shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship

MODELS = ["mlp", "cnn", "lstm", "two_input_dict"]


def eager(module, inputs):
    with torch.no_grad():
        return module(*inputs)


def max_diff(expected, got) -> float:
    """The largest difference, relative to the output's scale once that is above 1.

    Float sums taken in another order (other thread counts, other kernels) differ in the
    last bits, e.g. 1e-4 on a logit of 22, so the tolerance scales with the values.
    """
    if isinstance(expected, dict):
        assert set(expected) == set(got)
        return max(max_diff(expected[k], got[k]) for k in expected)
    got = got if isinstance(got, torch.Tensor) else torch.from_numpy(np.asarray(got))
    assert got.shape == expected.shape
    scale = max(1.0, float(expected.abs().max()))
    return float((expected - got).abs().max()) / scale


@pytest.mark.parametrize("name", MODELS)
def test_module_loaded_in_memory_matches_eager(zoo, name):
    module, inputs = zoo[name]
    model = mlship.load(module, example_inputs=tuple(t[:1] for t in inputs))
    assert model.format == "torchscript"
    assert model.how_loaded == "scripted"
    assert max_diff(eager(module, inputs), model(*inputs)) <= 1e-5
    numpy_out = model(*(t.numpy() for t in inputs))
    assert max_diff(eager(module, inputs), numpy_out) <= 1e-5


@pytest.mark.parametrize("name", MODELS)
def test_torchscript_file_matches_eager_and_keeps_its_signature(zoo, name, tmp_path):
    module, inputs = zoo[name]
    path = tmp_path / f"{name}.pt"
    torch.jit.script(module).save(str(path))
    model = mlship.load(path, example_inputs=tuple(t[:2] for t in inputs))
    assert max_diff(eager(module, inputs), model(*inputs)) <= 1e-5
    # Saved by mlship: the signature travels with the file, no examples needed.
    model.save(tmp_path / "resaved.pt")
    again = mlship.load(tmp_path / "resaved.pt")
    assert again.signature == model.signature
    assert max_diff(eager(module, inputs), again(*inputs)) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_pt2_package_matches_eager(zoo, pt2_zoo, name):
    module, inputs = zoo[name]
    model = mlship.load(pt2_zoo[name])  # signature from the sidecar written by export_pt2
    assert model.format == "aotinductor"
    assert [s.shape[0] for s in model.signature.inputs] == [-1] * len(inputs)
    assert max_diff(eager(module, inputs), model(*inputs)) <= 1e-5
    assert max_diff(eager(module, tuple(t[:1] for t in inputs)), model(*(t[:1] for t in inputs))) <= 1e-5


def test_dict_output_names_come_from_the_model(zoo):
    module, inputs = zoo["two_input_dict"]
    model = mlship.load(module, example_inputs=inputs)
    assert [s.name for s in model.signature.inputs] == ["x", "scale"]
    assert model.signature.output_kind == "dict"
    assert sorted(s.name for s in model.signature.outputs) == ["logits", "probs"]
    out = model(*inputs)
    assert isinstance(out, dict) and sorted(out) == ["logits", "probs"]


def test_tuple_and_list_outputs_keep_their_kind():
    class Pair(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x + 1, x * 2

    class Many(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [x, -x, x.sum(1, keepdim=True)]

    x = torch.randn(3, 4)
    pair = mlship.load(Pair(), example_inputs=x)
    out = pair(x)
    assert isinstance(out, tuple) and len(out) == 2
    assert torch.equal(out[1], x * 2)
    many = mlship.load(Many(), example_inputs=x)
    out = many(x.numpy())
    assert isinstance(out, list) and len(out) == 3
    assert out[2].shape == (3, 1)


def test_unscriptable_module_falls_back_to_trace_and_says_so():
    class Unscriptable(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fn = lambda t: t * 3  # a Python lambda: TorchScript cannot compile it, tracing can

        def forward(self, x):
            return self.fn(x)

    x = torch.randn(2, 5)
    model = mlship.load(Unscriptable(), example_inputs=x)
    assert model.how_loaded.startswith("traced (scripting failed:")
    assert torch.allclose(model(x), x * 3)
    with pytest.raises(mlship.ModelLoadError, match="pass example_inputs"):
        mlship.load(Unscriptable())


def test_digits_mlp_accuracy_through_mlship(digits, mlp):
    _, X_test, _, y_test = digits
    model = mlship.load(mlp, example_inputs=X_test[:1])
    accuracy = float((model(X_test).argmax(1) == y_test).mean())
    assert accuracy > 0.9


def test_outputs_are_zero_copy_numpy_and_torch(mlp, digits):
    x = digits[1][:4]
    model = mlship.load(mlp, example_inputs=x[:1])
    out = model(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert not out.flags.owndata  # a view of the engine's tensor, not a copy
    assert isinstance(model(torch.from_numpy(x)), torch.Tensor)


def test_freeze_is_checked_and_reported(mlp, digits):
    model = mlship.load(mlp, example_inputs=digits[1][:1])
    assert model.optimized is True
    plain = mlship.load(mlp, example_inputs=digits[1][:1], optimize=False)
    assert plain.optimized is False
    assert "turned off" in plain.optimize_note
