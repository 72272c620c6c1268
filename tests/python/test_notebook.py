"""The quick-start notebook runs top to bottom (its code cells, in order)."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(capsys):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy > 0.85
    assert "expected shape [-1, 64]" in out
    assert "over HTTP:" in out
    assert "in-process, 8 threads: agree with the model True" in out
    assert namespace["dep"].settings["max_batch_size"] == 32 and "stopping" in repr(namespace["dep"])
