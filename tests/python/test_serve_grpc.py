"""The gRPC front end (KServe v2 / Triton's GRPCInferenceService) through the real
``tritonclient.grpc``, beside the HTTP one through ``tritonclient.http``: metadata, Triton's
config and statistics, inference with raw and typed contents, every error path with its
status code (each followed by a good request), the repository methods' admin rule, both
front ends batching into the same batches, and both servers (in-process and mlship-server).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import torch
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from http_helpers import request
from metrics_helpers import settled_metrics
from prometheus_client.parser import text_string_to_metric_families
from server_process import read_line_matching, server_command, stop
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

import mlship

TOKEN = "grpc-contract-token-0123456789abcdefghij"
ADMIN = "grpc-contract-admin-0123456789abcdefghij"


def auth() -> dict[str, str]:
    """The token as a header / metadata, in a fresh dict: tritonclient.http adds its own
    headers (ints among them) to the dict it is given."""
    return {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def model(mlp) -> mlship.Model:
    return mlship.load(mlp, example_inputs=torch.zeros(1, 64))


@pytest.fixture(scope="module")
def dep(model):
    with mlship.deploy(model, name="digits", port=0, grpc_port=-1, token=TOKEN, max_batch_size=16,
                       limits=mlship.Limits(max_body_bytes=256 << 10)) as d:
        yield d


@pytest.fixture(scope="module")
def gclient(dep):
    assert dep.grpc_port > 0
    c = tgrpc.InferenceServerClient(f"127.0.0.1:{dep.grpc_port}")
    yield c
    c.close()


@pytest.fixture(scope="module")
def hclient(dep):
    c = thttp.InferenceServerClient(dep.url.removeprefix("http://"))
    yield c
    c.close()


def grpc_infer(client, x: np.ndarray, headers=None, model_name="digits"):
    headers = auth() if headers is None else headers
    inp = tgrpc.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer(model_name, [inp], headers=headers, client_timeout=30)


def http_infer(client, x: np.ndarray, headers=None, binary=True):
    headers = auth() if headers is None else dict(headers)
    inp = thttp.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    return client.infer("digits", [inp], headers=headers)


def output_name(model) -> str:
    return model.signature.outputs[0].name


@pytest.fixture
def still_serving(gclient, model, digits):
    """After the test's bad calls, a good one must still get the right answer over gRPC."""
    yield
    x = digits[1][:3]
    result = grpc_infer(gclient, x)
    np.testing.assert_allclose(result.as_numpy(output_name(model)), model(x), atol=1e-5)


def grpc_code(excinfo) -> str:
    return excinfo.value.status()


def test_health_and_metadata_over_grpc_match_http(gclient, hclient, model):
    assert gclient.is_server_live() and gclient.is_server_ready()
    server = gclient.get_server_metadata(headers=auth(), as_json=True)
    assert server["name"] == "mlship"
    assert "model_configuration" in server["extensions"] and "statistics" in server["extensions"]
    meta = gclient.get_model_metadata("digits", headers=auth(), as_json=True)
    http_meta = hclient.get_model_metadata("digits", headers=auth())
    assert meta["name"] == http_meta["name"] == "digits"
    assert meta["platform"] == http_meta["platform"]
    assert meta["inputs"][0]["datatype"] == "FP32"
    assert [int(d) for d in meta["inputs"][0]["shape"]] == http_meta["inputs"][0]["shape"] == [-1, 64]
    assert gclient.is_model_ready("digits", headers=auth())
    assert not gclient.is_model_ready("nope", headers=auth())


def test_model_config_over_grpc_and_http(gclient, hclient, dep):
    config = gclient.get_model_config("digits", headers=auth()).config
    assert config.name == "digits"
    assert config.max_batch_size == 16
    assert config.input[0].name == "x" and list(config.input[0].dims) == [64]
    assert config.input[0].data_type == 11  # TYPE_FP32
    assert list(config.output[0].dims) == [10]
    assert config.instance_group[0].count >= 1
    assert config.HasField("dynamic_batching")
    http_config = hclient.get_model_config("digits", headers=auth())
    assert http_config["max_batch_size"] == 16
    assert http_config["input"][0] == {"name": "x", "data_type": "TYPE_FP32", "format": "FORMAT_NONE",
                                       "dims": [64]}
    assert http_config["output"][0]["dims"] == [10]
    assert http_config["instance_group"][0]["count"] == config.instance_group[0].count
    assert http_config["dynamic_batching"]["max_queue_delay_microseconds"] == 0
    with pytest.raises(InferenceServerException) as e:
        gclient.get_model_config("nope", headers=auth())
    assert grpc_code(e) == "StatusCode.NOT_FOUND"


