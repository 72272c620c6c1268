"""The options schema, read from the C++ core: one table of every setting that
``deploy()``, ``serve()``, both command lines and the repository's manifests accept.

Nothing here validates: values go to the core as JSON and are checked there once
(``cpp/src/deployment/options_schema.cc``); an unknown key is an error naming it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from mlship import _core


@functools.lru_cache(maxsize=1)
def schema() -> tuple[dict[str, Any], ...]:
    """Every option: ``{"key", "scope", "type", "help", "flag", "default"}``."""
    return tuple(json.loads(_core.option_schema()))


def default(key: str) -> Any:
    """The default of option ``key`` (as the core reports it)."""
    for spec in schema():
        if spec["key"] == key:
            return spec["default"]
    raise KeyError(key)


def to_json(options: dict[str, Any]) -> str:
    """``options`` without the unset (None) ones, as the JSON the core reads."""
    return json.dumps({key: value for key, value in options.items() if value is not None})


def check(options: dict[str, Any], scopes: tuple[str, ...] = ("server", "model", "version"),
          where: str = "the keyword arguments") -> None:
    """Checks ``options`` against the schema now; raises ``InvalidInputError`` (a ``ValueError``)
    naming the key and ``where`` the options came from."""
    _core.check_options(to_json(options), list(scopes), where)


def markdown_table() -> str:
    """The schema as the Markdown table in docs/serving.md (``python -m mlship._options``)."""
    rows = ["| key (`deploy()`/`serve()` keyword, manifest setting) | flag | scope | default | meaning |",
            "|---|---|---|---|---|"]
    for spec in schema():
        value = spec["default"]
        shown = "" if spec["key"] in ("token", "admin_token") or value in ("", [], None) else json.dumps(value)
        if spec["key"] == "instances":
            shown = "half the cores"
        flag = f"`--{'no-' if spec['type'] == 'bool' and value is True else ''}{spec['flag']}`" if spec["flag"] else ""
        rows.append(f"| `{spec['key']}` | {flag} | {spec['scope']} | {shown} | {spec['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
