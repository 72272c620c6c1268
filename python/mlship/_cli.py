"""The ``mlship`` command line: ``mlship serve MODEL ...`` (also ``python -m mlship``).

The flags of ``serve`` are the same as the C++ ``mlship-server``'s, so a model moves
between the two unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlship import _cli_optimize, _errors


def server_executable() -> Path:
    """Where the Python-free ``mlship-server`` executable is installed.

    It is installed next to the compiled ``_core`` module (``mlship/bin/``); in an
    editable install that is site-packages, not the source tree.
    """
    from mlship import _core

    return Path(_core.__file__).with_name("bin") / "mlship-server"


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        allow_abbrev=False,
        help="serve a saved model over KServe v2 HTTP",
        description="Serves a saved model (TorchScript .pt or .pt2) with dynamic batching until "
        "SIGINT/SIGTERM, then drains. The token comes from MLSHIP_TOKEN unless --token is given.",
    )
    p.add_argument("model", help="model file written by mlship (Model.save) or torch.jit.save")
    p.add_argument("--name", default="model", help="model name in URLs: /v2/models/NAME (default: model)")
    p.add_argument("--model-version", default="1", help="version served (default: 1)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    p.add_argument("--max-batch-size", type=int, default=32, help="most rows in one forward pass (default: 32)")
    p.add_argument("--max-delay-ms", type=float, default=0.0,
                   help="how long the oldest request may wait for company (default: 0.0)")
    p.add_argument("--max-queue-size", type=int, default=1024, help="requests that may wait; beyond it 503")
    p.add_argument("--timeout-ms", type=float, default=0.0, help="queued longer than this: 504; 0 = none")
    p.add_argument("--instances", type=int, default=None, help="worker threads running batches (default: half the cores)")
    p.add_argument("--intra-op-threads", type=int, default=None, help="torch threads per worker (default: 1)")
    p.add_argument("--token", default=None, help="bearer token (prefer the MLSHIP_TOKEN environment variable)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback host without a token")
    p.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default 64 MiB)")
    p.add_argument("--max-connections", type=int, default=None, help="most open connections (default 1024)")
    p.add_argument("--io-threads", type=int, default=None, help="network I/O threads (default 2)")
    _add_monitoring(p)
    p.set_defaults(run=_serve)


def _add_monitoring(p: argparse.ArgumentParser) -> None:
    """The monitoring flags; the same as mlship-server's (cpp/src/tools/server_flags.cc)."""
    p.add_argument("--reference", default=None, metavar="FILE.npy",
                   help="a .npy file (float32/float64) shaped like the model's first input, e.g. a sample of the "
                   "training data: live inputs (and a classifier's predicted classes) are compared with it for "
                   "drift and anomalies")
    p.add_argument("--classifier", default="auto",
                   help="watch the predicted-class mix for drift: auto (one float output [rows, classes >= 2]), "
                   "true or false (default: auto)")
    p.add_argument("--drift-window", type=int, default=None, help="live rows kept for drift (default 5000)")
    p.add_argument("--drift-min-samples", type=int, default=None,
                   help="rows needed before drift is judged (default 500)")
    p.add_argument("--drift-psi-threshold", type=float, default=None,
                   help="PSI at or above which a feature (or the class mix) drifted (default 0.2)")
    p.add_argument("--drift-ks-pvalue", type=float, default=None,
                   help="KS p-value below which a feature drifted, with a large enough D (default 0.01; 0: PSI only)")
    p.add_argument("--drift-ks-min-statistic", type=float, default=None,
                   help="smallest KS D that counts as drift (default 0.1)")
    p.add_argument("--drift-check-interval-s", type=float, default=None,
                   help="seconds between drift checks (default 10)")
    p.add_argument("--anomaly-tolerance", type=float, default=None,
                   help="reference ranges beyond min/max a value may lie before it is anomalous (default 1)")
    p.add_argument("--reject-anomalies", action="store_true",
                   help="answer 400 to inputs with NaN, Inf or out-of-range values instead of only counting them")
    p.add_argument("--fallback", default=None, metavar="MODEL",
                   help="a known-good model file taking the same inputs; traffic moves to it when the SLO is "
                   "breached (needs --slo-max-error-rate or --slo-p99-ms)")
    p.add_argument("--slo-max-error-rate", type=float, default=None,
                   help="largest share (0..1) of server-side failures over the SLO window")
    p.add_argument("--slo-p99-ms", type=float, default=None,
                   help="largest p99 latency of successful requests over the SLO window, in ms")
    p.add_argument("--slo-window-s", type=int, default=None, help="seconds the SLO judgement looks back (default 30)")
    p.add_argument("--slo-min-requests", type=int, default=None,
                   help="requests the SLO window needs before it is judged (default 20)")
    p.add_argument("--slo-restore-after-s", type=int, default=None,
                   help="probation: seconds on the fallback before traffic moves back by itself "
                   "(default: only by hand)")


class _BadFlag(Exception):
    """A flag value that cannot be used; ``mlship serve`` exits 2, like argparse does."""


_CLASSIFIER = {"auto": None, "true": True, "false": False}


