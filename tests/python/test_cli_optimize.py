"""`mlship optimize` through its run() entry point (the command line mounts it as a subcommand)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import mlship
from mlship import _cli_optimize


@pytest.fixture(scope="module")
def saved(mlp, digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    _, X_test, _, y_test = digits
    model_path = root / "digits.pt"
    mlship.load(mlp, example_inputs=X_test[:1]).save(str(model_path))
    val = root / "val.npz"
    np.savez(val, X=X_test, y=y_test)
    return root, model_path, val


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mlship")
    _cli_optimize.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["optimize", *argv])


def test_prints_the_table_and_saves_the_best(saved, digits, capsys):
    root, model_path, val = saved
    out, report_json = root / "best.pt", root / "report.json"
    args = parse(str(model_path), "--val", str(val), "--max-drop", "0.02", "--methods", "int8,prune",
                 "-o", str(out), "--json", str(report_json), "--no-progress")
    assert args.run is _cli_optimize.run
    assert _cli_optimize.run(args) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("method")
    for method in ("original", "int8", "prune", "prune+int8"):
        assert f"\n{method} " in printed
    report = json.loads(report_json.read_text())
    assert f"saved {report['best']} to {out}" in printed
    _, X_test, _, _ = digits
    assert mlship.load(out)(X_test[:4]).shape == (4, 10)
    assert report["max_drop"] == 0.02


def test_a_plain_torchscript_file_gets_its_signature_from_the_validation_rows(mlp, saved, tmp_path, capsys):
    import torch

    _, _, val = saved
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(mlp), str(plain))
    assert _cli_optimize.run(parse(str(plain), "--val", str(val), "--methods", "prune", "--no-progress")) == 0
    assert "\nprune " in capsys.readouterr().out


def test_validation_file_without_X_and_y_is_a_usage_error(saved, tmp_path, capsys):
    _, model_path, _ = saved
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=np.zeros((3, 64), np.float32))
    assert _cli_optimize.run(parse(str(model_path), "--val", str(bad))) == 2
    assert "must hold arrays 'X' and 'y'; it holds ['features']" in capsys.readouterr().err


def test_validation_of_the_wrong_shape_is_a_usage_error(saved, tmp_path, capsys):
    _, model_path, _ = saved
    bad = tmp_path / "narrow.npz"
    np.savez(bad, X=np.zeros((3, 63), np.float32), y=np.zeros(3, np.int64))
    assert _cli_optimize.run(parse(str(model_path), "--val", str(bad), "--no-progress")) == 2
    assert "has shape (3, 63) but the model's signature expects [-1, 64]" in capsys.readouterr().err


def test_unknown_method_is_a_usage_error(saved, capsys):
    _, model_path, val = saved
    assert _cli_optimize.run(parse(str(model_path), "--val", str(val), "--methods", "int8,int4")) == 2
    assert "unknown method 'int4'" in capsys.readouterr().err


def test_missing_model_file_is_reported(saved, tmp_path, capsys):
    _, _, val = saved
    assert _cli_optimize.run(parse(str(tmp_path / "nope.pt"), "--val", str(val))) == 1
    assert "ModelLoadError" in capsys.readouterr().err


def test_calibration_file_feeds_int8_convolutions(tmp_path, capsys):
    """`--calibration X.npz`: a small CNN's int8 candidate calibrates its convolutions on it."""
    import torch

    torch.manual_seed(31)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 4)).eval()
    images = torch.randn(40, 1, 8, 8)
    model_path, val, calibration = tmp_path / "cnn.pt", tmp_path / "val.npz", tmp_path / "calibration.npz"
    mlship.load(net, example_inputs=images[:1]).save(str(model_path))
    np.savez(val, X=images[:20].numpy(), y=net(images[:20]).argmax(1).numpy())
    np.savez(calibration, X=images[20:].numpy())
    report_json = tmp_path / "report.json"
    args = parse(str(model_path), "--val", str(val), "--calibration", str(calibration), "--methods", "int8",
                 "--max-drop", "1", "--json", str(report_json), "--no-progress")
    assert _cli_optimize.run(args) == 0
    details = json.loads(report_json.read_text())["details"]["int8"]["int8"]["details"]
    assert any(k.startswith("int8 convolutions, best us at batch 1 (fp32 / ") for k in details), details
    if "convolutions" in details:
        assert "ranges from 20 calibration row(s)" in details["convolutions"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=images[:2].numpy())
    assert _cli_optimize.run(parse(str(model_path), "--val", str(val), "--calibration", str(bad))) == 2
    assert "must hold an array 'X'; it holds ['features']" in capsys.readouterr().err
