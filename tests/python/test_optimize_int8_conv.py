"""mlship.quantize(..., "int8", calibration=...) on convolutional networks: convolutions, the
ReLUs after them, residual adds and max pools on int8 activations with ranges from calibration
data; outputs within docs/optimize.md's int8 tolerance of fp32, the choice measured, and what
the pass leaves in fp32 said."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import architectures
import mlship
from test_optimize_architectures import INT8_TOLERANCE, relative_error


def graph_of(model: mlship.Model, tmp_path) -> str:
    path = tmp_path / "model.pt"
    model.save(str(path))
    return str(torch.jit.load(str(path)).graph)


@pytest.fixture(scope="module")
def resnet() -> tuple[mlship.Model, np.ndarray, np.ndarray]:
    torch.manual_seed(21)
    net = architectures.randomize_batch_norms(architectures.ResNetSmall(widths=(8, 16, 32), classes=10))
    calibration, held_out = torch.randn(64, 1, 32, 32), torch.randn(64, 1, 32, 32)
    return mlship.load(net, example_inputs=held_out[:1]), calibration.numpy(), held_out.numpy()


def test_int8_convolutions_of_a_resnet_with_calibration(resnet, tmp_path):
    model, calibration, held_out = resnet
    small = mlship.quantize(model, "int8", calibration=calibration, convolutions="int8", timing_runs=2)
    report = small.optimization
    # stem, 2 per block (3 blocks), 2 projection shortcuts; a residual add (with its ReLU) per block.
    assert report["details"]["convolutions"].startswith(
        "9 of 9 convolution(s), 3 residual add(s) and 0 max pool(s) on uint8 activations"), report
    assert "64 calibration row(s)" in report["details"]["convolutions"]
    # Each by the module it came from (the weights are folded, so named by the graph's call stack).
    names = report["details"]["convolutions to int8"].split(", ")
    assert names[:3] == ["stem.0 8x1x3x3", "blocks.0.conv1 8x8x3x3", "blocks.0.conv2 8x8x3x3"], names
    assert "blocks.1.downsample.0 16x8x1x1" in names and len(names) == 9
    assert report["layers_changed"] == 10  # the convolutions and the head
    assert "convolutions left in fp32" not in report["details"]
    reference = model(held_out)
    assert relative_error(small(held_out), reference) <= INT8_TOLERANCE
    assert np.mean(small(held_out).argmax(1) == reference.argmax(1)) >= 0.9
    graph = graph_of(small, tmp_path)
    assert graph.count("mlship::conv2d_int8") == 9 and graph.count("quantized::add_relu") == 3, graph
    assert graph.count("aten::quantize_per_tensor") == 1  # once, at the input: the chain stays int8
    assert "aten::batch_norm" not in graph
    again = mlship.load(str(tmp_path / "model.pt"))
    np.testing.assert_allclose(again(held_out), small(held_out), rtol=1e-5, atol=1e-6)


def test_int8_convolutions_are_kept_only_when_measured_faster(resnet):
    """fp32 convolutions and int8 ones packed for each of torch's engines here are timed at
    batch 1; the fastest is kept and the report shows every time."""
    model, calibration, held_out = resnet
    small = mlship.quantize(model, "int8", calibration=calibration, timing_runs=3)
    details = small.optimization["details"]
    key = next(k for k in details if k.startswith("int8 convolutions, best us at batch 1 ("))
    names = key[key.index("(") + 1:-1].split(" / ")
    assert names[0] == "fp32" and set(names[1:]) <= {"fbgemm", "onednn"} and len(names) >= 2, key
    times = [float(t) for t in details[key].split(":")[0].split(" / ")]
    fastest = names[times.index(min(times))]
    assert details[key].endswith(f": {fastest} kept"), details[key]
    assert ("convolutions" in details) == (fastest != "fp32")
    if fastest != "fp32":
        assert f"torch's {fastest} kernels" in details["convolutions"]
    assert relative_error(small(held_out), model(held_out)) <= INT8_TOLERANCE


def test_without_calibration_convolutions_stay_fp32_and_the_report_says_why(resnet):
    model, _, held_out = resnet
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert "need calibration data" in small.optimization["details"]["convolutions left in fp32"]
    assert "aten::conv2d" in small.optimization["details"]["left in fp32 (not supported by this pass)"]
    assert small.optimization["layers_changed"] == 1  # the head only


def test_calibration_that_does_not_fit_is_refused(resnet):
    model, calibration, _ = resnet
    with pytest.raises(mlship.InvalidInputError, match=r"calibration for input .* has shape \(64, 32, 32\)"):
        mlship.quantize(model, "int8", calibration=calibration[:, 0])
    with pytest.raises(mlship.InvalidInputError, match="calibration is empty"):
        mlship.quantize(model, "int8", calibration=calibration[:0])
    with pytest.raises(ValueError, match="calibration is for int8 only"):
        mlship.quantize(model, "fp16", calibration=calibration)
    with pytest.raises(ValueError, match="'auto', 'int8'"):
        mlship.quantize(model, "int8", calibration=calibration, convolutions="always")


def test_max_pools_and_plain_convolutions_run_in_int8_too(tmp_path):
    """A VGG-style stack (conv, ReLU, max pool) built from torch's own modules, with a convolution
    whose output no ReLU follows: every step stays on int8 activations."""
    torch.manual_seed(22)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 16, 1), torch.nn.Flatten(), torch.nn.Linear(16 * 8 * 8, 5)).eval()
    images = torch.randn(48, 3, 32, 32)
    model = mlship.load(net, example_inputs=images[:1])
    small = mlship.quantize(model, "int8", calibration=images[:32].numpy(), convolutions="int8", timing_runs=2)
    assert small.optimization["details"]["convolutions"].startswith(
        "3 of 3 convolution(s), 0 residual add(s) and 2 max pool(s)")
    graph = graph_of(small, tmp_path)
    assert graph.count("mlship::conv2d_int8") == 3 and graph.count("aten::max_pool2d") == 2, graph
    assert graph.count("aten::dequantize") == 1  # before the flatten
    x = images[32:].numpy()
    assert relative_error(small(x), model(x)) <= INT8_TOLERANCE


def test_int8_convolutions_of_a_hugging_face_resnet():
    """transformers' ResNet built from its config, traced (aten::_convolution, normalized)."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       layer_type="basic", num_labels=10, torchscript=True)
    torch.manual_seed(23)
    hf = architectures.randomize_batch_norms(transformers.ResNetForImageClassification(config)).eval()
    images = torch.randn(64, 1, 32, 32)
    model = architectures.traced_image_model(hf, images)
    small = mlship.quantize(model, "int8", calibration=images[:32].numpy(), convolutions="int8", timing_runs=2)
    details = small.optimization["details"]
    # embedder, 2 per stage, the second stage's shortcut; the embedder's max pool; a residual add per stage.
    assert details["convolutions"].startswith("6 of 6 convolution(s), 2 residual add(s) and 1 max pool(s)"), details
    x = images[32:].numpy()
    assert relative_error(small(x), model(x)) <= INT8_TOLERANCE
    assert np.mean(small(x).argmax(1) == model(x).argmax(1)) >= 0.9


