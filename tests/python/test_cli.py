"""`mlship serve` / `python -m mlship` and the Python-free `mlship-server`: same flags, same behaviour."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from http_helpers import infer_body, request
from server_process import start, stop

import mlship
from mlship._cli import build_parser, server_executable

PYTHON_SERVE = [sys.executable, "-m", "mlship", "serve"]


@pytest.fixture(scope="module")
def saved(mlp, tmp_path_factory) -> tuple[str, mlship.Model]:
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    path = str(tmp_path_factory.mktemp("cli") / "digits.pt")
    model.save(path)
    return path, model


@pytest.mark.parametrize("kind", ["python", "native"])
def test_serves_a_saved_model_and_drains_on_sigterm(saved, digits, kind):
    path, model = saved
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    proc, url = start([*base, path, "--name", "digits", "--port", "0", "--max-batch-size", "16"])
    try:
        x = digits[1][:4]
        status, body, _ = request(url, "POST", "/v2/models/digits/infer", infer_body(model.signature.inputs[0].name, x))
        assert status == 200, body
        np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(4, 10), model(x), atol=1e-5)
        assert request(url, "GET", "/v2/models/digits")[1]["name"] == "digits"
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "stopped" in out


def test_native_server_needs_a_token_off_loopback_and_reads_mlship_token(saved, monkeypatch):
    path, _ = saved
    refused = subprocess.run([str(server_executable()), path, "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "token" in refused.stderr
    env = {"MLSHIP_TOKEN": "tok-from-env", "PATH": "/usr/bin:/bin"}
    proc, url = start([str(server_executable()), path, "--port", "0"], env=env)
    try:
        assert request(url, "GET", "/v2")[0] == 401
        assert request(url, "GET", "/v2", headers={"Authorization": "Bearer tok-from-env"})[0] == 200
    finally:
        assert stop(proc, signal.SIGINT)[0] == 0


@pytest.mark.parametrize("kind", ["python", "native"])
def test_bad_command_lines_and_missing_models_fail_clearly(tmp_path, kind):
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    missing = subprocess.run([*base, str(tmp_path / "nope.pt"), "--port", "0"], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1
    assert "nope.pt" in missing.stderr
    unknown = subprocess.run([*base, "m.pt", "--max-batch", "3"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert "max-batch" in unknown.stderr


def test_python_and_native_servers_take_the_same_flags():
    native = subprocess.run([str(server_executable()), "--help"], capture_output=True, text=True, timeout=60)
    assert native.returncode == 0
    native_flags = set(re.findall(r"--[a-z][a-z0-9-]+", native.stdout)) - {"--help"}
    serve = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "serve")[1]
    python_flags = {s for action in serve._actions for s in action.option_strings if s.startswith("--")} - {"--help"}
    assert native_flags == python_flags
    assert {"--max-batch-size", "--max-delay-ms", "--timeout-ms", "--token", "--instances"} <= python_flags
    assert {"--reference", "--classifier", "--drift-window", "--fallback", "--slo-p99-ms", "--slo-restore-after-s"} \
        <= python_flags


def test_version_flag():
    out = subprocess.run([*PYTHON_SERVE[:3], "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and mlship.__version__ in out.stdout


@pytest.mark.parametrize("command", ["serve", "tune", "repo", "rollout", "optimize", "evaluate", "containerize",
                                     "k8s", "ci", "token"])
def test_every_subcommand_prints_its_help(command):
    """argparse formats help texts with %: a schema text holding "3%" once crashed --help."""
    out = subprocess.run([sys.executable, "-m", "mlship", command, "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage: mlship " + command in out.stdout


# ---- Monitoring flags: the same on both servers, checked before any model loads. ----


def _metrics(url: str) -> dict[str, float]:
    """Label-free view of GET /metrics: 'name{labels}' and plain 'name' (first series) -> value."""
    status, text, _ = request(url, "GET", "/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
            out.setdefault(series.split("{")[0], float(value))
    return out


def _wait_for(check, seconds: float = 20.0) -> bool:
    """Polls `check` every 0.1 s, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def reference_file(digits, tmp_path_factory) -> tuple[str, np.ndarray]:
    reference = digits[0][:1000]
    path = tmp_path_factory.mktemp("ref") / "reference.npy"
    np.save(path, reference)
    return str(path), reference


