"""``mlship repo add|list|show|alias|verify|rm``: the model repository from a shell.

Exposes ``add_parser(subparsers)`` like the other subcommands. The repository folder comes
from ``--repository DIR`` (or ``MLSHIP_REPOSITORY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mlship._cli_flags import add_schema_flags, given_options

_EXAMPLE = "mlship repo add digits digits.pt --repository models --alias stable --golden val.npy"


def _repository_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repository", "-r", default=os.environ.get("MLSHIP_REPOSITORY"), metavar="DIR",
                   help="the repository folder (default: $MLSHIP_REPOSITORY)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``repo`` subcommand (with its own subcommands) and returns its parser."""
    from mlship._cli import add_signature_flags

    parser = subparsers.add_parser(
        "repo", help="add, list, show, alias, verify and remove model versions in a repository",
        description=f"The model repository: every version with a manifest of sha256 hashes. Example: {_EXAMPLE}")
    commands = parser.add_subparsers(dest="repo_command", required=True)

    add = commands.add_parser("add", allow_abbrev=False, help="add a model file as a new version")
    add.add_argument("name", help="model name (letters, digits, '_', '.', '-')")
    add.add_argument("model", help="a TorchScript file or .pt2 package (plain torch.jit.save files need --input/--output)")
    _repository_arg(add)
    add.add_argument("--model-version", dest="version", default=None, help="the version (default: the next integer)")
    add.add_argument("--alias", action="append", default=[], help="point this alias at the new version (repeatable)")
    add.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="a label (repeatable)")
    add.add_argument("--metadata", default=None, metavar="JSON|@FILE", help="free-form JSON metadata, or @file.json")
    add.add_argument("--reference", default=None, metavar="FILE.npy", help="a monitoring reference (float32/float64)")
    add.add_argument("--golden", default=None, metavar="FILE.npy|.npz",
                     help="sample inputs (.npy, or .npz with one array per input in order); the model's outputs on "
                     "them are stored, and a server loads the version only if it reproduces them")
    add_signature_flags(add)
    add_schema_flags(add, ("version",))
    add.set_defaults(run=_add)

    ls = commands.add_parser("list", help="list models, versions and aliases")
    _repository_arg(ls)
    ls.set_defaults(run=_list)

    show = commands.add_parser("show", help="print a version's manifest (verified)")
    show.add_argument("name")
    show.add_argument("version", nargs="?", default=None, help="a version or alias (default: the newest)")
    _repository_arg(show)
    show.set_defaults(run=_show)

    alias = commands.add_parser("alias", help="point an alias at a version (or remove it with --remove)")
    alias.add_argument("name")
    alias.add_argument("alias")
    alias.add_argument("version", nargs="?", default=None)
    alias.add_argument("--remove", action="store_true", help="remove the alias")
    _repository_arg(alias)
    alias.set_defaults(run=_alias)

    verify = commands.add_parser("verify", help="check every file of every version against its manifest")
    verify.add_argument("name", nargs="?", default=None)
    _repository_arg(verify)
    verify.set_defaults(run=_verify)

    rm = commands.add_parser("rm", help="remove a version (or a whole model)")
    rm.add_argument("name")
    rm.add_argument("version", nargs="?", default=None)
    rm.add_argument("--force", action="store_true", help="also when aliases point at it (they are dropped)")
    _repository_arg(rm)
    rm.set_defaults(run=_rm)
    return parser


def _open(args: argparse.Namespace, create: bool = False) -> Any:
    from mlship._cli import _BadFlag
    from mlship._repository import Repository

    if not args.repository:
        raise _BadFlag("which repository? give --repository DIR (or set MLSHIP_REPOSITORY)")
    return Repository(args.repository, create=create)


def _add(args: argparse.Namespace) -> int:
    import numpy as np

    from mlship._cli import _BadFlag, declared_signature, read_reference

    labels = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _BadFlag(f"--label expects KEY=VALUE; got {item!r}")
        labels[key] = value
    metadata = None
    if args.metadata:
        text = args.metadata
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as e:
            raise _BadFlag(f"--metadata is not JSON: {e}") from None
        if not isinstance(metadata, dict):
            raise _BadFlag("--metadata must be a JSON object")
    golden = None
    if args.golden:
        loaded = np.load(args.golden, allow_pickle=False)
        golden = tuple(loaded[k] for k in loaded.files) if hasattr(loaded, "files") else loaded
    manifest = _open(args, create=True).add(
        args.name, args.model, args.version, aliases=args.alias, metadata=metadata, labels=labels,
        signature=declared_signature(args), settings=given_options(args) or None,
        reference=read_reference(args.reference) if args.reference else None, golden=golden)
    print(f"added {manifest['name']} version {manifest['version']} ({len(manifest['files'])} file(s) hashed)")
    return 0


def _list(args: argparse.Namespace) -> int:
    models = _open(args).list()
    if not models:
        print("(no models)")
    for m in models:
        aliases = ", ".join(f"{a} -> {v}" for a, v in sorted(m["aliases"].items()))
        print(f"{m['name']}: versions {', '.join(m['versions']) or '(none)'}" + (f"; aliases {aliases}" if aliases else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(_open(args).get(args.name, args.version), indent=2))
    return 0


def _alias(args: argparse.Namespace) -> int:
    from mlship._cli import _BadFlag

    if args.remove == (args.version is not None):
        raise _BadFlag("give the VERSION to point the alias at, or --remove (not both)")
    _open(args).set_alias(args.name, args.alias, None if args.remove else args.version)
    print(f"{args.name}: {args.alias} " + ("removed" if args.remove else f"-> {args.version}"))
    return 0


def _verify(args: argparse.Namespace) -> int:
    checks = _open(args).verify(args.name)
    bad = [c for c in checks if c["problems"]]
    for c in checks:
        where = f"{c['name']} {c['version']}".strip()
        print(f"{where}: " + ("ok" if not c["problems"] else "; ".join(c["problems"])))
    if bad:
        print(f"{len(bad)} problem(s) found", file=sys.stderr)
        return 1
    return 0


def _rm(args: argparse.Namespace) -> int:
    _open(args).remove(args.name, args.version, force=args.force)
    print(f"removed {args.name}" + (f" version {args.version}" if args.version else ""))
    return 0
