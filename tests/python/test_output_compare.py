"""mlship._core.compare_outputs (the C++ comparison shared with the repository's golden check) and
mlship.testing.assert_outputs_close, which must call it rather than compare on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship
from mlship import _core
from mlship.testing import assert_outputs_close


def test_binding_reports_the_worst_element_and_the_tolerance_used():
    expected = np.zeros((4, 160))
    actual = expected.copy()
    expected[2, 7], actual[2, 7] = 0.498, 0.513
    actual[0, 0] = 0.002
    actual[3, 100] = -0.01
    r = _core.compare_outputs(actual, expected, 0.01, 0.001)
    assert r["ok"] is False
    assert (r["total"], r["mismatched"]) == (640, 3)
    assert r["worst_index"] == (2, 7)
    assert r["worst_actual"] == pytest.approx(0.513) and r["worst_expected"] == pytest.approx(0.498)
    assert r["message"] == "3 of 640 elements differ; worst at [2, 7]: 0.513 vs 0.498 (|diff| 0.015 > 0.00598)"
    assert (r["rtol"], r["atol"]) == (0.01, 0.001)


@pytest.mark.parametrize("dtype, name, expected", [
    (np.float32, "FP32", (1e-5, 1e-6)),
    (np.float64, "FP64", (1e-7, 1e-7)),
    (np.float16, "FP16", (1e-3, 1e-3)),
    (np.int64, "INT64", (0.0, 0.0)),
    (np.bool_, "BOOL", (0.0, 0.0)),
])
def test_unset_tolerance_comes_from_the_expected_dtype(dtype, name, expected):
    assert _core.default_tolerance(name) == expected
    x = np.ones(3, dtype=dtype)
    r = _core.compare_outputs(x, x.copy())
    assert r["ok"] and (r["rtol"], r["atol"]) == expected
    # Only the part given is overridden.
    assert _core.compare_outputs(x, x.copy(), None, 0.5)["rtol"] == expected[0]


def test_bf16_tensors_cross_as_dlpack_and_use_the_bf16_default():
    e = torch.linspace(-3, 3, 50, dtype=torch.bfloat16)
    a = (e.float() * 1.005).to(torch.bfloat16)  # half a percent: about one bf16 step
    r = _core.compare_outputs(a, e)
    assert r["ok"], r["message"]
    assert (r["rtol"], r["atol"]) == _core.default_tolerance("BF16") == (1e-2, 1e-2)
    assert _core.compare_outputs(a.float(), e.float())["ok"] is False  # FP32's tolerance is not enough


def test_shape_and_dtype_mismatches_are_results_not_exceptions():
    r = _core.compare_outputs(np.zeros((4, 10), np.float32), np.zeros((4, 3), np.float32))
    assert r["ok"] is False and r["message"] == "shapes differ: actual [4, 10], expected [4, 3]"
    r = _core.compare_outputs(np.zeros(3), np.zeros(3, np.float32))
    assert r["message"] == "dtypes differ: actual FP64, expected FP32"


def test_bad_tolerance_and_non_arrays_raise_invalid_input():
    x = np.zeros(2, np.float32)
    with pytest.raises(mlship.InvalidInputError, match="rtol must be a finite number >= 0; was -1"):
        _core.compare_outputs(x, x, -1.0, None)
    with pytest.raises(mlship.InvalidInputError, match="expected: expected a numpy array or torch tensor"):
        _core.compare_outputs(x, [0.0, 0.0])
    with pytest.raises(mlship.InvalidInputError, match="unknown dtype 'FP8'"):
        _core.default_tolerance("FP8")


def test_assert_outputs_close_passes_within_tolerance_and_names_the_output_that_differs():
    base = {"logits": np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5), "label": np.arange(4)}
    assert_outputs_close({"logits": base["logits"] + 1e-7, "label": np.arange(4)}, base)
    moved = {"logits": base["logits"].copy(), "label": np.array([0, 1, 2, 4])}
    moved["logits"][1, 3] += 0.01
    with pytest.raises(AssertionError) as info:
        assert_outputs_close(moved, base)
    text = str(info.value)
    assert "outputs['logits']: 1 of 20 elements differs; worst at [1, 3]" in text
    assert "(rtol 1e-05, atol 1e-06)" in text
    assert "outputs['label']: 1 of 4 elements differs; worst at [3]: 4 vs 3 (|diff| 1 > 0) (rtol 0, atol 0)" in text


def test_assert_outputs_close_takes_tensors_read_only_arrays_and_checks_structure():
    t = torch.randn(3, 4)
    frozen = t.numpy().copy()
    frozen.flags.writeable = False
    assert_outputs_close((t, t * 2), (frozen, frozen * 2))
    with pytest.raises(AssertionError, match="different structure: actual tuple with keys"):
        assert_outputs_close((t,), [t])
    with pytest.raises(AssertionError, match="dtypes differ: actual FP64, expected FP32"):
        assert_outputs_close(t.double(), t)
    with pytest.raises(AssertionError, match="elements differ"):
        assert_outputs_close(t + 1, t, rtol=0.1, atol=0.1)


def test_assert_outputs_close_goes_through_the_native_routine(monkeypatch):
    calls = []
    real = _core.compare_outputs

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_core, "compare_outputs", spy)
    assert_outputs_close(np.ones(3, np.float32), np.ones(3, np.float32))
    assert len(calls) == 1