@pytest.mark.parametrize("kind", ["python", "native"])
def test_reference_drift_and_anomaly_flags_reach_the_monitor(saved, reference_file, kind):
    path, model = saved
    ref_path, reference = reference_file
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    proc, url = start([*base, path, "--name", "digits", "--port", "0", "--reference", ref_path, "--classifier", "true",
                       "--drift-window", "200", "--drift-min-samples", "100", "--drift-psi-threshold", "0.25",
                       "--drift-ks-pvalue", "0.001", "--drift-ks-min-statistic", "0.2",
                       "--drift-check-interval-s", "0.2", "--anomaly-tolerance", "0.5", "--reject-anomalies"])
    try:
        name = model.signature.inputs[0].name
        # A value 0.7 reference ranges above a feature's maximum: anomalous with --anomaly-tolerance 0.5
        # (the default, 1, would let it through), refused because of --reject-anomalies.
        spans = reference.max(axis=0) - reference.min(axis=0)
        feature = int(np.argmax(spans))
        odd = reference[:1].copy()
        odd[0, feature] = reference[:, feature].max() + 0.7 * spans[feature]
        status, body, _ = request(url, "POST", "/v2/models/digits/infer", infer_body(name, odd))
        assert status == 400 and "anomalous" in body["error"], body
        for start_row in range(0, 300, 50):  # reference rows: never anomalous
            rows = reference[start_row : start_row + 50]
            assert request(url, "POST", "/v2/models/digits/infer", infer_body(name, rows))[0] == 200
        # Checks every 0.2 s fill the gauges quickly; the windows hold --drift-window rows.
        assert _wait_for(lambda: _metrics(url).get("mlship_drift_window_rows") == 200), _metrics(url)
        assert _wait_for(lambda: _metrics(url).get("mlship_prediction_window_rows") == 200), _metrics(url)
        m = _metrics(url)
        assert m['mlship_requests_failed_total{model="digits",version="1",reason="input_anomaly"}'] == 1
        assert m["mlship_drift_alerts_total"] == 0, "reference rows do not drift"
    finally:
        code, out = stop(proc)
    assert code == 0, out


