"""YAML for the files ``mlship k8s`` and ``mlship ci init`` write (PyYAML, the ``ship`` extra).

Multi-line strings are written as block scalars (``|``), so scripts read as they would by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ImportError("writing manifests and workflows needs PyYAML: pip install 'mlship[ship]' "
                          "(or pip install pyyaml)") from None
    return yaml


def _dumper() -> type:
    yaml = _yaml()

    class BlockDumper(yaml.SafeDumper):
        """SafeDumper that writes strings with newlines as ``|`` blocks, and shared objects in full
        (no ``&id001`` anchors: manifests are read by people and by tools that dislike aliases)."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: Any, value: str) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    BlockDumper.add_representer(str, represent_str)
    return BlockDumper


def dump_all(documents: Iterable[dict[str, Any]]) -> str:
    """The documents as one YAML stream, keys in the order given."""
    return _yaml().dump_all(list(documents), Dumper=_dumper(), sort_keys=False, width=120)