def test_statistics_count_requests_from_both_front_ends(gclient, hclient, digits):
    before = hclient.get_inference_statistics("digits", headers=auth())["model_stats"][0]
    x = digits[1][:2]
    for _ in range(3):
        grpc_infer(gclient, x)
        http_infer(hclient, x)
    stats = gclient.get_inference_statistics("digits", headers=auth(), as_json=True)["model_stats"][0]
    after = hclient.get_inference_statistics("digits", headers=auth())["model_stats"][0]
    assert stats["name"] == "digits" and stats["version"] == "1"
    assert after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"] == 6
    assert after["inference_count"] - before["inference_count"] == 12  # rows
    assert int(stats["inference_stats"]["success"]["count"]) >= 6
    assert int(stats["inference_stats"]["queue"]["ns"]) > 0
    assert int(stats["inference_stats"]["compute_infer"]["ns"]) > 0
    assert int(stats["execution_count"]) >= 1


def test_infer_with_raw_contents_matches_http_and_the_model(gclient, hclient, model, digits):
    x = digits[1][:5]
    got = grpc_infer(gclient, x)
    np.testing.assert_allclose(got.as_numpy(output_name(model)), model(x), atol=1e-5)
    response = got.get_response()
    assert response.model_name == "digits" and response.model_version == "1"
    assert len(response.raw_output_contents) == 1
    np.testing.assert_array_equal(got.as_numpy(output_name(model)),
                                  http_infer(hclient, x).as_numpy(output_name(model)))


def test_infer_with_typed_contents_in_and_out(dep, model, digits):
    x = digits[1][:2]
    channel = grpc.insecure_channel(f"127.0.0.1:{dep.grpc_port}")
    try:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        req = service_pb2.ModelInferRequest(model_name="digits", id="typed-1")
        tensor = req.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
        tensor.contents.fp32_contents.extend(x.ravel().tolist())
        req.parameters["binary_data_output"].bool_param = False
        response = stub.ModelInfer(req, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=30)
    finally:
        channel.close()
    assert response.id == "typed-1"
    assert len(response.raw_output_contents) == 0
    first = response.outputs[0]
    out = np.array(first.contents.fp32_contents, dtype=np.float32).reshape(first.shape)
    np.testing.assert_allclose(out, model(x), atol=1e-5)


def test_a_bad_token_is_unauthenticated(gclient, digits, still_serving):
    for headers in ({}, {"authorization": "Bearer not-the-token-not-the-token-not-the"}):
        with pytest.raises(InferenceServerException) as e:
            grpc_infer(gclient, digits[1][:1], headers=headers)
        assert grpc_code(e) == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException) as e:
        gclient.get_model_metadata("digits")
    assert grpc_code(e) == "StatusCode.UNAUTHENTICATED"


def test_an_unknown_model_is_not_found(gclient, digits, still_serving):
    with pytest.raises(InferenceServerException) as e:
        grpc_infer(gclient, digits[1][:1], model_name="nope")
    assert grpc_code(e) == "StatusCode.NOT_FOUND"
    assert "digits" in e.value.message()


def test_a_bad_shape_is_invalid_argument_naming_what_was_expected(gclient, digits, still_serving):
    with pytest.raises(InferenceServerException) as e:
        grpc_infer(gclient, digits[1][:2, :60].copy())
    assert grpc_code(e) == "StatusCode.INVALID_ARGUMENT"
    assert "expected shape [-1, 64]" in e.value.message()
    inp = tgrpc.InferInput("x", [1, 64], "INT64")
    inp.set_data_from_numpy(np.zeros((1, 64), dtype=np.int64))
    with pytest.raises(InferenceServerException) as e:
        gclient.infer("digits", [inp], headers=auth())
    assert grpc_code(e) == "StatusCode.INVALID_ARGUMENT"
    assert "expected datatype FP32" in e.value.message()


def test_over_the_size_limit_is_resource_exhausted(gclient, still_serving):
    big = np.zeros((1100, 64), dtype=np.float32)  # 275 KiB > max_body_bytes (256 KiB)
    with pytest.raises(InferenceServerException) as e:
        grpc_infer(gclient, big)
    assert grpc_code(e) == "StatusCode.RESOURCE_EXHAUSTED"


