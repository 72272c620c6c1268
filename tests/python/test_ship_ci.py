"""`mlship ci init`: the workflow passes GitHub's workflow schema, and its evaluate and canary steps work."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import mlship
import numpy as np
import pytest
import torch
import yaml
from mlship._cli import build_parser, main


def schema_check(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with the GitHub workflow schema it vendors (SchemaStore's), offline."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workflow_file(tmp_path) -> Path:
    path = tmp_path / ".github" / "workflows" / "mlship.yml"
    assert main(["ci", "init", "--model", "digits", "--repository", "models", "--validation", "val.npz",
                 "--resamples", "20", "-o", str(path)]) == 0
    return path


def test_the_workflow_passes_the_github_workflow_schema(workflow_file):
    checked = schema_check(workflow_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    flow = yaml.safe_load(workflow_file.read_text())
    jobs = flow["jobs"]
    assert list(jobs) == ["test", "evaluate", "ship"]
    for job in jobs.values():
        assert job.get("needs", "test") in jobs
    assert "github.ref == 'refs/heads/main'" in jobs["ship"]["if"]


def test_a_broken_workflow_fails_the_schema(workflow_file, tmp_path):
    flow = yaml.safe_load(workflow_file.read_text())
    del flow["jobs"]["test"]["runs-on"]
    flow["jobs"]["evaluate"]["steps"][0]["uses"] = 42
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(flow))
    assert schema_check(broken).returncode != 0


def test_every_mlship_command_in_the_workflow_parses(workflow_file):
    """Each `mlship ...` line of every step, its variables filled in, is accepted by this mlship's parser."""
    flow = yaml.safe_load(workflow_file.read_text())
    commands = []
    for job in flow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "")
            syntax = subprocess.run(["bash", "-n"], check=False, input=script, text=True, timeout=30)
            assert syntax.returncode == 0, script
            lines = script.replace("\\\n", " ").splitlines()  # continuation lines joined
            commands += [line for line in lines if line.startswith("mlship ")]
    assert {line.split()[1] for line in commands} == {"repo", "evaluate", "containerize", "k8s"}
    for line in commands:
        filled = re.sub(r"\$\{?(\w+)\}?", lambda m: str(flow["env"].get(m.group(1), "placeholder")), line)
        build_parser().parse_args(shlex.split(filled)[1:])  # SystemExit on an unknown subcommand or flag


def _run_step(flow: dict, job: str, name: str, cwd: Path) -> subprocess.CompletedProcess:
    (step,) = [s for s in flow["jobs"][job]["steps"] if s.get("name") == name]
    env = {**os.environ, **{k: str(v) for k, v in flow["env"].items()},
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", step["run"]], check=False, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def test_the_evaluate_and_canary_steps_run_as_written(workflow_file, tmp_path, mlp, digits):
    """The steps run in a checkout: a better candidate passes and becomes canary; a worse one fails the job."""
    _, X_test, _, y_test = digits
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    np.savez(checkout / "val.npz", X=X_test, y=y_test)
    repo = mlship.Repository(checkout / "models")
    example = torch.zeros(1, 64)
    torch.manual_seed(0)
    untrained = torch.nn.Sequential(torch.nn.Linear(64, 10)).eval()
    repo.add("digits", mlship.load(untrained, example_inputs=example), aliases=["stable"])
    repo.add("digits", mlship.load(mlp, example_inputs=example))
    flow = yaml.safe_load(workflow_file.read_text())

    evaluated = _run_step(flow, "evaluate", "Evaluate the newest version against stable", checkout)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "candidate vs stable: better" in evaluated.stdout
    moved = _run_step(flow, "ship", "Point canary at the newest version", checkout)
    assert moved.returncode == 0, moved.stderr
    assert repo.aliases("digits") == {"stable": "1", "canary": "2"}

    repo.set_alias("digits", "stable", "2")
    repo.add("digits", mlship.load(untrained, example_inputs=example))  # v3: worse than stable
    refused = _run_step(flow, "evaluate", "Evaluate the newest version against stable", checkout)
    assert refused.returncode != 0 and "candidate vs stable: worse" in refused.stdout


def test_init_refuses_to_overwrite_and_bad_names(workflow_file, capsys):
    assert main(["ci", "init", "--model", "digits", "-o", str(workflow_file)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["ci", "init", "--model", "digits", "--repository", "../elsewhere", "-o",
                 str(workflow_file.with_name("x.yml"))]) == 1
    assert "inside the repository checkout" in capsys.readouterr().err
