"""Every notebook under examples/notebooks runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel, the kernel being this interpreter), and the committed notebooks carry no outputs.

The repository keeps notebooks without outputs so diffs show code changes only and no stale
figures are shipped; a reader runs them (or sees them run here).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "examples" / "notebooks").glob("*.ipynb"))
#: Text each notebook's outputs must show, beyond running without error.
EXPECTED = {
    "quickstart": ["expected shape [-1, 64]", "over HTTP:", "in-process, 8 threads: agree with the model True"],
    "optimize": ["best: ", "mlship.Model", "int8"],
    "monitor": ["drifted features before the shift: []", "features drifted;", "alert(s): input drift in"],
    "evaluate": ["mlship.evaluate: classification on 450 rows", "mlship.compare:", "data:image/png;base64,"],
    "explain": ["integrated gradients: max |delta| =", "occlusion over the deployment: (6, 64)",
                "top features by |SHAP|:", "iVBORw0KGgo"],  # a PNG (base64) shown inline
}


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else "")
    return "\n".join(parts)


def test_every_notebook_has_expectations():
    assert NOTEBOOKS and {p.stem for p in NOTEBOOKS} == set(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_carries_no_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_a_kernel(path, tmp_path):
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve() or spec.argv[0] == "python"
    nb = nbformat.read(str(path), as_version=4)
    # Any cell error raises CellExecutionError, naming the cell and the traceback.
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = _text(nb)
    for snippet in EXPECTED[path.stem]:
        assert snippet in text, f"{path.name}: {snippet!r} not in its outputs"
    if path.stem == "quickstart":
        accuracy = float(text.split("accuracy")[1].split()[0])
        assert accuracy > 0.85
