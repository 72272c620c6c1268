"""The audit log (--audit-log) and the model error text kept behind a request id, on both
servers: `mlship serve` (Python over the C++ core) and the Python-free `mlship-server`."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import torch
from http_helpers import request
from server_process import SERVER_KINDS, server_command, start, stop

import mlship

ADMIN = "admin-" + "A1b2C3d4" * 4
INFER = "infer-" + "Z9y8X7w6" * 4
SECRET_BODY = "BODY-SECRET-8086"
SECRET_TEXT = "secret detail"


class RaisesOnHugeInput(torch.nn.Module):
    """y = 2x, except that a sum over 1e6 raises with text a client must not see."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 1e6):
            raise ValueError("secret detail: the weights live in /srv/private/model.bin")
        return x * 2.0


@pytest.fixture(scope="module")
def raising(tmp_path_factory) -> tuple[str, str, str]:
    """The model saved as a file, a repository holding it as "m", and its input's name."""
    root = tmp_path_factory.mktemp("audit")
    model = mlship.load(RaisesOnHugeInput(), example_inputs=torch.zeros(1, 4))
    path = str(root / "raises.pt")
    model.save(path)
    repo = mlship.Repository(root / "models")
    repo.add("m", model)
    return path, str(repo.root), model.signature.inputs[0].name


def _env() -> dict[str, str]:
    return {**os.environ, "MLSHIP_TOKEN": INFER, "MLSHIP_ADMIN_TOKEN": ADMIN}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_control_actions_auth_failures_and_refusals_are_audited_without_secrets(raising, tmp_path, kind):
    _, root, _ = raising
    log = tmp_path / "audit.jsonl"
    proc, url = start([*server_command(kind), "--repository", root, "--port", "0", "--audit-log", str(log),
                       "--max-body-bytes", "4096"], env=_env())
    admin = {"Authorization": f"Bearer {ADMIN}"}
    try:
        body = {"parameters": {"note": SECRET_BODY}}
        assert request(url, "POST", "/v2/repository/models/m/unload", headers=admin)[0] == 200
        assert request(url, "POST", "/v2/repository/models/m/load", body, headers=admin)[0] == 200
        assert request(url, "POST", "/v2/repository/models/ghost/load", headers=admin)[0] == 404
        assert request(url, "GET", "/v2", headers={"Authorization": "Bearer guessed-token-123"})[0] == 401
        oversize = (SECRET_BODY * 1000).encode()
        assert request(url, "POST", "/v2/models/m/infer", oversize,
                       headers={"Authorization": f"Bearer {INFER}", "Content-Type": "application/json"})[0] == 413
        assert request(url, "GET", "/v2/health/ready")[0] == 200
    finally:
        code, out = stop(proc)
    assert code == 0, out
    text = log.read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(set(row) >= {"time", "remote", "who", "action", "method", "path", "status", "detail"} for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["time"]) for row in rows), rows
    seen = [(row["action"], row["who"], row["status"], row["path"]) for row in rows]
    assert seen == [
        ("repository.unload", "admin_token", 200, "/v2/repository/models/m/unload"),
        ("repository.load", "admin_token", 200, "/v2/repository/models/m/load"),
        ("repository.load", "admin_token", 404, "/v2/repository/models/ghost/load"),
        ("auth.failed", "anonymous", 401, "/v2"),
        ("refused", "token", 413, "/v2/models/m/infer"),
    ], text
    assert all(row["remote"].startswith("127.0.0.1:") for row in rows)
    for secret in (ADMIN, INFER, "guessed-token-123", SECRET_BODY):
        assert secret not in text, secret


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_model_failure_reaches_the_client_only_as_a_request_id(raising, kind):
    path, _, name = raising
    proc, url = start([*server_command(kind), path, "--name", "m", "--port", "0"])
    try:
        body = {"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": [1e7] * 4}]}
        status, answer, headers = request(url, "POST", "/v2/models/m/infer", body)
        assert status == 500, answer
        assert SECRET_TEXT not in json.dumps(answer) and "/srv/private" not in json.dumps(answer)
        request_id = answer["request_id"]
        assert headers["mlship-request-id"] == request_id
        assert answer["error"] == (f"the model failed on this request; request id {request_id}; "
                                   "the server log has the details")
        ok = {"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": [1.0] * 4}], "id": "mine-7"}
        status, answer, headers = request(url, "POST", "/v2/models/m/infer", ok)
        assert status == 200 and headers["mlship-request-id"] == "mine-7" and answer["id"] == "mine-7"
    finally:
        code, out = stop(proc)
    assert code == 0, out
    lines = [line for line in out.splitlines() if request_id in line]
    assert len(lines) == 1 and SECRET_TEXT in lines[0], out


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_expose_model_errors_sends_the_text_with_the_id(raising, kind):
    path, _, name = raising
    proc, url = start([*server_command(kind), path, "--name", "m", "--port", "0", "--expose-model-errors"])
    try:
        body = {"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": [1e7] * 4}], "id": "bad-1"}
        status, answer, headers = request(url, "POST", "/v2/models/m/infer", body)
        assert status == 500 and SECRET_TEXT in answer["error"] and "(request id bad-1)" in answer["error"], answer
        assert headers["mlship-request-id"] == "bad-1" and answer["request_id"] == "bad-1"
    finally:
        code, out = stop(proc)
    assert code == 0, out


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_an_audit_log_that_cannot_be_opened_stops_the_start_naming_it(raising, tmp_path, kind):
    path, _, _ = raising
    missing = str(tmp_path / "no-such-dir" / "audit.jsonl")
    done = subprocess.run([*server_command(kind), path, "--port", "0", "--audit-log", missing],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert missing in done.stdout + done.stderr, done.stdout + done.stderr
