"""The optimization report saved inside a model file (TorchScript or .pt2), so a reloaded model keeps it.

Both are zip archives; torch keeps side files under ``<archive>/extra/``.
mlship adds ``mlship_optimization.json`` there after the engine has saved the model: torch
ignores names it does not ask for (the AOTInductor package loader too), so the file still loads
anywhere it loaded before.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

#: The name of the report inside the archive's extra/ folder.
REPORT_FILE = "mlship_optimization.json"


def write_report(path: str, report: dict[str, Any]) -> None:
    """Adds ``report`` (JSON-ready) to the TorchScript archive at ``path``."""
    with zipfile.ZipFile(path, "a") as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0] if names else "archive"
        archive.writestr(f"{prefix}/extra/{REPORT_FILE}", json.dumps(report))


def read_report(path: str) -> dict[str, Any] | None:
    """The report saved in the archive at ``path``; None when there is none (or no zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(f"/extra/{REPORT_FILE}"):
                    return json.loads(archive.read(name))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return None
