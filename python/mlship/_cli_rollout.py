"""``mlship rollout NAME --to V``: start, watch and steer a rollout on a running server.

Talks to the server's repository endpoints (``POST /v2/repository/models/{name}/rollout``
and ``.../rollout/{status,pause,resume,abort}``) with the admin token, so it works the
same against ``mlship serve`` and ``mlship-server``. The rollout's flags come from the
options schema (scope ``rollout``), like every other flag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from mlship._cli_flags import add_schema_flags, given_options

_ACTIONS = ("status", "pause", "resume", "abort")
_FINISHED = ("succeeded", "rolled_back", "aborted")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "rollout", allow_abbrev=False,
        help="move a model's traffic to a new version step by step, rolling back on a breach",
        description="Starts a rollout of NAME to version --to on a running server (or, with --status, --pause, "
        "--resume or --abort, looks at or steers the one running). The admin token comes from --admin-token or "
        "MLSHIP_ADMIN_TOKEN. Example: mlship rollout digits --to 4 --steps 5,25,100 --hold-s 300 "
        "--max-error-rate 0.01 --wait 3600")
    p.add_argument("name", help="the model")
    p.add_argument("--url", default=os.environ.get("MLSHIP_URL", "http://127.0.0.1:8000"),
                   help="the server (default: $MLSHIP_URL or http://127.0.0.1:8000)")
    p.add_argument("--admin-token", default=None, help="the admin token (default: $MLSHIP_ADMIN_TOKEN)")
    group = p.add_mutually_exclusive_group()
    for action in _ACTIONS:
        group.add_argument(f"--{action}", dest="action", action="store_const", const=action,
                           help=f"{action} the model's rollout")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="poll until the rollout succeeds, rolls back or is aborted (at most SECONDS); exit 0 only "
                   "when it succeeded")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    add_schema_flags(p, ("rollout",))
    p.set_defaults(run=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    from mlship._cli import _BadFlag
    from mlship._kserve_client import call_json
    from mlship import _options

    options = given_options(args)
    if "rollout_to" in options and args.action is not None:
        raise _BadFlag(f"--to starts a rollout; --{args.action} acts on the one running: give one of them")
    if "rollout_to" not in options and args.action is None:
        raise _BadFlag("give --to VERSION to start a rollout, or --status, --pause, --resume or --abort")
    if args.action is not None and options:
        raise _BadFlag(f"--{args.action} takes no rollout flags (got {', '.join(sorted(options))})")
    token = args.admin_token if args.admin_token is not None else os.environ.get("MLSHIP_ADMIN_TOKEN") or None
    base = f"{args.url.rstrip('/')}/v2/repository/models/{args.name}/rollout"
    if args.action is None:
        try:
            _options.check(options, ("rollout",), "the command line")
        except ValueError as e:
            raise _BadFlag(f"bad flag: {e}") from None
        status = call_json("POST", base, json.dumps(options).encode(), token=token, timeout=120)
    else:
        status = call_json("POST", f"{base}/{args.action}", b"{}", token=token, timeout=30)
    _print(status, args.json)
    if args.wait is None:
        return 0
    deadline = time.monotonic() + args.wait
    last = (status["state"], status["step"])
    while status["state"] not in _FINISHED and time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.05, deadline - time.monotonic())))
        status = call_json("POST", f"{base}/status", b"{}", token=token, timeout=30)
        if (status["state"], status["step"]) != last:
            last = (status["state"], status["step"])
            _print(status, args.json)
    return 0 if status["state"] == "succeeded" else 1


def _print(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status), flush=True)
        return
    f = status.get("figures", {})
    steps = status["rollout_steps"]
    line = (f"{status['model']}: {status['rollout_from']} -> {status['rollout_to']} {status['state']}, "
            f"{status['weight']:g}% (step {status['step'] + 1} of {len(steps)}, {status['seconds_in_step']:.0f} s), "
            f"{f.get('requests', 0)} requests, {f.get('server_failures', 0)} failed")
    if "divergence" in f:
        line += f", divergence {f['divergence']:.3f}"
    if "candidate_accuracy" in f:
        line += f", accuracy {f['candidate_accuracy']:.3f} vs {f['stable_accuracy']:.3f}"
    if status.get("reason"):
        line += f": {status['reason']}"
    print(line, file=sys.stdout, flush=True)
