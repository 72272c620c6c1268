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
    p.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    import mlship

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
    except (_errors.MlshipError, ValueError, FileNotFoundError) as e:
        print(f"mlship {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