def _read_reference(path: str) -> Any:
    """The --reference array: a float32/float64 .npy file, never unpickled."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise _BadFlag(f"--reference {path}: cannot open it (missing or unreadable)") from None
    except (OSError, ValueError) as e:
        raise _BadFlag(f"--reference {path}: not a .npy file of float32/float64 values ({e}); save one with "
                       "numpy.save") from None
    if not isinstance(data, np.ndarray):
        data.close()
        raise _BadFlag(f"--reference {path}: not a .npy file but an .npz archive of several arrays; expected one "
                       "array saved with numpy.save")
    if data.dtype not in (np.float32, np.float64):
        raise _BadFlag(f"--reference {path}: holds dtype {data.dtype}; expected float32 ('<f4') or float64 ('<f8'): "
                       "convert it with X.astype(np.float32)")
    return np.ascontiguousarray(data)


def _monitoring(args: argparse.Namespace) -> dict[str, Any]:
    """deploy() keyword arguments from the monitoring flags, all checked before any model loads.

    Raises _BadFlag naming the flag and its value.
    """
    import mlship
    from mlship import _core

    if args.classifier not in _CLASSIFIER:
        raise _BadFlag(f"--classifier must be auto, true or false; was {args.classifier!r}")
    interval = args.drift_check_interval_s
    if interval is not None and not 0 < interval <= 86_400:
        raise _BadFlag(f"--drift-check-interval-s must be in (0, 86400] seconds; was {interval}")
    drift_kwargs = {
        key: value
        for key, value in (
            ("window", args.drift_window),
            ("min_samples", args.drift_min_samples),
            ("psi_threshold", args.drift_psi_threshold),
            ("ks_pvalue", args.drift_ks_pvalue),
            ("ks_min_statistic", args.drift_ks_min_statistic),
            ("check_interval_s", interval),
            ("anomaly_tolerance", args.anomaly_tolerance),
        )
        if value is not None
    }
    slo_kwargs = {
        key: value
        for key, value in (
            ("max_error_rate", args.slo_max_error_rate),
            ("p99_ms", args.slo_p99_ms),
            ("window_s", args.slo_window_s),
            ("min_requests", args.slo_min_requests),
            ("restore_after_s", args.slo_restore_after_s),
        )
        if value is not None
    }
    if args.fallback is not None and args.slo_max_error_rate is None and args.slo_p99_ms is None:
        raise _BadFlag("--fallback needs --slo-max-error-rate or --slo-p99-ms (or both): the SLO decides when "
                       "traffic moves to it")
    if slo_kwargs and args.fallback is None:
        raise _BadFlag("the --slo-* flags need --fallback MODEL: a breached SLO moves traffic to it")
    if args.slo_p99_ms is not None and not args.slo_p99_ms > 0:
        raise _BadFlag(f"--slo-p99-ms must be a positive number of milliseconds; was {args.slo_p99_ms}")
    if args.slo_restore_after_s is not None and args.slo_restore_after_s < 1:
        raise _BadFlag(f"--slo-restore-after-s must be >= 1; was {args.slo_restore_after_s}")
    try:
        drift = mlship.DriftOptions(reject_anomalies=args.reject_anomalies, **drift_kwargs)
        slo = mlship.SLO(**slo_kwargs) if args.fallback is not None else None
        # The same checks deploy() makes, before any model is loaded.
        _core.validate_monitor_options(
            {**drift.as_options(), "slo": slo.as_options() if slo else None, "classifier": _CLASSIFIER[args.classifier]}
        )
    except ValueError as e:
        raise _BadFlag(f"bad monitoring flag: {e}") from None
    return {
        "reference": _read_reference(args.reference) if args.reference is not None else None,
        "classifier": _CLASSIFIER[args.classifier],
        "drift": drift,
        "slo": slo,
    }


def _serve(args: argparse.Namespace) -> int:
    import mlship

    monitoring = _monitoring(args)
    limits = {
        key: value
        for key, value in (
            ("max_body_bytes", args.max_body_bytes),
            ("max_connections", args.max_connections),
            ("io_threads", args.io_threads),
        )
        if value is not None
    }
    model = mlship.load(args.model, threads=args.intra_op_threads)
    if args.fallback is not None:
        monitoring["fallback"] = mlship.load(args.fallback, threads=args.intra_op_threads)
    dep = mlship.deploy(
        model,
        name=args.name,
        version=args.model_version,
        host=args.host,
        port=args.port,
        max_batch_size=args.max_batch_size,
        max_delay_ms=args.max_delay_ms,
        max_queue_size=args.max_queue_size,
        timeout_ms=args.timeout_ms or None,
        instances=args.instances,
        intra_op_threads=args.intra_op_threads,
        token=args.token or os.environ.get("MLSHIP_TOKEN") or None,
        insecure=args.insecure,
        limits=mlship.Limits(**limits),
        **monitoring,
    )
    # One line that scripts can parse for the URL (port 0 picks a free port).
    print(f"mlship serve: serving {args.name!r} at {dep.url} ({dep!r})", flush=True)
    dep.wait()
    print("mlship serve: stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlship", description="Put a PyTorch model into production.", allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve(subparsers)
    _cli_optimize.add_parser(subparsers)
    return parser


def _version() -> str:
    from mlship import __version__

    return f"mlship {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except _BadFlag as e:
        print(f"mlship {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (_errors.MlshipError, ValueError, FileNotFoundError) as e:
        print(f"mlship {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
