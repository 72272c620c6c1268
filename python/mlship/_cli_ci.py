"""``mlship ci init``: write a GitHub Actions workflow for a model repository (see ``_ship_ci``).

Exposes ``add_parser(subparsers)`` like the other subcommands.
"""

from __future__ import annotations

import argparse
from typing import Any

_EXAMPLE = "mlship ci init --model digits --repository models --validation data/val.npz"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``ci`` (with its subcommand ``init``) and returns its parser."""
    from mlship._ship_ci import CiOptions

    defaults = CiOptions(model="model")
    parser = subparsers.add_parser("ci", help="continuous integration and delivery for a model repository",
                                   description=f"Example: {_EXAMPLE}")
    commands = parser.add_subparsers(dest="ci_command", required=True)
    init = commands.add_parser(
        "init", allow_abbrev=False, help="write a GitHub Actions workflow: test, evaluate, build, push, canary",
        description="Writes .github/workflows/mlship.yml: pytest (with mlship's golden-output plugin), the newest "
        "version evaluated against the stable alias (fails when worse), then on main: canary moved to the newest "
        "version, the image built with mlship containerize and pushed, and its manifests (mlship k8s) kept as an "
        f"artifact. Example: {_EXAMPLE}")
    init.add_argument("--model", required=True, help="the model's name in the repository folder")
    init.add_argument("--repository", default=defaults.repository, metavar="DIR",
                      help=f"the model repository, relative to the checkout (default: {defaults.repository})")
    init.add_argument("--validation", default=defaults.validation, metavar="DATA.npz",
                      help=f"labelled rows (arrays X and y) for the evaluation (default: {defaults.validation})")
    init.add_argument("--resamples", type=int, default=defaults.resamples,
                      help=f"bootstrap resamples behind the evaluation's verdict (default: {defaults.resamples})")
    init.add_argument("--tests", default=defaults.tests, metavar="DIR", help=f"pytest folder (default: {defaults.tests})")
    init.add_argument("--image", default=defaults.image, metavar="NAME",
                      help="image name, tagged with the commit (default: ghcr.io/${{ github.repository }})")
    init.add_argument("--registry", default=defaults.registry, help=f"registry to log in to (default: {defaults.registry})")
    init.add_argument("--python", default=defaults.python, help=f"Python version (default: {defaults.python})")
    init.add_argument("--install", default=defaults.install, metavar="COMMAND",
                      help="shell command installing torch and mlship on the runner")
    init.add_argument("--output", "-o", default=".github/workflows/mlship.yml", metavar="FILE",
                      help="where to write (default: .github/workflows/mlship.yml)")
    init.set_defaults(run=_init)
    return parser


def _init(args: argparse.Namespace) -> int:
    from mlship import _ship_ci

    opts = _ship_ci.CiOptions(model=args.model, repository=args.repository, validation=args.validation,
                              image=args.image, registry=args.registry, tests=args.tests, python=args.python,
                              install=args.install, resamples=args.resamples)
    try:
        path = _ship_ci.write(args.output, opts)
    except FileExistsError as e:
        raise ValueError(str(e)) from None
    print(f"mlship ci init: wrote {path}")
    return 0
