"""`mlship optimize MODEL --val data.npz --max-drop 0.01 -o out.pt`: the optimize subcommand.

Exposes ``add_parser(subparsers)`` and ``run(args) -> int`` so the ``mlship`` command line
(``python -m mlship``) can mount it next to its other subcommands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from mlship._errors import MlshipError, ModelLoadError
from mlship._metrics import METRICS
from mlship._optimize import METHODS, OPTIONAL_METHODS

_EXAMPLE = "mlship optimize digits.pt --val val.npz --max-drop 0.01 -o digits-small.pt"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``optimize`` subcommand to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "optimize",
        help="try int8/fp16/bf16, pruning and low-rank on a model; keep the fastest within an accuracy budget",
        description=(
            "Builds each candidate, measures size, batch-1 and batch-32 latency, the metric on the validation "
            "data and the largest output difference, prints the table, and saves the best candidate. "
            f"Example: {_EXAMPLE}"
        ),
    )
    parser.add_argument("model", help="a TorchScript file (saved by mlship, or with --val rows as example inputs)")
    parser.add_argument("--val", required=True, metavar="DATA.npz",
                        help="numpy .npz with arrays X (inputs) and y (labels or targets), one row each")
    parser.add_argument("--max-drop", type=float, default=0.01,
                        help="largest allowed metric drop, in the metric's units (default 0.01 = 1 point)")
    parser.add_argument("--metric", choices=METRICS, default="accuracy", help="default: accuracy")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated; default: {','.join(METHODS)}; also {','.join(OPTIONAL_METHODS)} "
                             "(pt2: AOTInductor compilation, seconds to minutes). Combinations like low_rank+int8 "
                             "are added when both parts are listed")
    parser.add_argument("--calibration", metavar="DATA.npz",
                        help="numpy .npz with an array X of inputs for the ranges of int8 convolutions "
                             "(default: the --val inputs)")
    parser.add_argument("-o", "--output", metavar="OUT.pt", help="save the best model here")
    parser.add_argument("--json", metavar="REPORT.json", help="also write the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _fail(message: str) -> int:
    print(f"mlship optimize: error: {message}", file=sys.stderr)
    return 2


def _read_npz(path: str, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays X (or x) and, when ``labels``, y from a .npz file; ValueError saying what is missing."""
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            x_key = next((k for k in ("X", "x") if k in data), None)
            if x_key is None or (labels and "y" not in data):
                wanted = "arrays 'X' and 'y'" if labels else "an array 'X'"
                raise ValueError(f"{path} must hold {wanted}; it holds {keys or 'nothing'}")
            return data[x_key], data["y"] if labels else None
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e}") from None


def run(args: argparse.Namespace) -> int:
    """Runs ``mlship optimize``; returns the process exit code (0 ok, 2 bad input, 1 other errors)."""
    import mlship

    try:
        X, y = _read_npz(args.val, labels=True)
        calibration = _read_npz(args.calibration, labels=False)[0] if args.calibration else None
    except ValueError as e:
        return _fail(str(e))
    try:
        try:
            model = mlship.load(args.model)
        except ModelLoadError as e:
            if "no saved signature" not in str(e):
                raise
            model = mlship.load(args.model, example_inputs=X[:1])
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        report = mlship.optimize(model, validation=(X, y), metric=args.metric, max_drop=args.max_drop,
                                 methods=methods, progress=not args.no_progress, calibration=calibration)
    except (mlship.InvalidInputError, ValueError) as e:
        return _fail(str(e))
    except MlshipError as e:
        print(f"mlship optimize: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(report)
    if args.output:
        report.best.save(args.output)
        print(f"saved {report.best_method} to {args.output} (load it with mlship.load; it needs mlship installed)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
    return 0
