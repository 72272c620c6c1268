"""The numpy fast paths of Deployment.predict and Model.__call__ give exactly what the general (DLPack) path gives.

Plain C-contiguous numpy arrays cross into C++ by memcpy and come back as
arrays over the result tensor; everything else (views, read-only or
byte-swapped arrays, subclasses, lists, torch tensors) takes the general
path. Either way the answer, its dtype and the errors are the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship

FEATURES = 8


class Mixed(torch.nn.Module):
    """int64 ids and float features in; float32, int64, bool and bfloat16 out."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, FEATURES)
        self.head = torch.nn.Linear(FEATURES, 3)

    def forward(self, ids: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = self.head(self.embed(ids) + x)
        return {
            "scores": scores,
            "label": scores.argmax(dim=1),
            "positive": scores[:, 0] > 0,
            "half": scores.to(torch.bfloat16),
        }


@pytest.fixture(scope="module")
def mixed():
    torch.manual_seed(0)
    model = mlship.load(Mixed().eval(), example_inputs=(torch.zeros(1, dtype=torch.int64), torch.zeros(1, FEATURES)))
    with mlship.deploy(model, port=0, http=False) as dep:
        yield model, dep


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    model = mlship.load(net, example_inputs=torch.zeros(1, FEATURES))
    with mlship.deploy(model, port=0, http=False) as dep:
        yield net, model, dep


def _rows(n: int = 5) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, FEATURES)).astype(np.float32)


def test_plain_arrays_of_every_output_dtype_match_the_model(mixed):
    model, dep = mixed
    ids = np.array([1, 4, 9, 0], dtype=np.int64)
    x = _rows(4)
    # The general path, through torch tensors, is the reference for both fast paths.
    want = {k: (v.float() if v.dtype == torch.bfloat16 else v).numpy()
            for k, v in model(torch.from_numpy(ids), torch.from_numpy(x)).items()}
    for got in (dep.predict(ids, x), model(ids, x)):
        assert set(got) == {"scores", "label", "positive", "half"}
        for name in got:
            assert type(got[name]) is np.ndarray
            assert got[name].dtype == want[name].dtype, name
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        assert got["label"].dtype == np.int64 and got["positive"].dtype == np.bool_
        assert got["half"].dtype == np.float32  # numpy has no bfloat16: widened, as the DLPack path does


def test_result_is_a_writable_array_that_outlives_later_calls(mlp):
    net, _, dep = mlp
    x = _rows(3)
    first = dep.predict(x)
    kept = first.copy()
    assert first.flags.writeable and first.flags.c_contiguous and first.shape == (3, 4)
    first[:] = 0  # the caller owns it: writing must not disturb later answers
    for _ in range(20):
        np.testing.assert_array_equal(dep.predict(x), kept)
    with torch.no_grad():
        np.testing.assert_allclose(kept, net(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_the_input_is_copied_so_changing_it_afterwards_changes_nothing(mlp):
    _, _, dep = mlp
    x = _rows(2)
    before = dep.predict(x)
    x[:] = 100.0
    np.testing.assert_array_equal(dep.predict(_rows(2)), before)


class _Tagged(np.ndarray):
    pass


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda x: np.ascontiguousarray(np.repeat(x, 2, axis=1))[:, ::2], id="strided-view"),
        pytest.param(lambda x: np.asfortranarray(x), id="fortran-order"),
        pytest.param(lambda x: _readonly(x), id="read-only"),
        pytest.param(lambda x: x.astype(x.dtype.newbyteorder(">")), id="byte-swapped"),
        pytest.param(lambda x: x.view(_Tagged), id="subclass"),
        pytest.param(lambda x: x.tolist(), id="nested-list"),
    ],
)
def test_inputs_off_the_fast_path_give_the_same_answer(mlp, make):
    _, model, dep = mlp
    x = _rows(4)
    got = dep.predict(make(x))
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, dep.predict(x))
    np.testing.assert_array_equal(model(make(x)), model(x))
    np.testing.assert_array_equal(got, model(x))


def _readonly(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y.flags.writeable = False
    return y


def test_a_torch_tensor_still_comes_back_as_a_torch_tensor(mlp):
    _, _, dep = mlp
    x = _rows(2)
    got = dep.predict(torch.from_numpy(x))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), dep.predict(x))


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(lambda: (_rows(2).astype(np.float64),), id="wrong-dtype"),
        pytest.param(lambda: (np.zeros((2, FEATURES + 1), dtype=np.float32),), id="wrong-width"),
        pytest.param(lambda: (np.zeros((0, FEATURES), dtype=np.float32),), id="no-rows"),
        pytest.param(lambda: (np.zeros(FEATURES, dtype=np.float32),), id="wrong-rank"),
        pytest.param(lambda: (_rows(1), _rows(1)), id="two-inputs-for-one"),
        pytest.param(lambda: (), id="no-inputs"),
        pytest.param(lambda: (np.array([1 + 2j, 3j], dtype=np.complex64),), id="complex"),
    ],
)
def test_bad_arrays_get_the_same_error_as_the_model_and_serving_goes_on(mlp, args):
    _, model, dep = mlp
    with pytest.raises(mlship.InvalidInputError) as from_model:
        model(*args())
    with pytest.raises(mlship.InvalidInputError) as from_dep:
        dep.predict(*args())
    assert str(from_dep.value) == str(from_model.value)
    np.testing.assert_array_equal(dep.predict(_rows(1)), model(_rows(1)))


class _AddsOneInPlace(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.add_(1.0)
        return x * 2.0


def test_a_model_that_writes_to_its_input_never_writes_to_a_read_only_array():
    model = mlship.load(_AddsOneInPlace().eval(), example_inputs=torch.zeros(1, 3), optimize=False)
    x = _readonly(np.zeros((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(model(x), np.full((2, 3), 2.0, dtype=np.float32))
    np.testing.assert_array_equal(x, 0.0)  # a read-only array is copied, never viewed
    with mlship.deploy(model, port=0, http=False) as dep:
        y = np.zeros((2, 3), dtype=np.float32)
        np.testing.assert_array_equal(dep.predict(y), np.full((2, 3), 2.0, dtype=np.float32))
        np.testing.assert_array_equal(y, 0.0)  # deploy copies every request


class _ComplexOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.complex(x, x)


def test_an_output_that_strays_from_the_signature_to_an_unserved_dtype_still_comes_back():
    # The signature says FP32; the model returns complex64, which no mlship
    # dtype covers. Both paths hand it to numpy as it is rather than fail.
    signature = mlship.Signature.from_json(
        '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],'
        ' "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}], "output_kind": "tensor"}'
    )
    model = mlship.load(_ComplexOut().eval(), torch.zeros(1, 3), signature=signature, optimize=False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for got in (model(x), model(torch.from_numpy(x)).numpy()):
        assert got.dtype == np.complex64
        np.testing.assert_array_equal(got, x + 1j * x)
