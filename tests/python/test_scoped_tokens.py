"""Scoped tokens from a hashed-token file (``mlship token``, ``--token-file``), per-token rate limits
and the dashboard login, over HTTP on both servers (``mlship serve`` and the Python-free
``mlship-server``). Status codes are asserted, never timings: the rate-limited token refills
once in 1000 s, so the burst is all it gets during a test."""

from __future__ import annotations

import http.cookiejar
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from server_process import start

import mlship
from mlship._cli import server_executable

FEATURES = 4


class Echo(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture(scope="module")
def model() -> mlship.Model:
    return mlship.load(torch.jit.script(Echo()), example_inputs=torch.zeros(1, FEATURES))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tokens") / "echo.pt")
    model.save(path)
    return path


def mlship_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlship", *args], capture_output=True, text=True, timeout=120)


def create(path, name: str, scopes: str, *extra: str) -> str:
    done = mlship_cli("token", "create", "--name", name, "--scopes", scopes, "--file", str(path), *extra)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("mls_") and len(token) >= 40, done.stdout
    return token


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("tokenfile") / "tokens.jsonl"
    made = {
        "infer": create(path, "inferer", "infer"),
        "read": create(path, "reader", "read"),
        "admin": create(path, "ops", "admin"),
        # One refill per 1000 s: the burst of 2 is all a test sees.
        "limited": create(path, "limited", "infer,read", "--rate", "0.001", "--burst", "2"),
    }
    made["path"] = str(path)
    return made


def test_token_create_writes_hashes_and_list_shows_no_secret(tokens):
    with open(tokens["path"]) as f:
        text = f.read()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["name"] for e in lines] == ["inferer", "reader", "ops", "limited"]
    assert lines[3]["scopes"] == ["infer", "read"] and lines[3]["rate_per_s"] == 0.001 and lines[3]["burst"] == 2
    for key in ("infer", "read", "admin", "limited"):
        assert tokens[key] not in text, "the token itself is never stored"
    import hashlib
    assert lines[0]["sha256"] == hashlib.sha256(tokens["infer"].encode()).hexdigest()
    listed = mlship_cli("token", "list", "--file", tokens["path"])
    assert listed.returncode == 0, listed.stderr
    assert "inferer" in listed.stdout and "infer,read" in listed.stdout and "burst 2" in listed.stdout
    assert lines[0]["sha256"] not in listed.stdout
    again = mlship_cli("token", "create", "--name", "ops", "--scopes", "read", "--file", tokens["path"])
    assert again.returncode == 2 and "already has a token named 'ops'" in again.stderr
    bad = mlship_cli("token", "create", "--name", "x", "--scopes", "read,write", "--file", tokens["path"])
    assert bad.returncode == 2 and "unknown scope 'write'" in bad.stderr


@pytest.fixture(params=["serve", "native"])
def url(request, saved, tokens):
    """A server started with --token-file: ``mlship serve`` or ``mlship-server``."""
    if request.param == "serve":
        cmd = [sys.executable, "-m", "mlship", "serve", saved, "--name", "echo", "--port", "0", "--token-file",
               tokens["path"]]
    else:
        cmd = [str(server_executable()), saved, "--name", "echo", "--port", "0", "--token-file", tokens["path"]]
    proc, address = start(cmd)
    yield address
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=60)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


X = np.ones((1, FEATURES), np.float32)


def infer(url: str, headers: dict[str, str]) -> int:
    name = "echo"
    headers = {"Content-Type": "application/json", **headers}
    return request(url, "POST", f"/v2/models/{name}/infer", infer_body(INPUT, X), headers)[0]


INPUT = "x"


@pytest.fixture(scope="module", autouse=True)
def input_name(model) -> None:
    global INPUT
    INPUT = model.signature.inputs[0].name


def test_each_scope_opens_its_routes_only(url, tokens):
    assert infer(url, bearer(tokens["infer"])) == 200
    code, body, _ = request(url, "GET", "/metrics", headers=bearer(tokens["infer"]))
    assert code == 403 and "'read' scope" in body["error"] and tokens["infer"] not in body["error"]
    code, body, _ = request(url, "POST", "/v2/repository/index", {}, bearer(tokens["infer"]))
    assert code == 403 and "'admin' scope" in body["error"], body

    for path in ("/v2", "/v2/models/echo", "/v2/models/echo/ready", "/metrics"):
        assert request(url, "GET", path, headers=bearer(tokens["read"]))[0] == 200, path
    assert infer(url, bearer(tokens["read"])) == 403

    assert request(url, "POST", "/v2/repository/index", {}, bearer(tokens["admin"]))[0] == 200
    assert infer(url, bearer(tokens["admin"])) == 403

    code, body, headers = request(url, "GET", "/metrics", headers=bearer("mls_not-in-the-file-0123456789"))
    assert code == 401 and headers.get("WWW-Authenticate") == "Bearer" and "not-in-the-file" not in body["error"]
    assert infer(url, {}) == 401
    assert request(url, "GET", "/v2/health/ready")[0] == 200, "health needs no token"


