"""Every kind of bad input gets a clear error, and the model keeps working."""

from __future__ import annotations

import json
import os
import threading
import zipfile

import numpy as np
import pytest
import torch

import mlship


@pytest.fixture(scope="module")
def model(mlp, digits):
    return mlship.load(mlp, example_inputs=digits[1][:1])


@pytest.fixture(scope="module")
def good(digits):
    return digits[1][:3]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mlp):
    path = tmp_path_factory.mktemp("files") / "mlp.pt"
    torch.jit.script(mlp).save(str(path))
    return path


# --- loading ---


def test_missing_file(tmp_path):
    with pytest.raises(mlship.ModelLoadError, match=r"nope\.pt.*no such file"):
        mlship.load(tmp_path / "nope.pt")


def test_directory(tmp_path):
    with pytest.raises(mlship.ModelLoadError, match="is a directory"):
        mlship.load(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(mlship.ModelLoadError, match=r"empty\.pt.*empty"):
        mlship.load(tmp_path / "empty.pt")


def test_truncated_file(tmp_path, saved):
    data = saved.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(mlship.ModelLoadError, match=r"cut\.pt"):
        mlship.load(tmp_path / "cut.pt")


def test_corrupt_file(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(100, len(data) - 100, size=200):
        data[i] ^= 0xFF
    (tmp_path / "corrupt.pt").write_bytes(bytes(data))
    with pytest.raises(mlship.ModelLoadError, match=r"corrupt\.pt"):
        mlship.load(tmp_path / "corrupt.pt")


def test_random_bytes(tmp_path):
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    with pytest.raises(mlship.ModelLoadError, match="not a TorchScript file or .pt2 package"):
        mlship.load(tmp_path / "noise.pt")


def test_state_dict_is_refused_without_unpickling(tmp_path, mlp):
    torch.save(mlp.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(mlship.ModelLoadError, match=r"torch\.save\(\).*never unpickles"):
        mlship.load(tmp_path / "weights.pt")


def test_whole_pickled_module_is_refused(tmp_path, mlp):
    torch.save(mlp, tmp_path / "module.pt")
    with pytest.raises(mlship.ModelLoadError, match="never unpickles"):
        mlship.load(tmp_path / "module.pt")


def test_torchscript_without_signature_or_examples(saved):
    with pytest.raises(mlship.ModelLoadError, match=r"signature= or example_inputs=.*--input NAME:DTYPE:DIMS"):
        mlship.load(saved)


def test_examples_that_do_not_fit_the_model(saved):
    with pytest.raises(mlship.ModelLoadError, match="example inputs failed"):
        mlship.load(saved, example_inputs=np.zeros((1, 7), np.float32))


def test_not_a_model_object():
    with pytest.raises(TypeError, match="expected a path"):
        mlship.load(42)


@pytest.mark.slow
def test_pt2_for_another_device(tmp_path, pt2_zoo):
    src = pt2_zoo["mlp"]
    dst = tmp_path / "cuda.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("_metadata.json") and b"AOTI_DEVICE_KEY" in data:
                meta = json.loads(data)
                meta["AOTI_DEVICE_KEY"] = "cuda"
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    with pytest.raises(mlship.ModelLoadError, match=r"compiled for device 'cuda'"):
        mlship.load(dst, example_inputs=np.zeros((1, 64), np.float32))


# --- calling ---


@pytest.mark.parametrize(
    "args, message",
    [
        ((), r"expected 1 input\(s\) \(x\); got 0"),
        ((np.zeros((2, 64), np.float32),) * 2, r"expected 1 input\(s\) \(x\); got 2"),
        ((np.zeros((2, 64), np.float64),), "expected dtype FP32; got FP64"),
        ((np.zeros((2, 64), np.int64),), "expected dtype FP32; got INT64"),
        ((np.zeros(64, np.float32),), r"expected rank 2 with shape \[-1, 64\]; got rank 1"),
        ((np.zeros((2, 63), np.float32),), r"expected shape \[-1, 64\]; got \[2, 63\]"),
        ((np.zeros((0, 64), np.float32),), r"is empty: got shape \[0, 64\]"),
        ((torch.zeros(2, 64, dtype=torch.float16),), "expected dtype FP32; got FP16"),
        ((["a"] * 64,), "expected numbers convertible to FP32"),
        (("hello",), "expected numbers convertible to FP32"),
    ],
)
def test_bad_call_raises_invalid_input_and_model_keeps_working(model, good, args, message):
    with pytest.raises(mlship.InvalidInputError, match=message) as info:
        model(*args)
    assert isinstance(info.value, ValueError)
    assert model(good).shape == (3, 10)


def test_non_contiguous_and_readonly_arrays_are_accepted(model, good):
    wide = np.zeros((3, 128), np.float32)
    wide[:, ::2] = good
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_allclose(model(strided), model(good), atol=1e-6)
    fortran = np.asfortranarray(good)
    np.testing.assert_allclose(model(fortran), model(good), atol=1e-6)
    readonly = good.copy()
    readonly.flags.writeable = False
    np.testing.assert_allclose(model(readonly), model(good), atol=1e-6)
    transposed = torch.from_numpy(good.T.copy()).T
    assert not transposed.is_contiguous()
    assert torch.allclose(model(transposed), torch.from_numpy(model(good)), atol=1e-6)


def test_nan_and_inf_pass_through(model, good):
    x = good.copy()
    x[0, 0] = np.nan
    x[1, :] = np.inf
    out = model(x)
    assert np.isnan(out[0]).all() or not np.isfinite(out[0]).all()
    np.testing.assert_allclose(out[2], model(good)[2], atol=1e-6)


def test_model_whose_forward_raises():
    class Picky(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool(x.sum() > 1000):
                raise ValueError("sum too large")
            return x * 2

    model = mlship.load(Picky(), example_inputs=torch.zeros(1, 4))
    with pytest.raises(mlship.InferenceError, match="sum too large"):
        model(np.full((2, 4), 500, np.float32))
    assert np.array_equal(model(np.ones((2, 4), np.float32)), np.full((2, 4), 2, np.float32))


def test_multi_input_batch_sizes_must_agree(zoo):
    module, inputs = zoo["two_input_dict"]
    model = mlship.load(module, example_inputs=inputs)
    with pytest.raises(mlship.InvalidInputError, match="must have the same batch size"):
        model(inputs[0][:3], inputs[1][:2])


def test_errors_are_importable_from_mlship():
    assert mlship.InvalidInputError.__module__ == "mlship"
    assert issubclass(mlship.ModelLoadError, mlship.MlshipError)


def test_one_model_from_8_threads(model, digits, mlp):
    X = digits[1]
    with torch.no_grad():
        expected = mlp(torch.from_numpy(X)).numpy()
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        barrier.wait(timeout=30)
        for _ in range(50):
            start = int(rng.integers(0, len(X) - 40))
            n = int(rng.integers(1, 40))
            out = model(X[start:start + n])
            if np.abs(out - expected[start:start + n]).max() > 1e-4:
                errors.append(f"thread {seed}: wrong rows {start}..{start + n}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
