"""``mlship token create|list``: the scoped-token file a server reads with ``--token-file``.

The file is JSON Lines, one token a line, holding only the SHA-256 of each token:
``{"name": "ci", "sha256": "<hex>", "scopes": ["infer", "read"], "rate_per_s": 50, "burst": 100}``.
``create`` prints the new token once (it is never stored) and appends its line; ``list`` shows names,
scopes and rate limits. See docs/security.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import sys
from typing import Any

SCOPES = ("infer", "read", "admin")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
# Bytes of randomness in a token (urlsafe base64: 43 characters).
_TOKEN_BYTES = 32
# The server refuses bigger files; so does list.
_MAX_FILE_BYTES = 1 << 20
_EXAMPLE = "mlship token create --name ci --scopes infer,read --rate 50 --burst 100 --file tokens.jsonl"


class TokenFileError(ValueError):
    """A token file line that is not what the server would accept."""


def new_token() -> str:
    """A fresh random bearer token: 'mls_' and 32 random bytes, urlsafe base64."""
    return "mls_" + secrets.token_urlsafe(_TOKEN_BYTES)


def token_sha256(token: str) -> str:
    """The hex SHA-256 the file stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    if not scopes:
        raise TokenFileError(f"--scopes needs at least one of {', '.join(SCOPES)}; got {text!r}")
    for s in scopes:
        if s not in SCOPES:
            raise TokenFileError(f"--scopes: unknown scope {s!r}; expected a comma-separated list of "
                                 f"{', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


def read_entries(path: str) -> list[dict[str, Any]]:
    """The entries of the token file at ``path`` (none when it does not exist); TokenFileError names a bad line."""
    if not os.path.exists(path):
        return []
    if os.path.getsize(path) > _MAX_FILE_BYTES:
        raise TokenFileError(f"{path} is larger than {_MAX_FILE_BYTES} bytes, the most a server reads")
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise TokenFileError(f"{path} line {number}: not valid JSON ({e.msg}); expected one object per "
                                     "line") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise TokenFileError(f"{path} line {number}: expected an object with a \"name\"")
            entries.append(entry)
    return entries


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``token`` subcommand (create, list) and returns its parser."""
    parser = subparsers.add_parser(
        "token", help="create and list scoped tokens (the file --token-file reads)",
        description=f"Scoped bearer tokens, stored hashed in a JSON Lines file. Example: {_EXAMPLE}")
    commands = parser.add_subparsers(dest="token_command", required=True)

    create = commands.add_parser("create", allow_abbrev=False,
                                 help="make a new token: print it once, append its hash to the file")
    create.add_argument("--name", required=True, help="names the token in errors and listings (letters, digits, "
                        "'_', '.', '-'; unique in the file)")
    create.add_argument("--scopes", required=True, metavar="LIST",
                        help="comma-separated: infer (POST infer, outcomes), read (metadata, /metrics, dashboard), "
                        "admin (repository load/unload/index, rollouts)")
    create.add_argument("--rate", type=float, default=None, metavar="PER_S",
                        help="sustained requests per second (beyond it 429); default: no limit")
    create.add_argument("--burst", type=float, default=None, metavar="N",
                        help="requests at once under --rate (default: the rate, at least 1)")
    create.add_argument("--file", required=True, help="the token file (created with mode 0600 when missing)")
    create.set_defaults(run=_create)

    ls = commands.add_parser("list", help="list the file's tokens: names, scopes, rate limits (never secrets)")
    ls.add_argument("--file", required=True, help="the token file")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=_list)
    return parser


def _create(args: argparse.Namespace) -> int:
    from mlship._cli import _BadFlag

    if not _NAME.match(args.name):
        raise _BadFlag(f"--name must be 1..64 letters, digits, '_', '.' or '-'; got {args.name!r}")
    try:
        scopes = parse_scopes(args.scopes)
        existing = read_entries(args.file)
    except TokenFileError as e:
        raise _BadFlag(str(e)) from None
    if any(e.get("name") == args.name for e in existing):
        raise _BadFlag(f"{args.file} already has a token named {args.name!r}; pick another name")
    entry: dict[str, Any] = {"name": args.name}
    token = new_token()
    entry["sha256"] = token_sha256(token)
    entry["scopes"] = scopes
    if args.rate is not None:
        if not 0 < args.rate <= 1e9:
            raise _BadFlag(f"--rate must be in (0, 1e9] requests per second; got {args.rate}")
        entry["rate_per_s"] = args.rate
    if args.burst is not None:
        if args.rate is None:
            raise _BadFlag("--burst needs --rate beside it")
        if not 1 <= args.burst <= 1e9:
            raise _BadFlag(f"--burst must be in [1, 1e9] requests; got {args.burst}")
        entry["burst"] = args.burst
    line = json.dumps(entry, separators=(", ", ": ")) + "\n"
    # Hashes are no secret to guess from, but the file decides who gets in: owner-only.
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if existing and os.path.getsize(args.file) > 0:
            with open(args.file, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    f.write("\n")
        f.write(line)
    print(token)
    print(f"mlship token: added {args.name!r} ({', '.join(scopes)}) to {args.file}; the token above is shown once "
          "and stored nowhere. A running server picks it up on its next token reload.", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from mlship._cli import _BadFlag

    if not os.path.exists(args.file):
        raise _BadFlag(f"no token file at {args.file}")
    try:
        entries = read_entries(args.file)
    except TokenFileError as e:
        raise _BadFlag(str(e)) from None
    rows = [{"name": e["name"], "scopes": list(e.get("scopes", [])), "rate_per_s": e.get("rate_per_s"),
             "burst": e.get("burst")} for e in entries]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"{args.file}: no tokens")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        limit = "no rate limit" if r["rate_per_s"] is None else \
            f"{r['rate_per_s']:g}/s burst {r['burst'] if r['burst'] is not None else max(1, int(r['rate_per_s'])):g}"
        print(f"{r['name']:<{width}}  {','.join(r['scopes']):<17}  {limit}")
    return 0