def test_unimplemented_methods_say_so(gclient, still_serving):
    with pytest.raises(InferenceServerException) as e:
        gclient.get_system_shared_memory_status(headers=auth())
    assert grpc_code(e) == "StatusCode.UNIMPLEMENTED"
    assert "shared memory" in e.value.message()


def test_repository_methods_need_the_admin_token(model):
    with mlship.serve(port=0, grpc_port=-1, token=TOKEN, admin_token=ADMIN) as server:
        server.deploy(model, name="digits")
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        try:
            with pytest.raises(InferenceServerException) as e:
                client.get_model_repository_index(headers=auth())
            assert grpc_code(e) == "StatusCode.UNAUTHENTICATED"
            admin = {"authorization": f"Bearer {ADMIN}"}
            index = client.get_model_repository_index(headers=admin, as_json=True)
            assert {"name": "digits", "version": "1", "state": "READY"}.items() <= index["models"][0].items()
            with pytest.raises(InferenceServerException) as e:
                client.load_model("digits", headers={"authorization": f"Bearer {ADMIN}"})
            assert grpc_code(e) == "StatusCode.FAILED_PRECONDITION"  # no repository on disk
            assert "repository" in e.value.message()
            assert client.is_model_ready("digits", headers=auth())
        finally:
            client.close()
    with mlship.serve(port=0, grpc_port=-1) as server:
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        try:
            with pytest.raises(InferenceServerException) as e:
                client.get_model_repository_index()
            assert grpc_code(e) in ("StatusCode.PERMISSION_DENIED", "StatusCode.UNIMPLEMENTED")
        finally:
            client.close()


def test_repository_unload_and_load_over_grpc(model, digits, tmp_path):
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", model)
    admin = {"authorization": f"Bearer {ADMIN}"}
    with mlship.serve(tmp_path / "models", port=0, grpc_port=-1, admin_token=ADMIN) as server:
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        try:
            assert client.is_model_ready("digits")
            client.unload_model("digits", headers=admin)
            assert not client.is_model_ready("digits")
            with pytest.raises(InferenceServerException) as e:
                grpc_infer(client, digits[1][:1], headers={})
            assert grpc_code(e) == "StatusCode.NOT_FOUND"
            client.load_model("digits", headers=admin)
            assert client.is_model_ready("digits")
            x = digits[1][:2]
            got = grpc_infer(client, x, headers={}).as_numpy(output_name(model))
            np.testing.assert_allclose(got, model(x), atol=1e-5)
            with pytest.raises(InferenceServerException) as e:
                client.load_model("missing", headers=admin)
            assert grpc_code(e) == "StatusCode.NOT_FOUND"
        finally:
            client.close()


def batch_size_histogram(url: str) -> dict[float, float]:
    """The cumulative buckets of mlship_batch_size from GET /metrics."""
    status, body, _ = request(url, "GET", "/metrics")
    assert status == 200
    text = body.decode() if isinstance(body, bytes) else body
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "mlship_batch_size":
            for sample in family.samples:
                if sample.name == "mlship_batch_size_bucket":
                    buckets[float(sample.labels["le"])] = sample.value
    return buckets


def test_http_and_grpc_clients_share_batches(model, digits):
    """One HTTP and one gRPC client, each with one single-row request in flight at a time,
    on a model that batches up to 2 rows: a batch of 2 rows can only hold one request from
    each front end, so batches of 2 in the histogram are mixed batches."""
    x = digits[1][:40]
    with mlship.deploy(model, name="digits", port=0, grpc_port=-1, max_batch_size=2, max_delay_ms=200) as dep:
        start = threading.Barrier(2)
        answers: dict[str, list[np.ndarray]] = {"http": [], "grpc": []}
        errors: list[BaseException] = []

        def run(kind: str) -> None:
            try:
                if kind == "http":
                    client = thttp.InferenceServerClient(dep.url.removeprefix("http://"))
                    call = lambda row: http_infer(client, row, headers={})  # noqa: E731
                else:
                    client = tgrpc.InferenceServerClient(f"127.0.0.1:{dep.grpc_port}")
                    call = lambda row: grpc_infer(client, row, headers={})  # noqa: E731
                start.wait(timeout=30)
                offset = 0 if kind == "http" else 20
                for i in range(20):
                    row = x[offset + i: offset + i + 1]
                    answers[kind].append(call(row).as_numpy(output_name(model)))
                client.close()
            except BaseException as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(kind,)) for kind in ("http", "grpc")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        np.testing.assert_allclose(np.concatenate(answers["http"]), model(x[:20]), atol=1e-5)
        np.testing.assert_allclose(np.concatenate(answers["grpc"]), model(x[20:]), atol=1e-5)
        buckets = batch_size_histogram(dep.url)
        batches, single = buckets[float("inf")], buckets[1.0]
        assert batches - single >= 1, buckets  # at least one batch held an HTTP and a gRPC request
        assert settled_metrics(dep, rows=40)["mlship_inferences_total"] == 40