@pytest.fixture(scope="module")
def failing_pair(tmp_path_factory) -> tuple[str, str]:
    """A primary that raises when feature 0 > 100, and a known-good fallback, saved."""

    class FailsOnTrigger(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool((x[:, 0] > 100).any()):
                raise RuntimeError("the primary model broke")
            return x[:, :2]

    class KnownGood(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :2] * 0.0 + 7.0

    root = tmp_path_factory.mktemp("pair")
    example = torch.zeros(1, 4)
    mlship.load(FailsOnTrigger(), example_inputs=example).save(str(root / "primary.pt"))
    mlship.load(KnownGood(), example_inputs=example).save(str(root / "good.pt"))
    return str(root / "primary.pt"), str(root / "good.pt")


@pytest.mark.parametrize("kind", ["python", "native"])
def test_fallback_and_slo_flags_move_traffic_and_probation_moves_it_back(failing_pair, kind):
    primary, good = failing_pair
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    proc, url = start([*base, primary, "--name", "m", "--port", "0", "--fallback", good,
                       "--slo-max-error-rate", "0.2", "--slo-p99-ms", "5000", "--slo-window-s", "5",
                       "--slo-min-requests", "5", "--slo-restore-after-s", "2"])
    try:
        trigger = infer_body("x", np.full((1, 4), 1000.0, np.float32))
        assert _metrics(url)["mlship_fallback_active"] == 0
        for _ in range(6):
            assert request(url, "POST", "/v2/models/m/infer", trigger)[0] == 500
        assert _wait_for(lambda: _metrics(url)["mlship_fallback_active"] == 1, seconds=10)
        status, body, _ = request(url, "POST", "/v2/models/m/infer", trigger)
        assert status == 200 and body["outputs"][0]["data"] == [7.0, 7.0], body
        # --slo-restore-after-s 2: the primary gets traffic again by itself.
        assert _wait_for(lambda: _metrics(url)["mlship_fallback_active"] == 0, seconds=10)
        assert _metrics(url)["mlship_fallback_switches_total"] == 1
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "] fallback: traffic moved to the fallback version" in out  # the alert line on stderr


@pytest.fixture(scope="module")
def bad_references(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("badref")
    np.save(root / "ints.npy", np.zeros((4, 64), np.int64))
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "text.npy").write_text("not numpy at all")
    np.savez(root / "two.npz", a=np.zeros(3), b=np.ones(3))
    return {"ints": str(root / "ints.npy"), "objects": str(root / "objects.npy"), "text": str(root / "text.npy"),
            "npz": str(root / "two.npz"), "missing": str(root / "missing.npy")}


BAD_MONITORING_FLAGS = [
    (["--reference", "{missing}"], "cannot open"),
    (["--reference", "{ints}"], "expected float32"),
    (["--reference", "{objects}"], "float32"),
    (["--reference", "{text}"], "not a .npy file"),
    (["--reference", "{npz}"], "not a .npy file"),
    (["--classifier", "maybe"], "auto, true or false; got 'maybe'"),
    (["--drift-window", "0"], "drift_window must be in 1..67108864; was 0"),
    (["--drift-min-samples", "some"], "drift-min-samples"),
    (["--drift-psi-threshold", "-1"], "drift_psi_threshold must be in (0, 1e+06]; was -1"),
    (["--drift-check-interval-s", "0"], "drift_check_interval_s must be in (0, 86400]; was 0"),
    (["--anomaly-tolerance", "-1"], "anomaly_tolerance must be in [0, 1e+09]; was -1"),
    (["--fallback", "{missing}"], "a fallback needs slo_max_error_rate or slo_p99_ms"),
    (["--slo-p99-ms", "50"], "an slo needs fallback"),
    (["--fallback", "{missing}", "--slo-max-error-rate", "2"], "slo_max_error_rate must be in [0, 1]; was 2"),
    (["--fallback", "{missing}", "--slo-p99-ms", "-5"], "slo_p99_ms must be in [0, 3.6e+06]; was -5"),
    (["--fallback", "{missing}", "--slo-p99-ms", "5", "--slo-window-s", "0"], "slo_window_s must be in 1..3600; was 0"),
    (["--fallback", "{missing}", "--slo-p99-ms", "5", "--slo-restore-after-s", "-1"],
     "slo_restore_after_s must be in 0..31536000; was -1"),
]


@pytest.mark.parametrize("kind", ["python", "native"])
def test_bad_monitoring_flags_exit_2_naming_the_value(saved, bad_references, kind):
    path, _ = saved
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    for flags, says in BAD_MONITORING_FLAGS:
        args = [flag.format(**bad_references) for flag in flags]
        out = subprocess.run([*base, path, "--port", "0", *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert says in out.stderr, (args, out.stderr)


@pytest.mark.parametrize("kind", ["python", "native"])
def test_a_reference_that_does_not_fit_the_model_fails_to_serve(saved, tmp_path, kind):
    path, _ = saved
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 7), np.float32))
    base = PYTHON_SERVE if kind == "python" else [str(server_executable())]
    out = subprocess.run([*base, path, "--port", "0", "--reference", str(wrong)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1, out.stderr
    assert "[rows, 64]" in out.stderr and "got [10, 7]" in out.stderr, out.stderr


def test_python_flags_come_from_the_options_schema():
    from mlship._cli_flags import given_options

    args = build_parser().parse_args(
        ["serve", "m.pt", "--classifier", "false", "--drift-window", "2000", "--drift-min-samples", "100",
         "--drift-psi-threshold", "0.3", "--drift-check-interval-s", "2.5", "--reject-anomalies",
         "--slo-max-error-rate", "0.05", "--slo-p99-ms", "40", "--preferred-batch-sizes", "8,16", "--no-monitoring",
         "--max-loaded-versions", "3"]
    )
    assert given_options(args) == {
        "classifier": False, "drift_window": 2000, "drift_min_samples": 100, "drift_psi_threshold": 0.3,
        "drift_check_interval_s": 2.5, "reject_anomalies": True, "slo_max_error_rate": 0.05, "slo_p99_ms": 40.0,
        "preferred_batch_sizes": [8, 16], "monitoring": False, "max_loaded_versions": 3,
    }
    assert given_options(build_parser().parse_args(["serve", "m.pt"])) == {}, "unset flags leave the core's defaults"
