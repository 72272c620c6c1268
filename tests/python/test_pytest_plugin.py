"""mlship's pytest plugin, run as a user's test suite would run it: through pytester, with the
plugin found by its pytest11 entry point."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from mlship import _golden

pytest_plugins = ["pytester"]

# Each inner test writes where the model file is; a tiny model keeps the inner runs fast.
MODEL_TEST_HEADER = '''
import numpy as np, torch, mlship

torch.manual_seed(0)
NET = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh()).eval()
X = np.linspace(-1, 1, 40, dtype=np.float32).reshape(5, 8)
'''


@pytest.fixture
def suite(pytester):
    """A pytester whose inner runs see no warnings as errors and no outer configuration.

    Inner runs happen in this process, so inner test modules are named test_inner_* to stay clear
    of the suite's own modules in sys.modules."""
    pytester.makeini("[pytest]\n")
    return pytester


def test_the_plugin_is_registered_by_its_entry_point(suite):
    result = suite.runpytest("--help")
    result.stdout.fnmatch_lines(["*--mlship-update-golden*"])
    suite.makepyfile(test_inner_fixtures="def test_x(mlship_golden, mlship_deploy):\n    assert mlship_golden and mlship_deploy\n")
    suite.runpytest().assert_outcomes(passed=1)


def test_missing_golden_fails_then_update_writes_it_then_it_passes(suite):
    suite.makepyfile(test_inner_model=MODEL_TEST_HEADER + '''
def test_outputs(mlship_golden):
    model = mlship.load(NET, example_inputs=X[:1])
    mlship_golden.check(model(X), model=model)
''')
    first = suite.runpytest()
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines([("*no golden outputs at *golden/test_inner_model/test_outputs.npz; run pytest "
                                 "--mlship-update-golden to write them*")])
    written = suite.runpytest("--mlship-update-golden")
    written.assert_outcomes(passed=1)
    written.stdout.fnmatch_lines(["*mlship golden files written*", "*test_outputs.npz: new"])
    path = suite.path / "golden" / "test_inner_model" / "test_outputs.npz"
    golden = _golden.Golden.read(path)
    assert golden.dtypes == {"": "FP32"} and golden.arrays[""].shape == (5, 4)
    assert golden.environment["torch"] and golden.environment["mlship"] and len(golden.model_sha256) == 64
    suite.runpytest().assert_outcomes(passed=1)
    again = suite.runpytest("--mlship-update-golden")  # nothing differs: nothing is rewritten
    again.assert_outcomes(passed=1)
    assert "golden files written" not in again.stdout.str()


def test_a_changed_model_fails_with_a_readable_diff_and_regeneration_fixes_it(suite, monkeypatch):
    suite.makepyfile(test_inner_model=MODEL_TEST_HEADER + '''
import os

def test_outputs(mlship_golden):
    net = NET
    if os.environ.get("SHIFT"):
        with torch.no_grad():
            net[0].bias[2] += 0.5
    model = mlship.load(net, example_inputs=X[:1])
    mlship_golden.check({"scores": model(X), "label": model(X).argmax(1)}, name="v", model=net)
''')
    suite.runpytest("--mlship-update-golden").assert_outcomes(passed=1)
    monkeypatch.setenv("SHIFT", "1")
    failed = suite.runpytest()
    failed.assert_outcomes(failed=1)
    text = failed.stdout.str()
    assert "golden outputs differ from" in text and "test_outputs.v.npz" in text
    assert "outputs['scores']:" in text and "elements differ; worst at [" in text
    assert "tolerance: rtol 1e-05, atol 1e-06 (FP32 default); max |diff|" in text
    assert "model sha256 " in text and "if the new outputs are right, rewrite the file: pytest --mlship-update-golden" in text
    assert "Traceback" not in text  # the failure is the message, not a stack
    rewritten = suite.runpytest("--mlship-update-golden")
    rewritten.assert_outcomes(passed=1)
    rewritten.stdout.fnmatch_lines(["*test_outputs.v.npz: outputs differed (model sha256 *"])
    suite.runpytest().assert_outcomes(passed=1)


def test_tolerance_follows_the_dtype(suite, monkeypatch):
    suite.makepyfile(test_inner_dtypes='''
import os
import torch

def outputs(shift):
    base = torch.linspace(-2, 2, 64, dtype=torch.float64)
    return {"fp16": (base + shift).half(), "bf16": (base + shift).bfloat16(), "fp32": (base + shift).float()}

def test_half(mlship_golden):
    shift = float(os.environ.get("SHIFT", "0"))
    mlship_golden.check(outputs(shift)["fp16"], name="fp16")
    mlship_golden.check(outputs(shift)["bf16"], name="bf16")

def test_single(mlship_golden):
    mlship_golden.check(outputs(float(os.environ.get("SHIFT", "0")))["fp32"])
''')
    suite.runpytest("--mlship-update-golden").assert_outcomes(passed=2)
    # A shift of 4e-4 is rounding noise at half precision, a real change at float32.
    monkeypatch.setenv("SHIFT", "4e-4")
    result = suite.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert "test_inner_dtypes.py::test_single" in "\n".join(line for line in result.outlines if "FAILED" in line)
    golden = _golden.Golden.read(suite.path / "golden" / "test_inner_dtypes" / "test_half.bf16.npz")
    assert golden.dtypes == {"": "BF16"} and golden.arrays[""].dtype == np.float32


def test_a_changed_environment_widens_the_tolerance_and_says_so(suite, monkeypatch):
    suite.makepyfile(test_inner_env='''
import os
import numpy as np

def test_outputs(mlship_golden):
    mlship_golden.check(np.float32([1.0, 2.0, 3.0]) * (1 + float(os.environ.get("REL", "0"))))
''')
    suite.runpytest("--mlship-update-golden").assert_outcomes(passed=1)
    path = suite.path / "golden" / "test_inner_env" / "test_outputs.npz"
    golden = _golden.Golden.read(path)
    golden.environment["torch"] = "2.0.0"
    golden.write(path)
    monkeypatch.setenv("REL", "5e-5")  # beyond FP32's 1e-5, within 10x of it
    suite.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("REL", "5e-4")
    failed = suite.runpytest()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*tolerance: rtol 0.0001, atol 1e-05 (FP32 default x10, since torch changed)*",
                                 "*since the golden file was written*torch 2.0.0 -> *"])


def test_deploy_fixture_stops_the_deployment_after_a_failing_test(suite, tmp_path):
    url_file = tmp_path / "url.txt"
    suite.makepyfile(test_inner_deploy=MODEL_TEST_HEADER + f'''
def test_fails_while_serving(mlship_deploy):
    dep = mlship_deploy(mlship.load(NET, example_inputs=X[:1]), name="tiny")
    __import__("pathlib").Path({str(url_file)!r}).write_text(str(dep.port))
    assert dep.predict(X).shape == (5, 4)
    assert False, "deliberate failure"
''')
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*deliberate failure*"])
    port = int(url_file.read_text())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_golden_path_is_beside_the_test_and_safe():
    path = _golden.golden_path(Path("/repo/tests/test_a.py"), "test_b[fp16-x/y]", "logits v2")
    assert path == Path("/repo/tests/golden/test_a/test_b_fp16-x_y.logits_v2.npz")
