"""``mlship tune MODEL`` / ``mlship tune NAME --repository DIR``: measure a model over
instances × intra-op threads × max batch size on this machine and print the table and the
setting chosen; for a repository model, store it in the model's settings.

Exposes ``add_parser(subparsers)`` like the other subcommands. The tuned settings' flags
(``--instances``, ``--intra-op-threads``, ``--max-batch-size``) and ``--max-delay-ms`` come from
the options schema; given, they are held while measuring.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from mlship._cli_flags import add_schema_flags, given_options

_EXAMPLE = "mlship tune digits.pt --budget-s 10 --latency-budget-ms 50"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``tune`` subcommand and returns its parser."""
    from mlship._cli import add_signature_flags
    from mlship._tune import TUNED_KEYS

    p = subparsers.add_parser(
        "tune", allow_abbrev=False,
        help="measure a model over instances x intra-op threads x max batch size and pick the setting",
        description="Serves the model in-process with each candidate setting under a closed loop of caller threads "
        "for a share of --budget-s, prints req/s, p50 and p99 of each, and the setting chosen: the best req/s whose "
        "p99 stays under --latency-budget-ms (the lowest p99 without one). With --repository DIR, MODEL is a model "
        "name there; its newest version (or default_version) is measured and the chosen intra_op_threads and "
        "max_batch_size are stored in its model settings (mlship-model.json), which mlship serve --repository and "
        f"mlship-server --repository then use. Example: {_EXAMPLE}")
    p.add_argument("model", help="a model file (TorchScript .pt or .pt2), or a model name with --repository")
    p.add_argument("--repository", "-r", default=None, metavar="DIR",
                   help="tune the model named MODEL in this repository and store the result in its settings")
    p.add_argument("--budget-s", type=float, default=10.0, metavar="S",
                   help="bound on the whole measurement, in seconds (default: 10)")
    p.add_argument("--latency-budget-ms", type=float, default=None, metavar="MS",
                   help="the p99 the chosen setting must keep to (default: none; the lowest p99 wins)")
    p.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="caller threads, i.e. requests in flight (default: 32)")
    p.add_argument("--json", default=None, metavar="FILE.json", help="also write the result as JSON")
    add_signature_flags(p)
    add_schema_flags(p, ("server", "version"), keys=(*TUNED_KEYS, "max_delay_ms"))
    p.set_defaults(run=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    import mlship
    from mlship import _options
    from mlship._cli import _BadFlag, declared_signature
    from mlship._tune import store_in_repository, tune

    fixed = given_options(args)
    if args.repository is not None:
        if args.input or args.output:
            raise _BadFlag("--input/--output apply to a model file; a repository version carries its signature")
        repo = mlship.Repository(args.repository, create=False)
        version = repo.settings(args.model).get("default_version")
        model = repo.load(args.model, version)
        # Every model of a server shares its workers: measure at the instances the server will run
        # (--instances, else its default) and store only the per-model keys.
        fixed.setdefault("instances", _options.default("instances"))
    else:
        if not os.path.exists(args.model):
            raise _BadFlag(f"{args.model}: no such file (give --repository DIR to tune a repository model by name)")
        model = mlship.load(args.model, signature=declared_signature(args))
    result = tune(model, budget_s=args.budget_s, latency_budget_ms=args.latency_budget_ms,
                  concurrency=args.concurrency, fixed=fixed)
    print(result.table())
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in result.settings.items())
    if args.repository is not None:
        stored = store_in_repository(repo, args.model, result)
        print(f"stored in {args.repository}/{args.model}/mlship-model.json: {json.dumps(stored)}; instances is "
              f"server-wide and not stored: serve with --instances {result.settings['instances']}")
    else:
        print(f"serve with: mlship serve {args.model} {flags}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
    return 0
