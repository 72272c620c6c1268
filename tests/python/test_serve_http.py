"""The KServe v2 HTTP server, through the real tritonclient and through raw HTTP.

Every bad request is followed by a good one: the server must keep answering correctly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tritonclient.http as triton
from http_helpers import infer_body, request
from tritonclient.utils import InferenceServerException

import mlship

INFER = "/v2/models/digits/infer"


@pytest.fixture(scope="module")
def model(mlp) -> mlship.Model:
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


@pytest.fixture(scope="module")
def dep(model):
    with mlship.deploy(model, name="digits", port=0, limits=mlship.Limits(max_body_bytes=256 << 10)) as d:
        yield d


@pytest.fixture(scope="module")
def client(dep):
    c = triton.InferenceServerClient(dep.url.removeprefix("http://"))
    yield c
    c.close()


@pytest.fixture
def check_still_serving(dep, model, digits):
    """After the test's bad requests, a good one must still get the right answer."""
    yield
    x = digits[1][:3]
    status, body, _ = request(dep.url, "POST", INFER, infer_body(model.signature.inputs[0].name, x))
    assert status == 200, body
    got = np.array(body["outputs"][0]["data"], np.float32).reshape(3, 10)
    np.testing.assert_allclose(got, model(x), rtol=1e-5, atol=1e-5)


def test_health_and_metadata(client, model):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits") and client.is_model_ready("digits", "1")
    meta = client.get_model_metadata("digits")
    assert meta["name"] == "digits" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": model.signature.inputs[0].name, "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"][0]["shape"] == [-1, 10]
    assert client.get_server_metadata()["name"] == "mlship"
    assert client.get_model_metadata("digits", "1")["name"] == "digits"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_matches_the_model(client, model, digits, binary):
    x = digits[1][:7]
    inp = triton.InferInput(model.signature.inputs[0].name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out_name = model.signature.outputs[0].name
    outputs = [triton.InferRequestedOutput(out_name, binary_data=binary)]
    result = client.infer("digits", [inp], outputs=outputs, request_id="r-7")
    np.testing.assert_allclose(result.as_numpy(out_name), model(x), rtol=1e-5, atol=1e-5)
    assert result.get_response()["id"] == "r-7"


def test_infer_by_version_and_unknown_versions(client, model, digits):
    x = digits[1][:2]
    inp = triton.InferInput(model.signature.inputs[0].name, [2, 64], "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("digits", [inp], model_version="1")
    np.testing.assert_allclose(result.as_numpy(model.signature.outputs[0].name), model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(InferenceServerException, match="version"):
        client.infer("digits", [inp], model_version="2")
    with pytest.raises(InferenceServerException):
        client.get_model_metadata("nope")


def test_nested_json_data_is_accepted(dep, model, digits):
    x = digits[1][:2]
    body = {"inputs": [{"name": model.signature.inputs[0].name, "shape": [2, 64], "datatype": "FP32",
                        "data": x.tolist()}]}
    status, answer, _ = request(dep.url, "POST", INFER, body)
    assert status == 200, answer
    np.testing.assert_allclose(np.array(answer["outputs"][0]["data"]).reshape(2, 10), model(x), rtol=1e-5, atol=1e-5)


BAD_REQUESTS = {
    "not json": (b"{not json", 400, "JSON"),
    "no inputs": ({"outputs": []}, 400, "inputs"),
    "wrong shape": ({"inputs": [{"name": "{in}", "shape": [1, 63], "datatype": "FP32", "data": [0.0] * 63}]},
                    400, "{in}"),
    "data length": ({"inputs": [{"name": "{in}", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 3}]},
                    400, "64"),
    "wrong dtype": ({"inputs": [{"name": "{in}", "shape": [1, 64], "datatype": "INT64", "data": [0] * 64}]},
                    400, "FP32"),
    "unknown dtype": ({"inputs": [{"name": "{in}", "shape": [1, 64], "datatype": "FP8", "data": [0] * 64}]},
                      400, "FP8"),
    "unknown input": ({"inputs": [{"name": "zzz", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]},
                      400, "zzz"),
    "string data": ({"inputs": [{"name": "{in}", "shape": [1, 1], "datatype": "FP32", "data": ["x"]}]}, 400, ""),
    "too deep": ("[" * 200 + "]" * 200, 400, "deep"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_malformed_or_mismatched_input_is_400_naming_the_problem(dep, model, case, check_still_serving):
    body, code, needle = BAD_REQUESTS[case]
    name = model.signature.inputs[0].name
    if isinstance(body, dict):
        import json

        body = json.dumps(body).replace("{in}", name)
    status, answer, headers = request(dep.url, "POST", INFER, body)
    assert status == code, answer
    assert headers["Content-Type"].startswith("application/json")
    assert needle.replace("{in}", name).lower() in answer["error"].lower()


@pytest.mark.parametrize("path", ["/v2/models/nope/infer", "/v2/models/digits/versions/9/infer", "/v3/x"])
def test_unknown_models_versions_and_paths_are_404(dep, model, path, check_still_serving):
    status, answer, _ = request(dep.url, "POST", path, infer_body(model.signature.inputs[0].name, np.zeros((1, 64))))
    assert status == 404 and "error" in answer


def test_a_body_over_the_limit_is_413(dep, check_still_serving):
    status, answer, _ = request(dep.url, "POST", INFER, b"[" + b"0," * (200 << 10) + b"0]")
    assert status == 413 and "error" in answer


def test_oversized_headers_are_431(dep, check_still_serving):
    status, _, _ = request(dep.url, "GET", "/v2", headers={"X-Big": "a" * (32 << 10)})
    assert status == 431


def test_token_guards_everything_but_health(model, digits):
    x = digits[1][:1]
    name = model.signature.inputs[0].name
    with mlship.deploy(model, name="digits", port=0, token="s3cret-token-for-tests") as d:
        assert request(d.url, "GET", "/v2/health/ready")[0] == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token-for-tests"}):
            status, answer, _ = request(d.url, "POST", INFER, infer_body(name, x), headers)
            assert status == 401 and "error" in answer
            assert request(d.url, "GET", "/v2/models/digits", headers=headers)[0] == 401
        ok = {"Authorization": "Bearer s3cret-token-for-tests"}
        status, answer, _ = request(d.url, "POST", INFER, infer_body(name, x), ok)
        assert status == 200
        np.testing.assert_allclose(np.array(answer["outputs"][0]["data"]).reshape(1, 10), model(x), rtol=1e-5, atol=1e-5)


def test_mlship_token_environment_variable_enables_auth(model, monkeypatch):
    monkeypatch.setenv("MLSHIP_TOKEN", "from-the-environment")
    with mlship.deploy(model, port=0) as d:
        assert d.settings["auth"] is True
        assert request(d.url, "GET", "/v2")[0] == 401
        assert request(d.url, "GET", "/v2", headers={"Authorization": "Bearer from-the-environment"})[0] == 200
