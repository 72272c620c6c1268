"""examples/fastapi_app.py and examples/flask_app.py, driven by their frameworks' own test clients."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the app's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_file(digits_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("apps") / "digits.pt"
    digits_model.save(str(path))
    return path


def test_fastapi_app_deploys_at_startup_answers_and_stops_at_shutdown(model_file, digits_model, digits, monkeypatch):
    monkeypatch.setenv("MLSHIP_MODEL", str(model_file))
    app_module = _load("fastapi_app")
    X = digits[1][:6]
    with TestClient(app_module.app) as client:
        dep = app_module.app.state.deployment
        assert dep.url is None  # http=False: FastAPI is the only HTTP server
        r = client.post("/predict", json={"inputs": X.tolist()})
        assert r.status_code == 200
        body = r.json()
        expected = digits_model(X)
        assert np.allclose(body["scores"], expected, rtol=1e-5, atol=1e-5)
        assert body["classes"] == expected.argmax(1).tolist()
        bad = client.post("/predict", json={"inputs": [[0.0] * 63]})
        assert bad.status_code == 400 and "expected shape [-1, 64]" in bad.json()["detail"]
        assert client.post("/predict", json={"inputs": "nope"}).status_code == 422
        assert client.get("/healthz").json() == {"status": "ok"}
    assert "stopping" in repr(dep)  # the lifespan stopped it


def test_fastapi_app_batches_concurrent_requests(model_file, digits, monkeypatch):
    """Many requests in flight at once all get their own row's answer (apredict does not block the loop)."""
    import httpx2

    monkeypatch.setenv("MLSHIP_MODEL", str(model_file))
    app_module = _load("fastapi_app")
    X = digits[1][:32]

    async def run() -> list[list[int]]:
        async with app_module.lifespan(app_module.app):
            transport = httpx2.ASGITransport(app=app_module.app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://app") as client:
                replies = await asyncio.gather(*(client.post("/predict", json={"inputs": [row.tolist()]}) for row in X))
                return [r.json()["classes"] for r in replies]

    classes = asyncio.run(run())
    model = app_module.app.state.deployment.model
    assert classes == [[int(c)] for c in model(X).argmax(1)]


def test_flask_app_answers_and_rejects_bad_bodies(model_file, digits_model, digits):
    app_module = _load("flask_app")
    app = app_module.create_app(str(model_file))
    dep = app.extensions["mlship"]
    try:
        client = app.test_client()
        X = digits[1][:5]
        r = client.post("/predict", json={"inputs": X.tolist()})
        assert r.status_code == 200
        assert np.allclose(r.get_json()["scores"], digits_model(X), rtol=1e-5, atol=1e-5)
        assert client.post("/predict", json={"rows": []}).status_code == 400
        assert client.post("/predict", data="not json", content_type="application/json").status_code == 400
        ragged = client.post("/predict", json={"inputs": [[1.0, 2.0], [3.0]]})
        assert ragged.status_code == 400 and "error" in ragged.get_json()
        narrow = client.post("/predict", json={"inputs": [[0.0] * 10]})
        assert narrow.status_code == 400 and "expected shape [-1, 64]" in narrow.get_json()["error"]
        assert client.get("/healthz").get_json() == {"status": "ok"}
    finally:
        dep.stop()