def serve_from_cli(kind: str, path: str, *flags: str) -> tuple[subprocess.Popen, int, int, list[str]]:
    """`mlship serve` (python) or `mlship-server` (native) on `path` with a gRPC port: the
    process, its HTTP and gRPC ports, and the lines it printed."""
    proc = subprocess.Popen([*server_command(kind), path, "--name", "digits", "--port", "0", "--grpc-port", "-1",
                             *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    line = read_line_matching(proc, r"grpc://127\.0\.0\.1:\d+", seen)
    if line is None:
        stop(proc)
        pytest.fail("the server did not print its gRPC address:\n" + "".join(seen))
    grpc_port = int(line.split("grpc://127.0.0.1:")[1].split()[0])
    http_port = int(re.search(r"http://127\.0\.0\.1:(\d+)", "".join(seen)).group(1))
    return proc, http_port, grpc_port, seen


@pytest.mark.parametrize("kind", ["python", "native"])
def test_both_servers_serve_grpc_from_the_flag(model, digits, tmp_path, kind):
    path = str(tmp_path / "digits.pt")
    model.save(path)
    proc, _, port, seen = serve_from_cli(kind, path)
    try:
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{port}")
        x = digits[1][:3]
        got = grpc_infer(client, x, headers={}).as_numpy(output_name(model))
        np.testing.assert_allclose(got, model(x), atol=1e-5)
        assert client.get_model_config("digits").config.name == "digits"
        client.close()
    finally:
        code, out = stop(proc)
    assert code == 0, "".join(seen) + out


def grpc_infer_until(client, x, accept, seconds: float = 30):
    """Calls ModelInfer until `accept(result or exception)` holds (the server's state changes
    asynchronously), at most `seconds`; returns what was accepted."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            outcome = grpc_infer(client, x, headers={})
        except InferenceServerException as e:
            outcome = e
        if accept(outcome):
            return outcome
        assert time.monotonic() < deadline, f"still {outcome!r} after {seconds} s"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["python", "native"])
def test_grpc_counts_in_the_byte_budget_and_the_audit_log_it_shares_with_http(model, digits, tmp_path, kind):
    path = str(tmp_path / "digits.pt")
    model.save(path)
    audit = tmp_path / "audit.log"
    proc, http_port, grpc_port, seen = serve_from_cli(kind, path, f"--max-inflight-bytes={4 << 20}",
                                                      f"--audit-log={audit}")
    x = digits[1][:3]
    try:
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        # An HTTP request whose 2 MiB body is still coming counts twice its length: the
        # whole 4 MiB budget. gRPC calls must wait for it, not add to it.
        with socket.create_connection(("127.0.0.1", http_port), timeout=30) as held:
            held.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (http_port, 2 << 20))
            refused = grpc_infer_until(client, x, lambda o: isinstance(o, InferenceServerException))
            assert refused.status() == "StatusCode.UNAVAILABLE", refused
            assert "max_inflight_bytes = 4194304" in refused.message()
        # The connection is gone: its bytes are given back.
        answered = grpc_infer_until(client, x, lambda o: not isinstance(o, InferenceServerException))
        np.testing.assert_allclose(answered.as_numpy(output_name(model)), model(x), atol=1e-5)
        client.close()
    finally:
        code, out = stop(proc)
    assert code == 0, "".join(seen) + out
    rows = [json.loads(line) for line in audit.read_text().splitlines()]
    grpc_rows = [r for r in rows if r["method"] == "gRPC"]
    assert grpc_rows, rows
    assert all(r["action"] == "refused" and r["status"] == 503 for r in grpc_rows), grpc_rows
    assert grpc_rows[0]["path"] == "/inference.GRPCInferenceService/ModelInfer"
    assert "max_inflight_bytes" in grpc_rows[0]["detail"]
