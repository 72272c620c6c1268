"""Command-line flags generated from the options schema, the same table ``mlship-server``
builds its flags from, so the two servers take the same flags and cannot drift apart."""

from __future__ import annotations

import argparse
from typing import Any

from mlship import _options

_PREFIX = "option_"


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 8,16,32; got {text!r}") from None


def _auto_bool(text: str) -> bool | None:
    choices = {"auto": None, "true": True, "false": False}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"expected auto, true or false; got {text!r}")
    return choices[text]


_TYPES = {"int": int, "float": float, "string": str, "int_list": _int_list, "auto_bool": _auto_bool}


def _default_text(spec: dict[str, Any]) -> str:
    value = spec["default"]
    if spec["key"] in ("token", "admin_token") or value in ("", [], None):
        return ""
    if spec["key"] == "instances":
        value = "half the cores"
    if isinstance(value, bool):
        value = str(value).lower()
    return f" (default: {value})"


def add_schema_flags(parser: argparse.ArgumentParser, scopes: tuple[str, ...],
                     keys: tuple[str, ...] | None = None) -> None:
    """Adds a flag for every option of ``scopes`` (only ``keys``, when given) that the schema
    puts on the command line.

    Values stay unset unless given, so the core's defaults apply (one place for them).
    """
    for spec in _options.schema():
        if not spec["flag"] or spec["scope"] not in scopes or (keys is not None and spec["key"] not in keys):
            continue
        dest = _PREFIX + spec["key"]
        # argparse formats help with %: a literal "3%" in the schema's text must be escaped.
        help_text = (spec["help"] + _default_text(spec)).replace("%", "%%")
        if spec["type"] == "bool":
            negated = bool(spec["default"])
            flag = ("--no-" if negated else "--") + spec["flag"]
            parser.add_argument(flag, dest=dest, action="store_const", const=not negated, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            metavar = "auto|true|false" if spec["type"] == "auto_bool" else spec["flag"].upper().replace("-", "_")
            parser.add_argument("--" + spec["flag"], dest=dest, type=_TYPES[spec["type"]], default=argparse.SUPPRESS,
                                metavar=metavar, help=help_text)


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The schema options given on the command line, by key."""
    return {name[len(_PREFIX):]: value for name, value in vars(args).items() if name.startswith(_PREFIX)}
