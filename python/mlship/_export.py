"""AOTInductor packages: mlship.export_pt2 compiles a torch.nn.Module, mlship.compile_pt2 a loaded
TorchScript model (the form every mlship pass returns), both with a dynamic batch dimension."""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from mlship import _core
from mlship._errors import FailedPreconditionError, MlshipError, ModelLoadError
from mlship._load import _as_tuple, _to_torch, load
from mlship._model import Model

#: Inductor settings for every package mlship compiles. Without check_lowerbound off, compiled
#: code checks that dynamic dims are >= 2 (export's 0/1 specialization) and rejects batch 1.
_INDUCTOR_CONFIGS = {"aot_inductor.check_lowerbound": False}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Export and compile under no_grad, outside inference mode, with torch's warnings kept as
    warnings: torch.export relies on its internal warnings staying warnings (under a caller's
    "-W error", pytest's filterwarnings=error included, nn.LSTM export fails), and torch's
    compile-time warnings are not the caller's to act on."""
    import torch

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        yield


def _export_module(module: Any, examples: tuple[Any, ...], max_batch: int = 4096) -> Any:
    """torch.export of an eager module with dimension 0 of every input dynamic."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=max_batch)
    dynamic = tuple({0: batch} if x.dim() > 0 else None for x in examples)
    # A batch of 1 would make export specialize the batch dimension to 1.
    traced = tuple(x.repeat(2, *([1] * (x.dim() - 1))) if x.dim() > 0 and x.shape[0] == 1 else x for x in examples)
    with _quiet():
        return torch.export.export(module, traced, dynamic_shapes=dynamic)


def export_pt2(module: Any, example_inputs: Any, path: str | os.PathLike[str], *, max_batch: int = 4096) -> str:
    """Compiles ``module`` to a CPU ``.pt2`` package that :func:`mlship.load` opens.

    Dimension 0 of every input is exported as dynamic (1..``max_batch``); the
    signature, with the ``forward`` argument names, is saved beside the package
    as ``<path>.signature.json``. Compiling takes tens of seconds.

    Examples
    --------
    >>> import torch, mlship
    >>> path = mlship.export_pt2(torch.nn.Linear(8, 2), torch.randn(2, 8), "/tmp/linear.pt2")  # doctest: +SKIP
    >>> mlship.load(path).signature.inputs  # doctest: +SKIP
    [TensorSpec('input', 'FP32', (-1, 8))]
    """
    import torch

    examples = tuple(_to_torch(x) for x in _as_tuple(example_inputs))
    if not examples:
        raise ValueError("export_pt2 needs example_inputs, one per forward() argument")
    path = os.fspath(path)
    module = module.eval()
    try:
        program = _export_module(module, examples, max_batch)
        with _quiet():
            torch._inductor.aoti_compile_and_package(program, package_path=path, inductor_configs=_INDUCTOR_CONFIGS)
    except Exception as e:  # noqa: BLE001 - export raises many kinds
        raise ModelLoadError(f"torch.export/AOTInductor could not compile {type(module).__name__}: {e}") from None
    core = _core.load_file(path, None, list(examples), 0, True, 1)
    sig = json.loads(core.signature_json)
    names = [p for p in inspect.signature(module.forward).parameters][: len(sig["inputs"])]
    for spec, name in zip(sig["inputs"], names):
        spec["name"] = name
    with open(path + ".signature.json", "w", encoding="utf-8") as f:
        json.dump(sig, f)
    return path


def _rows(x: Any, n: int) -> Any:
    """`n` rows of tensor `x`, its rows repeated as often as needed."""
    return x.repeat(math.ceil(n / x.shape[0]), *([1] * (x.dim() - 1)))[:n]


def _example_rows(model: Model, example_inputs: Any) -> tuple[Any, ...]:
    """Two rows per input (a size of 1 would be specialized): the caller's, or made from the
    signature (zeros for integer inputs, which index any embedding, and normal noise otherwise)."""
    import torch

    specs = model.signature.inputs
    if example_inputs is not None:
        given = tuple(_to_torch(x) for x in _as_tuple(example_inputs))
        if len(given) != len(specs):
            raise ValueError(f"compile_pt2 got {len(given)} example input(s) but the model takes {len(specs)}")
        return tuple(_rows(x, 2) if spec.shape and spec.shape[0] == -1 else x for x, spec in zip(given, specs))
    rows = []
    for spec in specs:
        shape = [2 if i == 0 and d == -1 else d for i, d in enumerate(spec.shape)]
        if any(d == -1 for d in shape):
            raise ValueError(
                f"compile_pt2 needs example_inputs: input '{spec.name}' has a variable dimension other than the "
                f"batch ({list(spec.shape)}), and its size for tracing cannot be guessed"
            )
        if spec.numpy_dtype is None:  # BF16
            rows.append(torch.randn(shape, dtype=torch.bfloat16))
        elif np.dtype(spec.numpy_dtype).kind in "iub":
            rows.append(torch.from_numpy(np.zeros(shape, spec.numpy_dtype)))
        else:
            rows.append(torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(spec.numpy_dtype)))
    return tuple(rows)


def _fixed_dims(program: Any, model: Model) -> list[str]:
    """Dimensions the signature leaves variable (-1) that the exported graph fixed."""
    from torch.export.graph_signature import InputKind

    user = [s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    shapes = {n.name: n.meta["val"].shape for n in program.graph.nodes if n.op == "placeholder" and n.name in user}
    fixed = []
    for spec, name in zip(model.signature.inputs, user):
        for i, (declared, traced) in enumerate(zip(spec.shape, shapes[name])):
            if declared == -1 and isinstance(traced, int):
                fixed.append(f"dimension {i} of input '{spec.name}' (fixed at {traced})")
    return fixed


def _flat(out: Any) -> list[np.ndarray]:
    import torch

    values = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else [out]
    return [torch.as_tensor(v).double().numpy() for v in values]


#: Batch sizes the compiled model is checked at, beside the 2 rows it was traced with.
_CHECK_ROWS = (1, 3, 5)


def _check_answers(compiled: Model, source: Model, examples: tuple[Any, ...]) -> None:
    """Refuses a compiled model that answers differently from the TorchScript one at other batch
    sizes: the converter evaluates control flow on sizes at trace time and keeps no guard, so
    ``if x.size(0) == 2`` would silently become the traced branch for every batch."""
    batchable = all(s.shape and s.shape[0] == -1 for s in source.signature.inputs)
    for rows in _CHECK_ROWS if batchable else (None,):
        xs = [x if rows is None else _rows(x, rows) for x in examples]
        for want, got in zip(_flat(source(*xs)), _flat(compiled(*xs))):
            scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
            if want.shape != got.shape or (want.size and float(np.max(np.abs(want - got))) > 1e-3 * scale):
                where = f"at batch {rows}" if rows is not None else "on the example"
                raise FailedPreconditionError(
                    f"the compiled graph answers differently from the TorchScript model {where} (traced with 2 "
                    "rows): the graph depends on a size (a branch, or a tensor made to a size) that the exporter "
                    "fixed at the size it traced with"
                )


def _convert_script(source: Model, examples: tuple[Any, ...], folder: str) -> Any:
    """The exported program of a loaded TorchScript model (torch's TS2EPConverter), with every
    dimension the graph allows left dynamic."""
    import torch
    from torch._export.converter import TS2EPConverter

    script_path = os.path.join(folder, "model.pt")
    source._core.save(script_path)
    try:
        script = torch.jit.load(script_path)
        with _quiet():
            return TS2EPConverter(script, examples).convert()
    except Exception as e:  # noqa: BLE001 - the converter raises many kinds
        text = str(e).split("\n")[0][:300]
        if "torch.classes.mlship" in str(e) or "mlship::" in str(e) or "ScriptObject" in str(e):
            raise FailedPreconditionError(
                "compile_pt2 cannot export this graph: it holds mlship's packed (int8/fp16) weights, which "
                f"torch.export cannot read ({text}); compile the model before quantizing it"
            ) from None
        raise ModelLoadError(f"torch.export could not convert the TorchScript graph ({text}); compiling the "
                             "torch.nn.Module instead (compile_pt2(module, example_inputs)) may work") from None


def compile_pt2(model: Any, example_inputs: Any = None) -> Model:
    """Compiles a loaded TorchScript model ahead of time with AOTInductor; returns the compiled
    model (format ``aotinductor``), which serves, saves and deploys like any other.

    A ``torch.nn.Module`` goes through ``torch.export`` (dimension 0 dynamic), like
    :func:`export_pt2`. A loaded TorchScript model, the form every mlship pass returns (so
    ``mlship.prune`` or ``mlship.low_rank`` output can be compiled too), is converted to an
    exported program by torch's ``TS2EPConverter`` with every dimension the graph allows left
    dynamic; that converter handles fewer graphs (not ``nn.TransformerEncoder``'s branches), and
    the message then says to compile the module. ``mlship.optimize(..., methods=[..., "pt2"])``
    measures the result as one more candidate. Compiling takes seconds to minutes;
    ``model.optimization`` reports how long. The compiled model is checked against the
    TorchScript one at batch sizes 1, 3 and 5 and refused if it answers differently (a graph
    whose shapes were fixed at trace time). Graphs that hold mlship's own packed int8 or fp16
    weights cannot be exported (a :class:`mlship.FailedPreconditionError` says so): compile
    the model before quantizing, or pick between the two with ``optimize``.

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
        A TorchScript model or an eager module (a module or path is loaded first, with
        ``example_inputs``, for its signature and the answer check).
    example_inputs : optional
        Inputs to trace with; made from the signature when every variable dimension is the batch.

    Raises
    ------
    mlship.FailedPreconditionError
        The model is a ``.pt2`` already, holds weights the exporter cannot read, or the compiled
        graph would fix a dimension the signature declares variable.
    mlship.ModelLoadError
        The exporter or the compiler failed (the message says which, and why).

    Examples
    --------
    >>> compiled = mlship.compile_pt2(mlship.load(torch.nn.Linear(8, 2), torch.randn(2, 8)))  # doctest: +SKIP
    >>> compiled.format, compiled.optimization["details"]["compile seconds"]                 # doctest: +SKIP
    ('aotinductor', 6.1)
    """
    import torch

    eager = isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule)
    source = model if isinstance(model, Model) else load(model, example_inputs)
    if source.format != "torchscript":
        raise FailedPreconditionError(f"compile_pt2 takes a TorchScript model; this one is {source.format} already")
    examples = _example_rows(source, example_inputs)
    folder = tempfile.mkdtemp(prefix="mlship-pt2-")
    path = os.path.join(folder, "model.pt2")
    started = time.perf_counter()
    try:
        program = _export_module(model.eval(), examples) if eager else _convert_script(source, examples, folder)
    except MlshipError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as e:  # noqa: BLE001 - export raises many kinds
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelLoadError(f"torch.export could not export {type(model).__name__}: "
                             f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}") from None
    fixed = _fixed_dims(program, source)
    if fixed:
        shutil.rmtree(folder, ignore_errors=True)
        raise FailedPreconditionError(
            "compile_pt2 would fix what the signature leaves variable: " + ", ".join(fixed) +
            "; the graph specializes it (e.g. a reshape to a constant size)"
        )
    try:
        with _quiet():
            torch._inductor.aoti_compile_and_package(program, package_path=path, inductor_configs=_INDUCTOR_CONFIGS)
    except Exception as e:  # noqa: BLE001 - inductor raises many kinds
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelLoadError(f"AOTInductor could not compile the graph: {str(e).splitlines()[0][:300]}") from None
    seconds = time.perf_counter() - started
    try:
        compiled = load(path, signature=source.signature)
        _check_answers(compiled, source, examples)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    # The package lives as long as the model (Model.save copies it) and goes with it.
    weakref.finalize(compiled, shutil.rmtree, folder, True)
    compiled._optimization = {
        "technique": "pt2",
        "layers_seen": 1,
        "layers_changed": 1,
        "summary": f"compiled ahead of time with AOTInductor in {seconds:.1f} s",
        "details": {"compile seconds": round(seconds, 1), "package bytes": os.path.getsize(path),
                    "from": (source.optimization or {}).get("technique", "the model as loaded")},
    }
    return compiled
