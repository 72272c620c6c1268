"""`mlship evaluate MODEL --data val.npz [--baseline MODEL] [--html out.html]` through the mlship command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import mlship
from mlship._cli import main


@pytest.fixture(scope="module")
def files(digits_model, weak_model, digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-evaluate")
    _, X, _, y = digits
    digits_model.save(str(root / "digits.pt"))
    weak_model.save(str(root / "weak.pt"))
    np.savez(root / "val.npz", X=X, y=y)
    return root


def test_evaluate_prints_the_report_and_writes_html_and_json(files, capsys):
    code = main(["evaluate", str(files / "digits.pt"), "--data", str(files / "val.npz"), "--html",
                 str(files / "report.html"), "--json", str(files / "report.json"), "--batch-size", "128"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("mlship.evaluate: classification on ")
    assert "\naccuracy ↑" in out and "\nroc_auc ↑" in out and "latency per call (4 calls)" in out
    report = json.loads((files / "report.json").read_text())
    assert re.search(rf"\naccuracy ↑ +{report['metrics']['accuracy']:.4f}\s", out)
    page = (files / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and f"wrote {files / 'report.html'}" in out


def test_evaluate_with_a_baseline_prints_the_verdict(files, capsys):
    code = main(["evaluate", str(files / "digits.pt"), "--data", str(files / "val.npz"), "--baseline",
                 str(files / "weak.pt"), "--resamples", "100", "--json", str(files / "cmp.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "candidate is better than baseline on accuracy" in out
    assert json.loads((files / "cmp.json").read_text())["verdict"] == "better"


def test_bad_data_is_a_usage_error_with_exit_code_2(files, tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", features=np.zeros((3, 64)))
    assert main(["evaluate", str(files / "digits.pt"), "--data", str(tmp_path / "bad.npz")]) == 2
    assert "must hold arrays 'X' and 'y'; it holds ['features']" in capsys.readouterr().err
    np.savez(tmp_path / "short.npz", X=np.zeros((3, 64), np.float32), y=np.zeros(2, np.int64))
    assert main(["evaluate", str(files / "digits.pt"), "--data", str(tmp_path / "short.npz")]) == 2
    assert "X has 3 rows but y has 2" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.pt"), "--data", str(files / "val.npz")]) == 1
    assert "ModelLoadError" in capsys.readouterr().err


def test_the_installed_command_has_the_subcommand(files):
    done = subprocess.run([sys.executable, "-m", "mlship", "evaluate", "--help"], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "--baseline MODEL" in done.stdout and "KServe v2 model URL" in done.stdout
    assert mlship.__version__
