"""POST /v2/models/{name}/explain and Deployment.explain: same answers as mlship.explain, the
400/501/503 answers, auth, the budget, and inference answering correctly meanwhile."""

from __future__ import annotations

import json
import queue
import re
import threading

import numpy as np
import pytest
import torch
from models import SpinEcho
from server_process import SERVER_KINDS, server_command, start, stop

import mlship
from http_helpers import infer_body, request

MAX_BODY_BYTES = 64 << 10


@pytest.fixture(scope="module")
def model(mlp):
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


@pytest.fixture(scope="module")
def served(model):
    with mlship.deploy(model, name="digits", port=0) as dep:
        yield dep


def _explain_body(x: np.ndarray, **parameters) -> dict:
    body = infer_body("x", x)
    body["parameters"] = parameters
    return body


def _tensors(payload: dict) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in payload["outputs"]}


def test_explain_over_http_matches_mlship_explain(served, model, digits):
    x = digits[1][:3]
    status, payload, headers = request(served.url, "POST", "/v2/models/digits/explain",
                                       _explain_body(x, method="integrated_gradients", steps=16))
    assert status == 200, payload
    t = _tensors(payload)
    assert list(t) == ["output_0", "x_attribution", "explain_target", "explain_delta"]
    local = mlship.explain(model, x, method="integrated_gradients", steps=16)
    np.testing.assert_allclose(t["x_attribution"], local.attribution, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t["output_0"], model(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(t["explain_target"], local.target)
    np.testing.assert_allclose(t["explain_delta"], local.delta, atol=1e-5)
    assert int(headers["mlship-explain-evaluations"]) == local.evaluations == 3 + 3 * 16 + 6
    assert payload["model_version"] == "1"


def test_explain_with_a_version_target_and_baseline_over_http(served, model, digits):
    x = digits[1][:2]
    status, payload, _ = request(served.url, "POST", "/v2/models/digits/versions/1/explain",
                                 _explain_body(x, method="occlusion", target=[2, 7], baseline=0.5))
    assert status == 200, payload
    local = mlship.explain(model, x, method="occlusion", target=[2, 7], baseline=np.full((1, 64), 0.5, np.float32))
    np.testing.assert_allclose(_tensors(payload)["x_attribution"], local.attribution, rtol=1e-5, atol=1e-6)


def test_explain_answers_binary_tensors_when_asked(served, model, digits):
    x = digits[1][:2]
    body = _explain_body(x, method="saliency", binary_data_output=True)
    status, raw, headers = request(served.url, "POST", "/v2/models/digits/explain", body)
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    json_length = int(headers["Inference-Header-Content-Length"])
    header = json.loads(raw[:json_length])
    offset, tensors = json_length, {}
    for o in header["outputs"]:
        size = o["parameters"]["binary_data_size"]
        dtype = {"FP32": np.float32, "INT64": np.int64}[o["datatype"]]
        tensors[o["name"]] = np.frombuffer(raw[offset:offset + size], dtype).reshape(o["shape"])
        offset += size
    np.testing.assert_allclose(tensors["x_attribution"], mlship.explain(model, x, method="saliency").attribution,
                               rtol=1e-5)
    assert "explain_delta" not in tensors


@pytest.mark.parametrize(
    ("parameters", "status", "match"),
    [
        ({"method": "lime"}, 400, "unknown explanation method 'lime'; expected one of saliency, input_x_gradient"),
        ({"steps": 100000}, 400, r"steps must be in \[1, 1024\]; was 100000"),
        ({"target": 12}, 400, r"target 12 is out of range: output 'output_0' has 10 value\(s\) per row"),
        ({"target": "largest"}, 400, "parameters.target must be an index"),
        ({"baseline": [0, 1]}, 400, "parameters.baseline must be a number"),
        ({"steps": "many"}, 400, "parameters.steps must be an integer"),
        ({"method": "kernel_shap", "samples": 90000}, 400,
         r"needs \d+ model evaluations .* the budget is 50000 per request \(explain_max_evaluations\)"),
    ],
)
def test_bad_explain_requests_get_400_naming_the_problem(served, digits, parameters, status, match):
    got, payload, _ = request(served.url, "POST", "/v2/models/digits/explain", _explain_body(digits[1][:2], **parameters))
    assert got == status, payload
    assert re.search(match, payload["error"]), payload["error"]
    # and the server keeps serving
    ok, _, _ = request(served.url, "POST", "/v2/models/digits/infer", infer_body("x", digits[1][:1]))
    assert ok == 200


def test_a_method_the_model_cannot_support_is_501_naming_why_and_what_works(model, digits):
    small = mlship.quantize(model, "int8")
    with mlship.deploy(small, name="small", port=0) as dep:
        status, payload, _ = request(dep.url, "POST", "/v2/models/small/explain",
                                     _explain_body(digits[1][:2], method="integrated_gradients"))
        assert status == 501
        assert "method 'integrated_gradients' is not supported by model 'small' version '1'" in payload["error"]
        assert "int8" in payload["error"] and "it supports occlusion, kernel_shap" in payload["error"]
        status, payload, _ = request(dep.url, "POST", "/v2/models/small/explain",
                                     _explain_body(digits[1][:2], method="occlusion"))
        assert status == 200, payload
        with pytest.raises(mlship.UnsupportedMethodError, match="saliency"):
            dep.explain(digits[1][:2], method="saliency")


def test_explain_needs_the_infer_token(model, digits):
    with mlship.deploy(model, name="digits", port=0, token="explain-token-for-tests") as dep:
        body = _explain_body(digits[1][:1], method="saliency")
        assert request(dep.url, "POST", "/v2/models/digits/explain", body)[0] == 401
        auth = {"Authorization": "Bearer explain-token-for-tests"}
        assert request(dep.url, "POST", "/v2/models/digits/explain", body, headers=auth)[0] == 200
        # GET is not an explain
        assert request(dep.url, "GET", "/v2/models/digits/explain", headers=auth)[0] == 405


def test_deployment_explain_matches_the_engine_and_takes_array_baselines(served, model, digits):
    x = torch.from_numpy(digits[1][:4])
    baseline = torch.full((1, 64), 0.25)
    got = served.explain(x, method="integrated_gradients", baseline=baseline, target=3, steps=8)
    want = mlship.explain(model, x, method="integrated_gradients", baseline=baseline, target=3, steps=8)
    assert isinstance(got.attribution, torch.Tensor)
    torch.testing.assert_close(got.attribution, want.attribution)
    np.testing.assert_allclose(got.delta, want.delta, atol=1e-6)
    assert got.evaluations == want.evaluations
    with pytest.raises(mlship.InvalidInputError, match="explain_max_evaluations"):
        served.explain(np.zeros((1000, 64), np.float32), method="integrated_gradients", steps=64)


def test_a_small_budget_and_queue_are_settings(model, digits):
    with mlship.deploy(model, name="digits", port=0, explain_max_evaluations=10, explain_queue_size=1) as dep:
        with pytest.raises(mlship.InvalidInputError, match="the budget is 10 per request"):
            dep.explain(digits[1][:1], method="integrated_gradients")
        assert dep.explain(digits[1][:1], method="saliency").evaluations == 2
    with pytest.raises(mlship.InvalidInputError, match="explain_queue_size must be in 1..4096; was 0"):
        mlship.deploy(model, name="d", port=0, explain_queue_size=0)


def test_inference_answers_correctly_while_explanations_run(served, model, digits):
    x = digits[1][:8]
    expected = model(x)
    failures: list[BaseException] = []
    answered: list[int] = []

    def explain_loop():
        for _ in range(6):  # bounded in count
            try:
                served.explain(x, method="kernel_shap", samples=400, timeout=60)
                answered.append(1)
            except mlship.OverloadedError:
                pass
            except BaseException as e:  # noqa: BLE001
                failures.append(e)

    threads = [threading.Thread(target=explain_loop) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        np.testing.assert_allclose(served.predict(x[i % 8:i % 8 + 1]), expected[i % 8:i % 8 + 1], rtol=1e-5, atol=1e-6)
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert answered  # explanations did run meanwhile


# ---- The same requests to `mlship serve` and `mlship-server` (issue 19) ----


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("explain") / "digits.pt")
    model.save(path)
    return path


@pytest.fixture(scope="module", params=SERVER_KINDS)
def process_url(request, saved):
    """The URL of `mlship serve` or `mlship-server` serving the digits MLP as "digits"."""
    proc, url = start([*server_command(request.param), saved, "--name", "digits", "--port", "0",
                       "--max-body-bytes", str(MAX_BODY_BYTES)])
    try:
        yield url
    finally:
        code, out = stop(proc)
        assert code == 0, out


@pytest.mark.parametrize(("method", "parameters"),
                         [("integrated_gradients", {"steps": 16}), ("saliency", {})],
                         ids=["integrated_gradients", "saliency"])
def test_both_servers_explain_as_mlship_explain(process_url, model, digits, method, parameters):
    x = digits[1][:3]
    status, payload, headers = request(process_url, "POST", "/v2/models/digits/explain",
                                       _explain_body(x, method=method, **parameters))
    assert status == 200, payload
    t = _tensors(payload)
    local = mlship.explain(model, x, method=method, **parameters)
    assert t["x_attribution"].shape == x.shape == local.attribution.shape
    np.testing.assert_allclose(t["x_attribution"], local.attribution, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(t["explain_target"], local.target)
    assert ("explain_delta" in t) == (local.delta is not None)
    assert int(headers["mlship-explain-evaluations"]) == local.evaluations


def test_both_servers_explain_an_input_sent_as_binary(process_url, model, digits):
    x = np.ascontiguousarray(digits[1][3:5])
    header = json.dumps({"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"method": "integrated_gradients", "steps": 8, "target": 4}}).encode()
    status, payload, _ = request(process_url, "POST", "/v2/models/digits/explain", header + x.tobytes(),
                                 headers={"Content-Type": "application/octet-stream",
                                          "Inference-Header-Content-Length": str(len(header))})
    assert status == 200, payload
    local = mlship.explain(model, x, method="integrated_gradients", steps=8, target=4)
    t = _tensors(payload)
    assert t["x_attribution"].shape == (2, 64)
    np.testing.assert_allclose(t["x_attribution"], local.attribution, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(t["explain_target"], [4, 4])


def test_an_explain_body_over_max_body_bytes_gets_413(process_url, digits):
    body = json.dumps(_explain_body(np.tile(digits[1][:1], (200, 1)), method="saliency"))
    assert len(body) > MAX_BODY_BYTES
    status, payload, _ = request(process_url, "POST", "/v2/models/digits/explain", body)
    assert status == 413, payload
    assert f"larger than this server's limit of {MAX_BODY_BYTES} bytes" in payload["error"]
    status, payload, _ = request(process_url, "POST", "/v2/models/digits/explain",
                                 _explain_body(digits[1][:1], method="saliency"))
    assert status == 200, payload


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_full_explain_queue_gets_503(kind, tmp_path):
    """One explanation holds the version's single explain worker (a model spinning ~1e9 times:
    many minutes), at most one more waits (explain_queue_size 1): of three sent together at
    least one finds the queue full, whatever order they arrive in."""
    spin = mlship.load(torch.jit.script(SpinEcho()), example_inputs=torch.zeros(1, 4))
    path = str(tmp_path / "spin.pt")
    spin.save(path)
    name = spin.signature.inputs[0].name
    proc, url = start([*server_command(kind), path, "--name", "spin", "--port", "0",
                       "--explain-queue-size", "1"])
    answers: queue.Queue = queue.Queue()

    def explain() -> None:
        x = np.array([[1e9, 0.0, 0.0, 0.0]], np.float32)
        body = infer_body(name, x)
        body["parameters"] = {"method": "occlusion"}
        try:
            answers.put(request(url, "POST", "/v2/models/spin/explain", body, timeout=120)[:2])
        # The server is killed under the spinning ones: that is how they end.
        except Exception as e:  # noqa: BLE001
            answers.put((None, repr(e)))

    threads = [threading.Thread(target=explain, daemon=True) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        status, payload = answers.get(timeout=60)  # the spinning ones never answer
        assert status == 503, payload
        assert "the explanation queue is full (1 waiting, explain_queue_size)" in payload["error"], payload
        # inference does not wait for explanations
        ok = infer_body(name, np.array([[0.0, 1.0, 2.0, 3.0]], np.float32))
        status, payload, _ = request(url, "POST", "/v2/models/spin/infer", ok, timeout=60)
        assert status == 200 and payload["outputs"][0]["data"] == [0.0, 1.0, 2.0, 3.0], payload
    finally:
        proc.kill()  # a drain would wait minutes for the spinning explanation
        proc.communicate(timeout=60)
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