def test_optimize_calibrates_int8_convolutions_on_the_validation_inputs(resnet):
    model, calibration, held_out = resnet
    labels = model(held_out).argmax(1)
    report = mlship.optimize(model, validation=(held_out, labels), methods=["int8"], max_drop=1.0, progress=False,
                             latency_runs=3)
    int8 = next(c for c in report.candidates if c.method == "int8")
    details = int8.details["int8"]["details"]
    assert any(k.startswith("int8 convolutions, best us at batch 1 (fp32 / ") for k in details), details
    if "convolutions" in details:
        assert "64 calibration row(s)" in details["convolutions"]
        assert "convolution(s)" in int8.note


class ConvThenSequence(torch.nn.Module):
    """A 2-D convolution whose output a 1-D convolution reads (a spectrogram-style front end),
    and a 2-D convolution with padding="same": both stay fp32, each named with its reason."""

    def __init__(self) -> None:
        super().__init__()
        self.image = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.same = torch.nn.Conv2d(4, 4, 3, padding="same")
        self.sequence = torch.nn.Conv1d(4 * 8, 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.same(torch.relu(self.image(x))))
        return self.sequence(y.flatten(1, 2)).mean(2)


def test_each_convolution_left_in_fp32_is_named_with_its_reason():
    torch.manual_seed(24)
    x = torch.randn(40, 1, 8, 16)
    model = mlship.load(ConvThenSequence().eval(), example_inputs=x[:1])
    small = mlship.quantize(model, "int8", calibration=x[:20].numpy(), convolutions="int8", timing_runs=2)
    details = small.optimization["details"]
    assert details["convolutions"].startswith("1 of 3 convolution(s)"), details
    assert "same 4x4x3x3: padding given as a string" in details["convolutions left in fp32"], details
    assert details["convolutions to int8"] == "image 4x1x3x3"  # named by the module that holds it
    assert details["1-D and 3-D convolutions"] == "left in fp32: int8 convolutions are 2-D only"
    assert relative_error(small(x[20:].numpy()), model(x[20:].numpy())) <= INT8_TOLERANCE
