"""The ``mlship`` command line (also ``python -m mlship``): ``serve``, ``tune``, ``repo``, ``rollout``,
``optimize``, ``evaluate``, ``containerize``, ``k8s`` and ``ci``.

The option flags of ``serve`` come from the options schema in the core, as do those of the
C++ ``mlship-server``, so a model moves between the two servers unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlship import (_cli_ci, _cli_evaluate, _cli_optimize, _cli_repo, _cli_rollout, _cli_ship, _cli_token, _cli_tune,
                    _errors)
from mlship._cli_flags import add_schema_flags, given_options


def server_executable() -> Path:
    """Where the Python-free ``mlship-server`` executable is installed.

    It is installed next to the compiled ``_core`` module (``mlship/bin/``); in an
    editable install that is site-packages, not the source tree.
    """
    from mlship import _core

    return Path(_core.__file__).with_name("bin") / "mlship-server"


class _BadFlag(Exception):
    """A flag value that cannot be used; the command exits 2, like argparse does."""


def add_signature_flags(p: argparse.ArgumentParser) -> None:
    """--input/--output NAME:DTYPE:DIMS, for a plain torch.jit.save file that carries no signature."""
    p.add_argument("--input", action="append", default=[], metavar="NAME:DTYPE:DIMS",
                   help="declare an input of a file without a signature, NAME:DTYPE:DIMS (e.g. x:FP32:-1,64); "
                   "repeat per input")
    p.add_argument("--output", action="append", default=[], metavar="NAME:DTYPE:DIMS",
                   help="declare an output the same way; repeat per output")


def declared_signature(args: argparse.Namespace) -> Any:
    """The Signature --input/--output declare, or None. Raises _BadFlag."""
    import json

    from mlship import _core
    from mlship._signature import Signature

    if not args.input and not args.output:
        return None
    if not args.input or not args.output:
        raise _BadFlag("declare both the inputs (--input) and the outputs (--output) of the model, or neither")
    try:
        inputs = [json.loads(_core.parse_tensor_spec(t, "--input"))["inputs"][0] for t in args.input]
        outputs = [json.loads(_core.parse_tensor_spec(t, "--output"))["inputs"][0] for t in args.output]
    except ValueError as e:
        raise _BadFlag(str(e)) from None
    kind = "tensor" if len(outputs) == 1 else "tuple"
    return Signature.from_json(json.dumps({"inputs": inputs, "outputs": outputs, "output_kind": kind}))


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        allow_abbrev=False,
        help="serve a saved model, or every model of a repository, over KServe v2 HTTP",
        description="Serves a saved model (TorchScript .pt or .pt2), or every model of a repository "
        "(--repository DIR), with dynamic batching until SIGINT/SIGTERM, then drains. The tokens come from "
        "MLSHIP_TOKEN and MLSHIP_ADMIN_TOKEN unless --token / --admin-token are given.",
    )
    p.add_argument("model", nargs="?", help="model file written by mlship (Model.save) or torch.jit.save")
    p.add_argument("--repository", default=None, metavar="DIR",
                   help="serve every model in this repository folder (mlship repo add ...) instead of one MODEL")
    p.add_argument("--reference", default=None, metavar="FILE.npy",
                   help="a .npy file (float32/float64) shaped like the model's first input, e.g. a sample of the "
                   "training data: live inputs (and a classifier's predicted classes) are compared with it for "
                   "drift and anomalies")
    p.add_argument("--fallback", default=None, metavar="MODEL",
                   help="a known-good model file taking the same inputs; traffic moves to it when the SLO is "
                   "breached (needs --slo-max-error-rate or --slo-p99-ms)")
    from mlship._tune import TUNE_MODES

    p.add_argument("--tune", choices=tuple(TUNE_MODES), default="auto",
                   help="auto (default): before serving, measure each compute-bound model (a forward pass of one "
                   "request 1 ms or more) over instances x intra-op threads x max batch size for up to 5 s and "
                   "serve the best; with --repository, store the result in the model's settings so the next start "
                   "does not measure; on: measure every model; off: never (docs/serving.md, Self-tuning)")
    add_signature_flags(p)
    add_schema_flags(p, ("server", "model", "version"))
    p.set_defaults(run=_serve)


def read_reference(path: str) -> Any:
    """A --reference array: a float32/float64 .npy file, never unpickled. Raises _BadFlag."""
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


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The schema options of ``serve``, tokens from the environment, all checked before any model loads.

    Raises _BadFlag naming the flag and its value.
    """
    from mlship import _options

    options = given_options(args)
    options.setdefault("token", os.environ.get("MLSHIP_TOKEN") or None)
    options.setdefault("admin_token", os.environ.get("MLSHIP_ADMIN_TOKEN") or None)
    if args.fallback is not None:
        options["fallback_version"] = "fallback"
    try:
        _options.check(options, where="the command line")
    except ValueError as e:
        raise _BadFlag(f"bad flag: {e}") from None
    return options


