"""Rollouts, A/B splits, shadows and outcomes from the public API, the HTTP endpoints and the
CLI. Every policy runs on a fake clock: the test says when time passes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request

import mlship
from mlship import _core

ADMIN = "a" * 32


def ask_until_compared(endpoint, X, rows: int, max_requests: int = 20_000) -> None:
    """Shadow copies run on spare capacity only (a busy shadow skips them), so a shadow
    compares a sample of the requests: ask (bounded) until it has compared `rows` rows. The
    pause after each request leaves the idle-priority shadow runner a moment of idle CPU,
    which a loaded machine would otherwise not give it."""
    for i in range(max_requests):
        shadow = endpoint.shadow()
        if shadow is not None and shadow["rows"] >= rows:
            return
        endpoint.predict(X[i % len(X):i % len(X) + 1], routing_key=f"user-{i}")
        time.sleep(0.0002)
    raise AssertionError(f"the shadow compared {endpoint.shadow()} after {max_requests} requests")


def ask(endpoint, X, start: int, count: int) -> None:
    """`count` one-row requests, each with its own routing key and request id."""
    for i in range(start, start + count):
        endpoint.predict(X[i % len(X):i % len(X) + 1], routing_key=f"user-{i}", request_id=f"r{i}")


def test_a_candidate_that_answers_differently_is_rolled_back_by_its_shadow(digits, digits_model, weak_model):
    _, X_test, _, _ = digits
    alerts = []
    clock = _core.FakeClock()
    with mlship.serve(http=False, clock=clock, on_alert=alerts.append, instances=2) as server:
        server.deploy(digits_model, name="digits", version="1")
        server.deploy(weak_model, name="digits", version="2", default=False)
        rollout = server.rollout("digits", "2", steps=[10, 50, 100], hold_s=10,
                                 guard=mlship.Guard(max_divergence=0.05, min_requests=20))
        assert rollout.status()["rollout_from"] == "1", "from: the default version when it started"
        assert rollout.state == "running" and rollout.status()["weight"] == 10
        ask_until_compared(server["digits"], X_test, 20)
        server.tick_policies()  # a breach is judged at once, the hold does not protect it
        status = rollout.status()
        assert status["state"] == "rolled_back", status
        assert "answers differ" in status["reason"], status["reason"]
        assert status["figures"]["divergence"] > 0.05
        assert any(a.get("kind") == "rollback" or "rollback" in json.dumps(a) for a in alerts), alerts
        answered = {server["digits"].predict(X_test[:1], routing_key=f"user-{i}") is not None for i in range(20)}
        assert answered == {True}
        assert server["digits"].shadow() is None, "the shadow ends with the rollout"
        text = server.metrics_text()
        assert 'mlship_rollout_rollbacks_total{model="digits",version="2"} 1' in text
        assert 'mlship_rollout_state{model="digits",version="2",state="rolled_back"} 1' in text


def test_a_healthy_candidate_takes_the_traffic_step_by_step(digits, mlp, digits_model):
    _, X_test, _, _ = digits
    clock = _core.FakeClock()
    same = mlship.load(mlp, example_inputs=X_test[:1])
    with mlship.serve(http=False, clock=clock, instances=2) as server:
        server.deploy(digits_model, name="digits", version="1")
        server.deploy(same, name="digits", version="2", default=False)
        rollout = server.rollout("digits", "2", steps=[10, 50, 100], hold_s=10,
                                 guard=mlship.Guard(max_divergence=0.01, max_error_rate=0.01, min_requests=20))
        seen = []
        for step, weight in enumerate((10, 50, 100)):
            status = rollout.status()
            assert (status["state"], status["step"], status["weight"]) == ("running", step, weight), status
            ask(server["digits"], X_test, 1000 * step, 300)
            if weight < 100:  # the divergence guard judges this step's own compared rows
                shadow = server["digits"].shadow()
                ask_until_compared(server["digits"], X_test, (shadow["rows"] if shadow else 0) + 20)
            server.tick_policies()
            assert rollout.status()["weight"] == weight, "a step holds for hold_s"
            clock.advance(11)
            server.tick_policies()
            seen.append(weight)
        status = rollout.status()
        assert status["state"] == "succeeded", status
        assert seen == [10, 50, 100]
        digits_info = next(m for m in server.models() if m["name"] == "digits")
        assert digits_info["aliases"]["stable"] == "2" and "canary" not in digits_info["aliases"]
        assert "succeeded" in repr(rollout) and "1 -> 2" in repr(rollout)


def test_the_rollout_guard_and_controls_refuse_what_they_cannot_do(digits_model):
    clock = _core.FakeClock()
    with pytest.raises(ValueError, match="guard_max_error_rate"):
        mlship.Guard(max_error_rate=2.0)
    with mlship.serve(http=False, clock=clock) as server:
        server.deploy(digits_model, name="digits", version="1")
        with pytest.raises(mlship.NotFoundError):
            server.rollout("digits", "7")
        with pytest.raises(mlship.NotFoundError):
            server.rollout_of("digits")
        server.deploy(digits_model, name="digits", version="2", default=False)
        rollout = server.rollout("digits", "2", steps=[20, 100], hold_s=5)
        with pytest.raises(mlship.FailedPreconditionError, match="rollout"):
            server.rollout("digits", "2")
        with pytest.raises(mlship.FailedPreconditionError, match="traffic_split"):
            server.configure("digits", traffic_split="1:50,2:50")
        assert rollout.pause()["state"] == "paused"
        clock.advance(100)
        server.tick_policies()
        assert rollout.status()["weight"] == 20, "paused: no step"
        assert rollout.resume()["state"] == "running"
        assert rollout.abort()["state"] == "aborted"
        server.configure("digits", traffic_split="1:50,2:50")  # the split is the operator's again


def test_an_ab_split_scores_each_version_on_delayed_shuffled_outcomes(digits, digits_model, weak_model):
    """Online accuracy per version from outcomes that arrive late and out of order equals
    what the same predictions score offline."""
    _, X_test, _, y_test = digits
    with mlship.serve(http=False) as server:
        server.deploy(digits_model, name="digits", version="1")
        server.deploy(weak_model, name="digits", version="2", default=False)
        server.configure("digits", traffic_split="1:50,2:50", track_outcomes=True)
        endpoint = server["digits"]
        truth, predicted_by = {}, {"1": [], "2": []}
        for i in range(300):
            x = X_test[i:i + 1]
            key = f"user-{i % 97}"  # a user's requests stay on one version
            scores = endpoint.predict(x, routing_key=key, request_id=f"q{i}")
            by_one = np.abs(scores - digits_model(x)).max()
            by_two = np.abs(scores - weak_model(x)).max()
            version = "1" if by_one < by_two else "2"  # batching may change the last bits
            predicted_by[version].append((f"q{i}", int(np.argmax(scores)), int(y_test[i])))
            truth[f"q{i}"] = int(y_test[i])
        assert len(predicted_by["1"]) > 60 and len(predicted_by["2"]) > 60, {k: len(v) for k, v in predicted_by.items()}
        ids = list(truth)
        random.Random(0).shuffle(ids)
        recorded = endpoint.record_outcomes(ids[:150], [truth[i] for i in ids[:150]])
        recorded2 = endpoint.record_outcomes(ids[150:] + ["never-asked"], [truth[i] for i in ids[150:]] + [3])
        assert recorded["matched"] + recorded2["matched"] == 300 and recorded2["unknown"] == 1
        assert endpoint.record_outcomes(ids[:5], [0] * 5) == {"matched": 0, "unknown": 5}, "each id counts once"
        online = endpoint.online()
        for version, rows in predicted_by.items():
            offline = sum(p == y for _, p, y in rows) / len(rows)
            assert online[version]["rows"] == len(rows)
            assert online[version]["accuracy"] == pytest.approx(offline, abs=1e-12), version
            assert online[version]["accuracy_low"] <= offline <= online[version]["accuracy_high"]
        assert online["1"]["accuracy"] > online["2"]["accuracy"]
        with pytest.raises(ValueError, match="one label per id"):
            endpoint.record_outcomes(["a", "b"], [1])


def test_outcomes_need_track_outcomes(digits_model, digits):
    with mlship.serve(http=False) as server:
        server.deploy(digits_model, name="digits", version="1")
        server["digits"].predict(digits[1][:1], request_id="x")
        with pytest.raises(mlship.FailedPreconditionError, match="track_outcomes"):
            server["digits"].record_outcomes(["x"], [1])


def test_a_rollout_over_http_and_the_cli_with_the_admin_token(tmp_path, digits, digits_model, weak_model):
    """Start, watch and stop a rollout with `mlship rollout`; outcomes over HTTP; the split's
    version in each response's header. The policy is ticked by the test (fake clock)."""
    _, X_test, _, y_test = digits
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", digits_model, aliases=["stable"])
    repo.add("digits", weak_model)
    clock = _core.FakeClock()
    with mlship.serve(repo.root, port=0, admin_token=ADMIN, clock=clock, instances=2) as server:
        server.set_default("digits", "1")
        server.configure("digits", track_outcomes=True)
        cli = [sys.executable, "-m", "mlship", "rollout", "digits", "--url", server.url]
        refused = subprocess.run(cli + ["--to", "2", "--admin-token", "wrong"], capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
        started = subprocess.run(cli + ["--to", "2", "--steps", "25,100", "--hold-s", "30", "--max-divergence",
                                        "0.05", "--min-requests", "20", "--admin-token", ADMIN, "--json"],
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        status = json.loads(started.stdout)
        assert (status["state"], status["weight"], status["rollout_from"]) == ("running", 25, "1")
        versions = set()
        outcomes = []
        for i in range(120):
            code, body, headers = request(server.url, "POST", "/v2/models/digits/infer",
                                          infer_body(digits_model.signature.inputs[0].name, X_test[i:i + 1]),
                                          headers={"mlship-routing-key": f"user-{i}"})
            assert code == 200, body
            assert headers["mlship-model-version"] == body["model_version"]
            versions.add(body["model_version"])
            outcomes.append({"id": body["id"], "label": int(y_test[i])})
        assert versions == {"1", "2"}
        code, body, _ = request(server.url, "POST", "/v2/models/digits/outcomes", {"outcomes": outcomes})
        assert code == 200 and body == {"matched": 120, "unknown": 0}
        code, body, _ = request(server.url, "POST", "/v2/models/digits/outcomes", {"outcomes": [{"id": 3}]})
        assert code == 400 and "label" in body["error"]
        ask_until_compared(server["digits"], X_test, 20)
        server.tick_policies()
        watched = subprocess.run(cli + ["--status", "--admin-token", ADMIN, "--json"], capture_output=True,
                                 text=True, timeout=60)
        status = json.loads(watched.stdout)
        assert status["state"] == "rolled_back" and "answers differ" in status["reason"], status
        code, body, _ = request(server.url, "POST", "/v2/repository/models/digits/rollout/status", {})
        assert code == 401, "the rollout endpoints need the admin token"
        assert 'mlship_rollout_rollbacks_total{model="digits",version="2"} 1' in server.metrics_text()
        code, board, _ = request(server.url, "GET", "/dashboard/data?model=digits")
        assert code == 200 and board["traffic"]["rollout"]["state"] == "rolled_back", board.get("traffic")
        assert sum(o["rows"] for o in board["traffic"]["online"].values()) == 120
    assert repo.aliases("digits")["stable"] == "1", "the rollback is saved in the repository"


class Picky(torch.nn.Module):
    """The digits MLP, except that it fails on any value over 100."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 100).any()):
            raise RuntimeError("picky: a value over 100")
        return self.inner(x)


def test_a_candidate_that_fails_a_fifth_of_its_requests_is_rolled_back_over_http(tmp_path, digits, mlp,
                                                                                digits_model):
    """Clients see failures only from the candidate's share until the guard judges; after the
    rollback the stable version answers everything."""
    _, X_test, _, _ = digits
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", digits_model, aliases=["stable"])
    repo.add("digits", mlship.load(torch.jit.script(Picky(mlp).eval()), example_inputs=X_test[:1]))
    clock = _core.FakeClock()
    name = digits_model.signature.inputs[0].name
    with mlship.serve(repo.root, port=0, admin_token=ADMIN, clock=clock) as server:
        server.set_default("digits", "1")
        code, status, _ = request(server.url, "POST", "/v2/repository/models/digits/rollout",
                                  {"rollout_to": "2", "rollout_steps": [20, 100], "rollout_hold_s": 60,
                                   "guard_max_error_rate": 0.05, "guard_min_requests": 20},
                                  headers={"Authorization": f"Bearer {ADMIN}"})
        assert code == 200 and status["state"] == "running", status

        def send(count: int, start: int) -> int:
            failed = 0
            for i in range(start, start + count):
                x = X_test[i % 300:i % 300 + 1] * (1000 if i % 5 == 0 else 1)  # one in five is "picky"
                code, body, _ = request(server.url, "POST", "/v2/models/digits/infer", infer_body(name, x),
                                        headers={"mlship-routing-key": f"user-{i}"})
                assert code in (200, 500), (code, body)
                failed += code != 200
            return failed

        failed = send(400, 0)
        assert 0 < failed < 40, f"{failed} of 400 failed: only the candidate's 20% can fail, a fifth of those"
        server.tick_policies()
        status = server.rollout_of("digits").status()
        assert status["state"] == "rolled_back" and "error rate" in status["reason"], status
        assert send(300, 1000) == 0, "after the rollback the stable version answers everything"


def test_a_repository_rollout_resumes_after_a_restart(tmp_path, digits_model, mlp, digits):
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", digits_model, aliases=["stable"])
    repo.add("digits", mlship.load(mlp, example_inputs=digits[1][:1]))
    clock = _core.FakeClock()
    with mlship.serve(repo.root, http=False, clock=clock) as server:
        server.set_default("digits", "1")
        server.rollout("digits", "2", steps=[10, 50, 100], hold_s=10, guard=mlship.Guard(min_requests=5))
        ask(server["digits"], digits[1], 0, 100)
        clock.advance(11)
        server.tick_policies()
        assert server.rollout_of("digits").status()["weight"] == 50
    with mlship.serve(repo.root, http=False, clock=_core.FakeClock()) as server:
        status = server.rollout_of("digits").status()
        assert (status["state"], status["step"], status["weight"]) == ("running", 1, 50), status
        server.rollout_of("digits").abort()
    with mlship.serve(repo.root, http=False, clock=_core.FakeClock()) as server:
        assert server.rollout_of("digits").state == "aborted"
        np.testing.assert_array_equal(server.predict("digits", digits[1][:4]), digits_model(digits[1][:4]))


def test_bad_outcome_bodies_are_refused_and_the_server_keeps_serving(digits_model, digits):
    with mlship.serve(port=0) as server:
        server.deploy(digits_model, name="digits", version="1", track_outcomes=True)
        path = "/v2/models/digits/outcomes"
        for body, code, words in (("not json", 400, "not valid JSON"),
                                  ({"outcomes": {"id": "a"}}, 400, "expected"),
                                  ({"outcomes": [{"id": "a", "label": "cat"}]}, 400, "numbers"),
                                  ({"outcomes": [{"id": "a", "label": 1}] * 100_001}, 413, "at most 100000")):
            status, answer, _ = request(server.url, "POST", path, body,
                                        headers={"Content-Type": "application/json"})
            assert status == code and words in answer["error"], (status, answer)
        name = digits_model.signature.inputs[0].name
        status, body, _ = request(server.url, "POST", "/v2/models/digits/infer", infer_body(name, digits[1][:1]))
        assert status == 200, body


def test_a_split_over_http_is_sticky_by_header_or_by_body_parameter(digits, digits_model, weak_model):
    """The routing key may come as the mlship-routing-key header or as parameters.routing_key
    in the body: the same key reaches the same version either way; a key that is not a short
    string is refused and the server keeps serving."""
    _, X_test, _, _ = digits
    name = digits_model.signature.inputs[0].name
    with mlship.serve(port=0) as server:
        server.deploy(digits_model, name="digits", version="1")
        server.deploy(weak_model, name="digits", version="2", default=False)
        server.configure("digits", traffic_split="1:50,2:50")
        seen: dict[str, set[str]] = {}
        for i in range(40):
            key = f"user-{i % 8}"
            by_header = {"headers": {"mlship-routing-key": key}}
            body = infer_body(name, X_test[i:i + 1])
            if i % 2:
                body["parameters"] = {"routing_key": key}
                by_header = {}
            code, answer, headers = request(server.url, "POST", "/v2/models/digits/infer", body, **by_header)
            assert code == 200, answer
            assert headers["mlship-model-version"] == answer["model_version"]
            seen.setdefault(key, set()).add(answer["model_version"])
        assert all(len(v) == 1 for v in seen.values()), f"a key reached two versions: {seen}"
        assert set().union(*seen.values()) == {"1", "2"}, f"8 keys, 50/50, all on one version: {seen}"
        for bad, why in ((7, "must be a string"), ("k" * 257, "at most 256 bytes")):
            body = infer_body(name, X_test[:1])
            body["parameters"] = {"routing_key": bad}
            code, answer, _ = request(server.url, "POST", "/v2/models/digits/infer", body)
            assert code == 400 and why in answer["error"], answer
        code, _, _ = request(server.url, "POST", "/v2/models/digits/infer", infer_body(name, X_test[:1]))
        assert code == 200
