"""mlship.deploy in-process: predict, submit, apredict, threads, settings and bad options."""

from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np
import pytest
import torch

import mlship


@pytest.fixture(scope="module")
def model(mlp) -> mlship.Model:
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


@pytest.fixture(scope="module")
def dep(model):
    with mlship.deploy(model, port=0, max_batch_size=16) as d:
        yield d


def test_predict_matches_the_model_for_numpy_and_torch(dep, model, digits):
    x = digits[1][:5]
    np.testing.assert_allclose(dep.predict(x), model(x), rtol=1e-5, atol=1e-5)
    out = dep.predict(torch.from_numpy(x))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), model(x), rtol=1e-5, atol=1e-5)


def test_sixteen_threads_each_get_their_own_rows(dep, mlp, digits):
    X = digits[1][:160]
    with torch.no_grad():
        expected = mlp(torch.from_numpy(X)).numpy()
    rows = [(i % 3) + 1 for i in range(64)]
    starts = np.cumsum([0] + rows[:-1]) % (len(X) - 3)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda s_n: dep.predict(X[s_n[0] : s_n[0] + s_n[1]]), zip(starts, rows)))
    for start, n, got in zip(starts, rows, results):
        assert got.shape == (n, 10)
        np.testing.assert_allclose(got, expected[start : start + n], rtol=1e-5, atol=1e-5)


def test_submit_returns_a_future_and_bad_input_fails_only_its_own(dep, model, digits):
    x = digits[1][:2]
    good = dep.submit(x)
    bad = dep.submit(np.zeros((2, 63), np.float32))
    np.testing.assert_allclose(good.result(timeout=30), model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(mlship.InvalidInputError, match="63"):
        bad.result(timeout=30)
    np.testing.assert_allclose(dep.predict(x), model(x), rtol=1e-5, atol=1e-5)


def test_apredict_works_from_asyncio(dep, model, digits):
    X = digits[1][:8]

    async def main():
        return await asyncio.gather(*(dep.apredict(X[i : i + 1]) for i in range(8)))

    results = asyncio.run(main())
    np.testing.assert_allclose(np.concatenate(results), model(X), rtol=1e-5, atol=1e-5)


def test_wrong_inputs_raise_and_the_deployment_keeps_serving(dep, model, digits):
    x = digits[1][:1]
    with pytest.raises(mlship.InvalidInputError, match="FP32.*FP64"):
        dep.predict(x.astype(np.float64))
    with pytest.raises(mlship.InvalidInputError):
        dep.predict(x, x)
    np.testing.assert_allclose(dep.predict(x), model(x), rtol=1e-5, atol=1e-5)


def test_repr_and_settings_show_what_is_in_effect(dep):
    text = repr(dep)
    assert dep.url in text and "max_batch_size=16" in text and "serving" in text
    assert dep.settings["max_batch_size"] == 16
    assert dep.url.startswith("http://127.0.0.1:") and dep.port > 0


def test_deploy_accepts_a_module_and_http_can_be_off(mlp, digits):
    with mlship.deploy(mlp, example_inputs=torch.zeros(1, 64), http=False) as d:
        assert d.url is None
        assert d.predict(digits[1][:3]).shape == (3, 10)


def test_bad_options_name_the_option(model):
    with pytest.raises(mlship.InvalidInputError, match="max_batch_size"):
        mlship.deploy(model, port=0, max_batch_size=0)
    with pytest.raises(ValueError, match="max_delay_ms"):
        mlship.deploy(model, port=0, max_delay_ms=-1)
    with pytest.raises(ValueError, match="max_body_bytes"):
        mlship.Limits(max_body_bytes=0)


def test_public_bind_without_a_token_refuses_to_start(model):
    with pytest.raises(mlship.MlshipError, match="token"):
        mlship.deploy(model, host="0.0.0.0", port=0)


def test_a_busy_port_is_a_clear_error(dep, model):
    with pytest.raises(mlship.FailedPreconditionError, match=str(dep.port)):
        mlship.deploy(model, port=dep.port)


def test_stopped_deployment_refuses_new_requests(model, digits):
    d = mlship.deploy(model, port=0)
    d.stop()
    d.stop()  # idempotent
    with pytest.raises(mlship.OverloadedError):
        d.predict(digits[1][:1])
    assert "stopping" in repr(d)
