"""`mlship evaluate MODEL --data val.npz [--baseline MODEL] [--html out.html]`: the evaluate subcommand.

Exposes ``add_parser(subparsers)`` and ``run(args) -> int`` so the ``mlship`` command line
(``python -m mlship``) can mount it next to its other subcommands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mlship._cli_optimize import _read_npz
from mlship._errors import MlshipError

_EXAMPLE = "mlship evaluate digits.pt --data val.npz --baseline digits-v1.pt --html report.html"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``evaluate`` subcommand to an argparse subparsers object and returns its parser."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a model on labelled data; with --baseline, say whether it is better than another",
        description=(
            "Runs the rows of DATA.npz through MODEL (a model file or a KServe v2 model URL such as "
            "http://127.0.0.1:8000/v2/models/digits) and prints accuracy, precision/recall/F1, ROC-AUC, log "
            "loss, calibration error and the confusion matrix (classification) or MSE, MAE and R² "
            "(regression), with latency per call. With --baseline, prints each metric's difference with a "
            f"bootstrap confidence interval and a verdict. Example: {_EXAMPLE}"
        ),
    )
    parser.add_argument("model", help="a model file (TorchScript, .pt2) or a KServe v2 model URL")
    parser.add_argument("--data", required=True, metavar="DATA.npz",
                        help="numpy .npz with arrays X (inputs) and y (labels or targets), one row each")
    parser.add_argument("--baseline", metavar="MODEL", help="compare MODEL (the candidate) with this one")
    parser.add_argument("--task", choices=("classification", "regression"), default="classification",
                        help="default: classification")
    parser.add_argument("--output", metavar="NAME", help="the output to evaluate when the model has several")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per call (default 256)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="bootstrap resamples for --baseline (default 1000)")
    parser.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML report with plots")
    parser.add_argument("--json", metavar="REPORT.json", help="also write the report as JSON")
    parser.set_defaults(run=run)
    return parser


def _fail(message: str) -> int:
    print(f"mlship evaluate: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Runs ``mlship evaluate``; returns the process exit code (0 ok, 2 bad input, 1 other errors)."""
    import mlship

    try:
        X, y = _read_npz(args.data, labels=True)
    except ValueError as e:
        return _fail(str(e))
    output = int(args.output) if args.output is not None and args.output.isdigit() else args.output
    try:
        if args.baseline:
            report: Any = mlship.compare(args.model, args.baseline, X, y, task=args.task, batch_size=args.batch_size,
                                         output=output, n_resamples=args.resamples)
        else:
            report = mlship.evaluate(args.model, X, y, task=args.task, batch_size=args.batch_size, output=output)
    except (mlship.InvalidInputError, ValueError, TypeError) as e:
        return _fail(str(e))
    except MlshipError as e:
        print(f"mlship evaluate: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(report)
    if args.html:
        print(f"wrote {report.save_html(args.html)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
    return 0