def test_a_token_over_its_burst_gets_429_with_retry_after(url, tokens):
    headers = bearer(tokens["limited"])
    assert infer(url, headers) == 200
    assert request(url, "GET", "/v2/models/echo", headers=headers)[0] == 200
    code, body, answer = request(url, "GET", "/v2/models/echo", headers=headers)
    assert code == 429 and "'limited' is over its rate limit" in body["error"], body
    assert int(answer["Retry-After"]) >= 1
    assert infer(url, headers) == 429
    assert infer(url, bearer(tokens["infer"])) == 200, "other tokens have their own buckets"
    code, text, _ = request(url, "GET", "/metrics", headers=bearer(tokens["read"]))
    assert code == 200 and 'reason="rate_limited"' in text.decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_the_dashboard_login_sets_a_read_only_cookie(url, tokens):
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    plain = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as sent:
        plain.open(f"{url}/dashboard", timeout=30)
    sent.value.close()
    assert sent.value.code == 303 and sent.value.headers["Location"] == "/dashboard/login"
    with browser.open(f"{url}/dashboard/login", timeout=30) as form:
        page = form.read().decode()
        assert 'action="/dashboard/login"' in page and "<script" not in page
        assert "form-action 'self'" in form.headers["Content-Security-Policy"]
        assert form.headers["X-Frame-Options"] == "DENY"

    def login(token: str):
        data = urllib.parse.urlencode({"token": token}).encode()
        return browser.open(urllib.request.Request(f"{url}/dashboard/login", data=data), timeout=30)

    with pytest.raises(urllib.error.HTTPError) as refused:
        login(tokens["infer"])
    refused.value.close()
    assert refused.value.code == 403 and not list(jar), "a token without read gets no cookie"
    with login(tokens["read"]) as board:  # follows the 303 to /dashboard with the cookie
        assert board.status == 200 and board.url.endswith("/dashboard")
        assert "Content-Security-Policy" in board.headers and board.headers["X-Frame-Options"] == "DENY"
    cookie = next(c for c in jar if c.name == "mlship_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    with browser.open(f"{url}/dashboard/data", timeout=30) as data:
        assert data.status == 200
    with browser.open(f"{url}/metrics", timeout=30) as metrics:
        assert metrics.status == 200
    with pytest.raises(urllib.error.HTTPError) as denied:
        browser.open(urllib.request.Request(f"{url}/v2/models/echo/infer",
                                            data=json.dumps(infer_body(INPUT, X)).encode(),
                                            headers={"Content-Type": "application/json"}), timeout=30)
    denied.value.close()
    assert denied.value.code == 401, "the cookie never opens inference"
    with browser.open(urllib.request.Request(f"{url}/dashboard/logout", data=b""), timeout=30) as out:
        assert out.status == 200 and out.url.endswith("/dashboard/login")
    code, _, _ = request(url, "GET", "/metrics", headers={"Cookie": f"mlship_session={cookie.value}"})
    assert code == 401, "logged out"


def test_reload_tokens_applies_a_good_file_and_keeps_the_set_on_a_bad_one(model, tmp_path):
    path = tmp_path / "tokens.jsonl"
    first = create(path, "first", "infer")
    with mlship.deploy(model, name="echo", port=0, token_file=str(path)) as dep:
        assert infer(dep.url, bearer(first)) == 200
        second = create(path, "second", "infer")
        assert infer(dep.url, bearer(second)) == 401, "not before the reload"
        dep.reload_tokens()
        assert infer(dep.url, bearer(second)) == 200
        with open(path, "a") as f:
            f.write('{"name": "broken", "scopes": ["infer"]}\n')
        with pytest.raises(mlship.MlshipError, match="line 3"):
            dep.reload_tokens()
        assert infer(dep.url, bearer(second)) == 200, "the old set stays"


def test_a_bad_token_file_stops_the_start(model, tmp_path):
    path = tmp_path / "tokens.jsonl"
    path.write_text('{"name": "x", "sha256": "abc", "scopes": ["read"]}\n')
    with pytest.raises(mlship.MlshipError, match="line 1"):
        mlship.deploy(model, name="echo", port=0, token_file=str(path))