TCMALLOC = "libtcmalloc_minimal.so.4"
"""The allocator ``mlship serve`` re-executes itself on when the system has it (Debian:
``libtcmalloc-minimal4``): 19% more requests/s than glibc's malloc (docs/serving.md)."""


def _reexec_on_tcmalloc() -> None:
    """Starts this ``mlship serve`` command again, in the same process (``execve``: same pid,
    arguments and output), with tcmalloc preloaded, unless it already runs on it, the system
    lacks it, or ``MLSHIP_ALLOCATOR=glibc``. The interpreter's allocator is chosen when it
    starts, so a preload is the only way in; the cost is one more start of the interpreter.
    Anything already in ``LD_PRELOAD`` is the user's choice (jemalloc, say: two allocators in
    one process hang it) and is left alone, as is a run that already re-executed."""
    import ctypes.util

    if os.environ.get("MLSHIP_ALLOCATOR", "tcmalloc") != "tcmalloc" or os.environ.get("LD_PRELOAD"):
        return
    if ctypes.util.find_library("tcmalloc_minimal") is None:
        return
    env = dict(os.environ, LD_PRELOAD=TCMALLOC)
    sys.stdout.flush()
    sys.stderr.flush()
    # orig_argv: the interpreter's own options too (-X importtime, ...), and the script or -m as given.
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def _serve(args: argparse.Namespace) -> int:
    import mlship
    from mlship._deploy import _start
    from mlship._tune import TUNE_MODES, at_deploy

    if (args.model is None) == (args.repository is None):
        raise _BadFlag("give a model file or --repository DIR (not both, not neither)")
    if args.from_command_line:
        _reexec_on_tcmalloc()
    if args.repository is not None and (args.reference or args.fallback or args.input or args.output):
        raise _BadFlag("--reference, --fallback, --input and --output apply to one MODEL; with --repository, give "
                       "them when adding each version (mlship repo add)")
    options = serve_options(args)
    tune = TUNE_MODES[args.tune]
    if args.repository is not None:
        server = mlship.serve(args.repository, tune=tune, **options)
        for note in server.tuning_notes:
            print(f"mlship serve: {note}", flush=True)
        names = ", ".join(m["name"] for m in server.models()) or "none"
        host = options.get("host", "127.0.0.1")
        grpc = f" and grpc://{host}:{server.grpc_port}" if server.grpc_port else ""
        # The URL line is printed once SIGTERM is handled: a script that stops the server right
        # after reading it must get a drain, not the default kill.
        server.wait(ready=lambda: print(f"mlship serve: serving repository {args.repository} (models: {names}) "
                                        f"at {server.url}{grpc}", flush=True))
        print("mlship serve: stopped", flush=True)
        return 0
    signature = declared_signature(args)
    reference = read_reference(args.reference) if args.reference is not None else None
    threads = options.get("intra_op_threads") or None  # 0 is "auto": the version decides, not the load
    model = mlship.load(args.model, signature=signature, threads=threads)
    fallback = mlship.load(args.fallback, signature=signature, threads=threads) if args.fallback else None
    tuning, note = at_deploy(model, None, tune, options)
    if tuning is not None:
        print(tuning.table(), flush=True)
    print(f"mlship serve: {note}", flush=True)
    dep = _start(model, options, fallback, reference)
    # One line that scripts can parse for the URL (port 0 picks a free port).
    grpc = f" and grpc://{options.get('host', '127.0.0.1')}:{dep.grpc_port}" if dep.grpc_port else ""
    dep.wait(ready=lambda: print(f"mlship serve: serving {dep.name!r} at {dep.url}{grpc} ({dep!r})", flush=True))
    print("mlship serve: stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlship", description="Put a PyTorch model into production.", allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve(subparsers)
    _cli_tune.add_parser(subparsers)
    _cli_repo.add_parser(subparsers)
    _cli_rollout.add_parser(subparsers)
    _cli_optimize.add_parser(subparsers)
    _cli_evaluate.add_parser(subparsers)
    _cli_ship.add_parsers(subparsers)
    _cli_ci.add_parser(subparsers)
    _cli_token.add_parser(subparsers)
    return parser


def _version() -> str:
    from mlship import __version__

    return f"mlship {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.from_command_line = argv is None  # this process's own command line, which may be run again
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
