"""Golden outputs: a model's outputs stored beside a test, and checked against on later runs.

A golden file is an ``.npz`` (read with ``allow_pickle=False``) holding one array per output
and a JSON record of where it was written: torch, mlship and numpy versions, the CPU's
reduced-precision features, the machine, each output's dtype and the model's sha256. The
comparison is mlship's own (``mlship._core.compare_outputs``, the routine the repository's
golden check runs in C++). The tolerance starts from the dtype's default and is widened
when the software or the CPU changed since the file was written, since other kernels may
then run; the failure message says which tolerance was used and why.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlship import _core

#: Version of the golden file layout.
FORMAT = 1
#: Name of the metadata entry in the .npz.
META_KEY = "__mlship_golden__"
#: Factor applied to a floating-point dtype's default tolerance when torch, mlship, the CPU
#: features or the machine changed since the file was written.
ENVIRONMENT_CHANGE_FACTOR = 10.0
#: What, when it changed, widens the tolerance.
_WIDENING_KEYS = ("torch", "mlship", "cpu_features", "machine")

_DTYPE_NAMES = {"bool": "BOOL", "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
                "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
                "float16": "FP16", "float32": "FP32", "float64": "FP64"}


def environment() -> dict[str, Any]:
    """What the outputs may depend on besides the model and its inputs."""
    import mlship

    torch = sys.modules.get("torch")
    flags = _core.reduced_precision_cpu_flags() if hasattr(_core, "reduced_precision_cpu_flags") else []
    return {
        "torch": getattr(torch, "__version__", None) if torch is not None else _installed_torch(),
        "mlship": mlship.__version__,
        "numpy": np.__version__,
        "cpu_features": sorted(flags),
        "machine": platform.machine(),
    }


def _installed_torch() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def model_hash(model: Any) -> str | None:
    """sha256 of a model: a file's bytes, an mlship.Model's saved TorchScript, or a torch module's
    parameters and buffers. None for anything else."""
    import mlship

    if model is None:
        return None
    if isinstance(model, mlship.Deployment):
        model = model.model
    if isinstance(model, (str, os.PathLike)) and Path(model).is_file():
        return hashlib.sha256(Path(model).read_bytes()).hexdigest()
    if isinstance(model, mlship.Model):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mlship-hash-") as tmp:
            path = Path(tmp) / "model.pt"
            model.save(str(path))
            return hashlib.sha256(path.read_bytes()).hexdigest()
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        digest = hashlib.sha256(type(model).__qualname__.encode())
        for name, tensor in sorted(model.state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return digest.hexdigest()
    return None


def flatten_outputs(outputs: Any) -> tuple[str, dict[str, Any]]:
    """(structure, {key: leaf}): a dict by key, a tuple or list by position, a single output as ''."""
    if isinstance(outputs, dict):
        return "dict", {str(k): v for k, v in outputs.items()}
    if isinstance(outputs, (tuple, list)):
        return type(outputs).__name__, {str(i): v for i, v in enumerate(outputs)}
    return "tensor", {"": outputs}


def leaf_array(value: Any) -> tuple[np.ndarray, str]:
    """A leaf as (a C-contiguous, writable numpy array, its KServe dtype name). BF16 tensors are
    widened to float32 (numpy has no bfloat16) and keep the name BF16."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return np.ascontiguousarray(value.float().numpy()), "BF16"
        value = value.numpy()
    arr = np.array(value, copy=True, order="C")  # DLPack cannot carry read-only arrays
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    name = _DTYPE_NAMES.get(arr.dtype.name)
    if name is None:
        raise TypeError(f"expected numeric outputs (bool, int, uint or float); got dtype {arr.dtype}")
    return arr, name


def compare(actual: np.ndarray, expected: np.ndarray, rtol: float | None, atol: float | None) -> dict[str, Any]:
    """mlship._core.compare_outputs: one comparison rule for golden files, assert_outputs_close
    and the repository's check."""
    return _core.compare_outputs(actual, expected, rtol, atol)


