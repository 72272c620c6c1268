"""``mlship ci init``: a GitHub Actions workflow for a repository that holds an mlship model repository.

The pipeline: test (pytest, with mlship's plugin for golden outputs), evaluate the newest version
against the one the ``stable`` alias names and fail when it is worse, then, on the main branch,
point ``canary`` at it, build the image (``mlship containerize``), push it, and write the
manifests for that image (``mlship k8s``) as an artifact. Every step's script reads its inputs
from the workflow's ``env``, so the steps run unchanged outside GitHub (the tests run them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_.-]+")

# The newest version's and the stable version's model files, from the verified manifests.
_EVALUATE = """\
set -euo pipefail
model_file() {  # the verified manifest of a version (default: the newest) names its folder and file
  mlship repo show "$MODEL" $1 -r "$REPOSITORY" |
    python -c 'import json, sys; m = json.load(sys.stdin); print(m["path"] + "/" + m["model"])'
}
candidate=$(model_file "")
baseline=$(model_file stable)
mlship evaluate "$candidate" --data "$VALIDATION" --baseline "$baseline" --resamples "$RESAMPLES" \\
  --json evaluation.json
verdict=$(python -c 'import json; print(json.load(open("evaluation.json"))["verdict"])')
echo "candidate vs stable: $verdict"
test "$verdict" != worse
"""

_CANARY = """\
set -euo pipefail
newest=$(python -c 'import os, mlship
print(mlship.Repository(os.environ["REPOSITORY"]).versions(os.environ["MODEL"])[-1])')
mlship repo alias "$MODEL" canary "$newest" -r "$REPOSITORY"
"""


@dataclass(frozen=True)
class CiOptions:
    """What the workflow is for.

    model: the model's name in the repository folder; repository: that folder (relative to the
    checkout); validation: an ``.npz`` with ``X`` and ``y`` for the evaluation; image: where the
    image is pushed (``${{ github.repository }}`` and the like are allowed); install: the command
    that installs torch and mlship on the runner.
    """

    model: str
    repository: str = "models"
    validation: str = "data/validation.npz"
    image: str = "ghcr.io/${{ github.repository }}"
    registry: str = "ghcr.io"
    tests: str = "tests"
    python: str = "3.11"
    install: str = "pip install torch==2.13.0 numpy && pip install --no-build-isolation mlship"
    resamples: int = 1000

    def check(self) -> None:
        """Raises ValueError naming a value that would break the workflow."""
        if self.resamples < 10:
            raise ValueError(f"--resamples {self.resamples}: too few for a confidence interval; expected >= 10")
        if not _NAME.fullmatch(self.model):
            raise ValueError(f"--model {self.model!r}: a model name has letters, digits, '_', '.', '-' only")
        for flag, value in (("--repository", self.repository), ("--validation", self.validation),
                            ("--tests", self.tests)):
            if not value or Path(value).is_absolute() or ".." in Path(value).parts:
                raise ValueError(f"{flag} {value!r}: expected a path inside the repository checkout")


def workflow(opts: CiOptions) -> dict[str, Any]:
    """The workflow as the mapping that is written as YAML."""
    opts.check()
    setup = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": opts.python}},
        {"name": "Install torch and mlship", "run": opts.install},
    ]
    on_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    return {
        "name": f"mlship {opts.model}",
        "on": {"push": {"branches": ["main"]}, "pull_request": {}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": "mlship-${{ github.ref }}", "cancel-in-progress": True},
        "env": {"MODEL": opts.model, "REPOSITORY": opts.repository, "VALIDATION": opts.validation,
                "IMAGE": opts.image, "TAG": "${{ github.sha }}",
                # Bootstrap resamples behind the verdict's confidence intervals.
                "RESAMPLES": str(opts.resamples)},
        "jobs": {
            "test": {
                "runs-on": "ubuntu-latest",
                "steps": [*setup,
                          {"name": "Verify the model repository", "run": 'mlship repo verify -r "$REPOSITORY"'},
                          {"name": "Test (golden outputs through mlship's pytest plugin)",
                           "run": f"python -m pytest -q {opts.tests}"}],
            },
            "evaluate": {
                "needs": "test",
                "runs-on": "ubuntu-latest",
                "steps": [*setup,
                          {"name": "Evaluate the newest version against stable", "run": _EVALUATE},
                          {"name": "Keep the evaluation", "if": "always()", "uses": "actions/upload-artifact@v4",
                           "with": {"name": "evaluation", "path": "evaluation.json"}}],
            },
            "ship": {
                "needs": "evaluate",
                "if": on_main,
                "runs-on": "ubuntu-latest",
                "permissions": {"contents": "read", "packages": "write"},
                "steps": [*setup,
                          {"name": "Install podman (and busybox for the image's health check)",
                           "run": "sudo apt-get update && sudo apt-get install -y podman busybox-static"},
                          {"name": "Point canary at the newest version", "run": _CANARY},
                          {"name": "Build the image", "run": 'mlship containerize --repository "$REPOSITORY" '
                           '-t "$IMAGE:$TAG"'},
                          {"name": "Push the image",
                           "run": f'echo "${{{{ secrets.GITHUB_TOKEN }}}}" | podman login {opts.registry} '
                           '-u "${{ github.actor }}" --password-stdin\npodman push "$IMAGE:$TAG"'},
                          {"name": "Manifests for this image", "run": 'mlship k8s --repository "$REPOSITORY" '
                           '--image "$IMAGE:$TAG" --token-secret "$MODEL-token" -o k8s'},
                          {"uses": "actions/upload-artifact@v4", "with": {"name": "k8s", "path": "k8s/"}}],
            },
        },
    }


def write(path: str | Path, opts: CiOptions) -> Path:
    """Writes the workflow YAML (refusing to overwrite an existing file)."""
    from mlship._ship_yaml import dump_all

    out = Path(path)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or pass --output elsewhere")
    text = "# Written by `mlship ci init`: test, evaluate against stable, then ship the image and move canary.\n"
    text += dump_all([workflow(opts)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
