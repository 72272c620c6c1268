"""`mlship k8s`: every manifest passes its schema offline, and the values that matter agree with the server."""

from __future__ import annotations

import os
from pathlib import Path

import mlship
import numpy as np
import pytest
import yaml
from http_helpers import infer_body, request
from manifest_schemas import validate_kserve, validate_kubernetes
from mlship._cli import main, server_executable
from mlship._ship_layout import HEALTH_LIVE, HEALTH_READY, MODELS_DIR, PORT
from ship_helpers import running

IMAGE = "registry.example.com/digits:1.0"


@pytest.fixture(scope="module")
def model_file(digits_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("k8s") / "digits.pt"
    digits_model.save(str(path))
    return path


def generate(tmp_path: Path, *args: str) -> dict[str, list[dict]]:
    out = tmp_path / "out"
    assert main(["k8s", *args, "--image", IMAGE, "-o", str(out)]) == 0
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(out.iterdir())}


def objects(files: dict[str, list[dict]]) -> dict[str, dict]:
    return {doc["kind"]: doc for docs in files.values() for doc in docs}


def test_every_plain_manifest_passes_the_kubernetes_schema(model_file, tmp_path):
    files = generate(tmp_path, str(model_file), "--instances", "3", "--intra-op-threads", "2")
    kinds = objects(files)
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret",
                          "Kustomization"}
    for kind, obj in kinds.items():
        if kind != "Kustomization":
            validate_kubernetes(obj)
    assert sorted(kinds["Kustomization"]["resources"]) == sorted(n for n in files if n != "kustomization.yaml")
    assert (tmp_path / "out" / "secret.yaml").stat().st_mode & 0o077 == 0


def test_a_broken_manifest_fails_the_schema(model_file, tmp_path):
    """The validator is strict: an unknown field or a wrong type is caught, so the test above means something."""
    deployment = objects(generate(tmp_path, str(model_file)))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    with pytest.raises(Exception, match="paht"):
        validate_kubernetes(deployment)


def test_values_agree_ports_resources_and_grace_period(model_file, tmp_path):
    kinds = objects(generate(tmp_path, str(model_file), "--instances", "3", "--intra-op-threads", "2",
                             "--drain-timeout-ms", "45000"))
    dep, svc, hpa, pdb = (kinds[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler",
                                              "PodDisruptionBudget"))
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = container["args"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port == {"http": PORT}
    assert args[args.index("--port") + 1] == str(PORT) and args[args.index("--host") + 1] == "0.0.0.0"
    assert args[0] == f"{MODELS_DIR}/digits.pt"
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(PORT)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["httpGet"]["path"] == HEALTH_READY
    assert container["livenessProbe"]["httpGet"]["path"] == HEALTH_LIVE
    # CPU requested = instances x intra-op threads, and the server is told the same counts.
    assert container["resources"]["requests"]["cpu"] == "6"
    assert args[args.index("--instances") + 1] == "3" and args[args.index("--intra-op-threads") + 1] == "2"
    # The preStop wait plus the whole drain fit in the grace period.
    prestop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert args[args.index("--drain-timeout-ms") + 1] == "45000"
    assert prestop + 45 < pod["spec"]["terminationGracePeriodSeconds"]
    # The token comes from the Secret that is written.
    (token,) = [e for e in container["env"] if e["name"] == "MLSHIP_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"]["name"] == kinds["Secret"]["metadata"]["name"]
    assert "--token" not in args
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"] == labels == svc["spec"]["selector"]
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_the_container_args_start_the_real_server_and_its_probe_paths_answer(model_file, tmp_path, digits):
    """Runs mlship-server with the Deployment's own arguments (the image's paths mapped to this machine,
    loopback instead of 0.0.0.0): the probe and scrape paths exist, inference works, SIGTERM drains in time."""
    kinds = objects(generate(tmp_path, str(model_file), "--instances", "1", "--drain-timeout-ms", "5000"))
    pod = kinds["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = list(container["args"])
    args[0] = str(model_file)
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    token = kinds["Secret"]["stringData"]["token"]
    env = {**os.environ, "MLSHIP_TOKEN": token}
    with running([str(server_executable()), *args], env=env) as server:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            status, _, _ = request(server.url, "GET", container[probe]["httpGet"]["path"])
            assert status == 200, probe
        scrape = pod["metadata"]["annotations"]["prometheus.io/path"]
        status, body, _ = request(server.url, "GET", scrape, headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and b"mlship_requests" in body
        assert request(server.url, "GET", scrape)[0] == 401  # the scrape job must send the token
        x = digits[1][:4]
        status, body, _ = request(server.url, "POST", "/v2/models/digits/infer", infer_body("x", x),
                                  headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        expected = mlship.load(str(model_file))(x)
        np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(4, 10), expected, rtol=1e-4,
                                   atol=1e-5)
        prestop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        code, out = server.terminate(timeout=pod["spec"]["terminationGracePeriodSeconds"] - prestop)
        assert code == 0 and "stopped" in out


def test_kserve_manifests_fit_kserve_types_and_each_other(model_file, tmp_path):
    kinds = objects(generate(tmp_path, "--kserve", str(model_file)))
    assert set(kinds) == {"ServingRuntime", "InferenceService", "Secret", "Kustomization"}
    runtime, isvc = kinds["ServingRuntime"], kinds["InferenceService"]
    validate_kserve(runtime)
    validate_kserve(isvc)
    validate_kubernetes(kinds["Secret"])
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in [f["name"] for f in runtime["spec"]["supportedModelFormats"]]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == PORT
    assert container["readinessProbe"]["httpGet"]["path"] == HEALTH_READY
    grace = isvc["spec"]["predictor"]["terminationGracePeriodSeconds"]
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] + 30 < grace  # the default 30 s drain


def test_a_wrong_kserve_field_is_caught(model_file, tmp_path):
    runtime = objects(generate(tmp_path, "--kserve", str(model_file)))["ServingRuntime"]
    runtime["spec"]["supportedModelFormat"] = runtime["spec"].pop("supportedModelFormats")
    with pytest.raises(AssertionError, match="supportedModelFormat"):
        validate_kserve(runtime)
    runtime = objects(generate(tmp_path, "--kserve", str(model_file)))["ServingRuntime"]
    runtime["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(AssertionError, match="containerPort|8080"):
        validate_kserve(runtime)


def test_a_repository_is_served_from_the_image_folder(digits_model, tmp_path):
    repo = mlship.Repository(tmp_path / "models")
    repo.add("digits", digits_model, aliases=["stable"])
    kinds = objects(generate(tmp_path, "--repository", str(tmp_path / "models"), "--token-secret", "prod-token"))
    assert "Secret" not in kinds  # an existing Secret is referenced, none written
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["--repository", MODELS_DIR]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]} == {"prod-token"}
    validate_kubernetes(kinds["Deployment"])


@pytest.mark.parametrize("args, message", [
    (["--token", "abc"], "--token is set by the image"),
    (["--port", "9000"], "--port is set by the image"),
    (["--min-replicas", "5", "--max-replicas", "3"], "min"),
])
def test_bad_flags_are_refused_with_the_reason(model_file, tmp_path, capsys, args, message):
    code = main(["k8s", str(model_file), "--image", IMAGE, "-o", str(tmp_path / "out"), *args])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
