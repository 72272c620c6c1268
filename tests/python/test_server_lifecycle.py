"""One server for many models and versions: routes, aliases, the repository endpoints and
their admin token, hot swaps under HTTP load, golden checks, unloading for room."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request

import mlship

ADMIN = "a" * 32
INFER = "i" * 32


def scaled(scale: float) -> mlship.Model:
    """y = x * scale (4 -> 4): an answer says which version computed it."""
    module = torch.nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.eye(4) * scale)
    return mlship.load(module.eval(), example_inputs=torch.zeros(1, 4))


def infer(url: str, path: str, x: np.ndarray, token: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(url, "POST", path, infer_body("input", x), headers=headers)


@pytest.fixture
def repo(tmp_path) -> mlship.Repository:
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", scaled(1.0), aliases=["stable"])
    repo.add("digits", scaled(2.0))
    repo.add("other", scaled(5.0))
    return repo


def test_a_repository_serves_every_model_with_versions_and_aliases_in_urls(repo):
    x = np.ones((1, 4), np.float32)
    with mlship.serve(repo.root, port=0) as server:
        assert {m["name"] for m in server.models()} == {"digits", "other"}
        digits = next(m for m in server.models() if m["name"] == "digits")
        # latest:1, plus the aliased version: both served, 2 (the newest) is the default.
        assert [v["version"] for v in digits["versions"]] == ["1", "2"] and digits["default"] == "2"
        assert all(v["loaded"] for v in digits["versions"])
        assert sum(v["memory_bytes"] for v in digits["versions"]) > 0, "each loaded version reports what it added"
        status, body, headers = infer(server.url, "/v2/models/digits/infer", x)
        assert status == 200 and body["model_version"] == "2" and body["outputs"][0]["data"] == [2.0] * 4
        status, body, _ = infer(server.url, "/v2/models/digits/versions/stable/infer", x)
        assert status == 200 and body["model_version"] == "1" and body["outputs"][0]["data"] == [1.0] * 4
        status, body, _ = infer(server.url, "/v2/models/other/infer", x)
        assert body["outputs"][0]["data"] == [5.0] * 4
        status, meta, _ = request(server.url, "GET", "/v2/models/digits")
        assert status == 200 and meta["versions"] == ["1", "2"]
        assert request(server.url, "GET", "/v2/models/digits/versions/stable/ready")[0] == 200
        status, body, _ = infer(server.url, "/v2/models/digits/versions/9/infer", x)
        assert status == 404 and "versions: 1, 2" in body["error"] and "aliases: stable" in body["error"]
        np.testing.assert_allclose(server.predict("digits", x, version="1"), x)
        np.testing.assert_allclose(server["other"].predict(x), x * 5)


def test_the_repository_endpoints_need_the_admin_token(repo):
    x = np.ones((1, 4), np.float32)
    with mlship.serve(repo.root, port=0, token=INFER) as server:
        status, body, _ = request(server.url, "POST", "/v2/repository/index",
                                  headers={"Authorization": f"Bearer {INFER}"})
        assert status == 403 and "admin token" in body["error"], "off without an admin token"
    with mlship.serve(repo.root, port=0, token=INFER, admin_token=ADMIN) as server:
        for token in (None, INFER, "wrong"):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            status, _, _ = request(server.url, "POST", "/v2/repository/models/digits/unload", headers=headers)
            assert status == 401, token
        assert infer(server.url, "/v2/models/digits/infer", x, ADMIN)[0] == 401, "the admin token does not infer"
        admin = {"Authorization": f"Bearer {ADMIN}"}
        status, rows, _ = request(server.url, "POST", "/v2/repository/index", body={"ready": True}, headers=admin)
        assert status == 200 and {(r["name"], r["version"], r["state"]) for r in rows} == {
            ("digits", "1", "READY"), ("digits", "2", "READY"), ("other", "1", "READY")}
        _, meta, _ = request(server.url, "GET", "/v2", headers={"Authorization": f"Bearer {INFER}"})
        assert "model_repository" in meta["extensions"]
        # A new version, then a load by name: the traffic moves to it.
        repo.add("digits", scaled(3.0))
        status, body, _ = request(server.url, "POST", "/v2/repository/models/digits/load", headers=admin)
        assert status == 200, body
        _, body, _ = infer(server.url, "/v2/models/digits/infer", x, INFER)
        assert body["model_version"] == "3" and body["outputs"][0]["data"] == [3.0] * 4
        status, _, _ = request(server.url, "POST", "/v2/repository/models/other/unload", headers=admin)
        assert status == 200
        assert infer(server.url, "/v2/models/other/infer", x, INFER)[0] == 404
        _, rows, _ = request(server.url, "POST", "/v2/repository/index", headers=admin)
        assert ("other", "UNAVAILABLE") in {(r["name"], r["state"]) for r in rows}
        # Names only, never paths.
        for bad in ("..", "a.b.%2F..", "etc%2Fpasswd"):
            status, body, _ = request(server.url, "POST", f"/v2/repository/models/{bad}/load", headers=admin)
            assert status in (400, 404), (bad, status, body)
        assert request(server.url, "POST", "/v2/repository/models/nope/load", headers=admin)[0] == 404
        assert infer(server.url, "/v2/models/digits/infer", x, INFER)[0] == 200, "still serving"


def test_ten_swaps_under_concurrent_http_load_fail_no_request(tmp_path):
    x = np.arange(4, dtype=np.float32).reshape(1, 4) + 1
    with mlship.deploy(scaled(1.0), name="m", port=0) as dep:
        stop = threading.Event()
        answers: list[tuple[int, str, list[float]]] = []
        lock = threading.Lock()

        def client() -> None:
            deadline = time.monotonic() + 60
            for _ in range(100_000):  # bounded in count and time
                if stop.is_set() or time.monotonic() > deadline:
                    return
                status, body, _ = infer(dep.url, "/v2/models/m/infer", x)
                with lock:
                    answers.append((status, body.get("model_version", "") if isinstance(body, dict) else "",
                                    body["outputs"][0]["data"] if status == 200 else body))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        models = {str(v): scaled(float(v)) for v in range(2, 12)}
        for version, model in models.items():
            assert dep.update(model) == version
            time.sleep(0.05)  # let requests reach each version
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert dep.version == "11"
    assert len(answers) > 50
    failures = [a for a in answers if a[0] != 200]
    assert failures == [], failures[:5]
    for _, version, data in answers:
        np.testing.assert_allclose(data, (x * float(version)).ravel(), err_msg=f"version {version}")
    assert len({v for _, v, _ in answers}) >= 3, "requests reached several versions"


def test_update_checks_golden_outputs_and_rollback_returns(tmp_path):
    x = np.ones((2, 4), np.float32)
    with mlship.deploy(scaled(1.0), port=0, http=False) as dep:
        # The new model must reproduce what the current one answers on the golden inputs.
        with pytest.raises(mlship.FailedPreconditionError, match="does not reproduce its golden outputs"):
            dep.update(scaled(1.5), golden=x)
        assert dep.version == "1" and dep.history == ["1"]
        np.testing.assert_allclose(dep.predict(x), x)
        assert dep.update(scaled(1.0 + 1e-7), golden=x) == "2", "within the FP32 tolerance"
        assert dep.update(scaled(4.0)) == "3"
        np.testing.assert_allclose(dep.predict(x), x * 4)
        assert dep.rollback() == "2"
        np.testing.assert_allclose(dep.predict(x), x, atol=1e-6)
        assert dep.history == ["1", "2"]
        m = dep.server.metrics_text()
        assert 'mlship_swaps_total{model="model",version="3"} 1' in m
        assert 'result="check_failed"' in m


def test_a_version_that_fails_its_stored_golden_check_never_takes_traffic(repo):
    x = np.ones((1, 4), np.float32)
    with mlship.serve(repo.root, port=0, http=False) as server:
        repo.add("digits", scaled(7.0), golden=((x,), (x * 6,)))  # stored outputs it cannot reproduce
        with pytest.raises(mlship.FailedPreconditionError, match="golden"):
            server.load("digits")
        np.testing.assert_allclose(server.predict("digits", x), x * 2)
        assert any(r["version"] == "3" and "golden" in r["reason"] for r in server.index())


def test_unloaded_versions_load_again_on_demand_or_answer_503(repo):
    x = np.ones((1, 4), np.float32)
    repo.set_settings("digits", version_policy="all")
    repo.set_alias("digits", "stable", None)  # aliased versions are pinned; this test wants one that is not
    with mlship.serve(repo.root, port=0, max_loaded_versions=2, on_unloaded="load") as server:
        loaded = {(m["name"], v["version"]) for m in server.models() for v in m["versions"] if v["loaded"]}
        assert len(loaded) == 2 and ("digits", "2") in loaded, "the default is pinned"
        for version in ("1", "2", "1"):
            np.testing.assert_allclose(server.predict("digits", x, version=version), x * float(version))
        text = server.metrics_text()
        assert 'mlship_cold_starts_total{model="digits",version="1"}' in text
        assert 'reason="room"' in text
    with mlship.serve(repo.root, port=0, max_loaded_versions=2, on_unloaded="reject") as server:
        unloaded = [(m["name"], v["version"]) for m in server.models() for v in m["versions"] if not v["loaded"]]
        assert unloaded
        name, version = unloaded[0]
        status, body, headers = infer(server.url, f"/v2/models/{name}/versions/{version}/infer", x)
        assert status == 503 and headers.get("Retry-After") == "1" and "being loaded" in body["error"]


def test_models_from_memory_serve_beside_repository_ones(repo):
    x = np.ones((1, 4), np.float32)
    with mlship.serve(repo.root, port=0, http=False) as server:
        endpoint = server.deploy(scaled(9.0), name="memory", max_batch_size=4)
        np.testing.assert_allclose(endpoint.predict(x), x * 9)
        assert {m["name"] for m in server.models()} == {"digits", "other", "memory"}
        server.deploy(scaled(10.0), name="memory")
        np.testing.assert_allclose(server.predict("memory", x), x * 10)
        np.testing.assert_allclose(server.predict("memory", x, version="1"), x * 9)
        server.set_default("memory", "1")
        np.testing.assert_allclose(server.predict("memory", x), x * 9)
        with pytest.raises(mlship.InvalidInputError, match="unknown option"):
            server.deploy(scaled(1.0), name="bad", max_batch=4)
    with mlship.serve(http=False) as empty, pytest.raises(mlship.FailedPreconditionError, match="no repository"):
        empty.load("digits")