@dataclass
class Golden:
    """A golden file's outputs and metadata."""

    structure: str
    arrays: dict[str, np.ndarray]
    dtypes: dict[str, str]
    environment: dict[str, Any]
    model_sha256: str | None
    written: str

    @classmethod
    def read(cls, path: Path) -> Golden:
        with np.load(path, allow_pickle=False) as data:
            if META_KEY not in data:
                raise ValueError(f"{path} is not an mlship golden file (no {META_KEY} entry)")
            meta = json.loads(str(data[META_KEY]))
            arrays = {k: data[f"out:{k}"] for k in meta["keys"]}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} has golden format {meta.get('format')}; this mlship reads format {FORMAT}")
        return cls(meta["structure"], arrays, meta["dtypes"], meta["environment"], meta.get("model_sha256"),
                   meta.get("written", ""))

    def write(self, path: Path) -> None:
        meta = {"format": FORMAT, "structure": self.structure, "keys": list(self.arrays), "dtypes": self.dtypes,
                "environment": self.environment, "model_sha256": self.model_sha256, "written": self.written}
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **{f"out:{k}": v for k, v in self.arrays.items()}, **{META_KEY: np.array(json.dumps(meta))})
        tmp = path.with_suffix(".npz.tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)  # a run killed midway leaves the old file, never half of one


def golden_from(outputs: Any, model: Any) -> Golden:
    structure, leaves = flatten_outputs(outputs)
    arrays, dtypes = {}, {}
    for key, value in leaves.items():
        arrays[key], dtypes[key] = leaf_array(value)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Golden(structure, arrays, dtypes, environment(), model_hash(model), now)


def changes(old: Golden, new: Golden) -> list[str]:
    """What differs between where the golden file was written and now, in words."""
    out = []
    for key in _WIDENING_KEYS:
        before, after = old.environment.get(key), new.environment.get(key)
        if before != after:
            out.append(f"{key.replace('_', ' ')} {_show(before)} -> {_show(after)}")
    if old.model_sha256 and new.model_sha256 and old.model_sha256 != new.model_sha256:
        out.append(f"model sha256 {old.model_sha256[:12]} -> {new.model_sha256[:12]}")
    return out


def _show(value: Any) -> str:
    return "[" + ", ".join(value) + "]" if isinstance(value, list) else str(value)


def tolerance(dtype: str, old: Golden, new: Golden, rtol: float | None, atol: float | None
              ) -> tuple[float, float, str]:
    """(rtol, atol, why) for one output: the caller's, else the dtype's default, times
    ENVIRONMENT_CHANGE_FACTOR for floating-point outputs when the software or CPU changed."""
    base_rtol, base_atol = _core.default_tolerance(dtype)
    if rtol is not None or atol is not None:
        chosen = (base_rtol if rtol is None else rtol, base_atol if atol is None else atol)
        return chosen[0], chosen[1], "given by the test"
    changed = [k for k in _WIDENING_KEYS if old.environment.get(k) != new.environment.get(k)]
    if changed and dtype in ("FP16", "BF16", "FP32", "FP64"):
        f = ENVIRONMENT_CHANGE_FACTOR
        return (base_rtol * f, base_atol * f,
                f"{dtype} default x{f:g}, since {', '.join(c.replace('_', ' ') for c in changed)} changed")
    return base_rtol, base_atol, f"{dtype} default" + ("" if base_rtol or base_atol else " (exact)")


@dataclass
class CheckResult:
    """The outcome of one golden check."""

    ok: bool
    message: str
    changed: list[str]


def check(path: Path, outputs: Any, *, model: Any = None, rtol: float | None = None, atol: float | None = None
          ) -> tuple[CheckResult, Golden]:
    """Compares ``outputs`` with the golden file at ``path`` (which must exist)."""
    old = Golden.read(path)
    new = golden_from(outputs, model)
    what_changed = changes(old, new)
    problems: list[str] = []
    if new.structure != old.structure or list(new.arrays) != list(old.arrays):
        problems.append(f"structure changed: golden {old.structure} with keys {list(old.arrays)}, now "
                        f"{new.structure} with keys {list(new.arrays)}")
    for key in (k for k in new.arrays if k in old.arrays):
        label = "outputs" if key == "" else f"outputs[{key!r}]"
        if new.dtypes[key] != old.dtypes[key]:
            problems.append(f"{label}: dtype changed: golden {old.dtypes[key]}, now {new.dtypes[key]}")
            continue
        r, a, why = tolerance(old.dtypes[key], old, new, rtol, atol)
        result = compare(new.arrays[key], old.arrays[key], r, a)
        if not result["ok"]:
            problems.append(f"{label}: {result['message']}\n    tolerance: rtol {r:g}, atol {a:g} ({why}); "
                            f"max |diff| {result['max_abs_diff']:.3g}")
    if not problems:
        return CheckResult(True, "", what_changed), new
    lines = [f"golden outputs differ from {path}:", *(f"  {p}" for p in problems)]
    lines.append("  since the golden file was written (" + (old.written or "unknown") + "): " +
                 ("; ".join(what_changed) if what_changed else "nothing recorded changed (same versions, CPU "
                                                                "features and model)"))
    lines.append("  if the new outputs are right, rewrite the file: pytest --mlship-update-golden")
    return CheckResult(False, "\n".join(lines), what_changed), new


def golden_path(test_path: Path, test_name: str, name: str | None) -> Path:
    """``<test dir>/golden/<test module>/<test name>[.<name>].npz``, with unsafe characters as '_'."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")
    if name:
        safe += "." + re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return test_path.parent / "golden" / test_path.stem / f"{safe}.npz"
