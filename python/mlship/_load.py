"""mlship.load: TorchScript files, .pt2 packages and torch.nn.Modules into the engine."""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from mlship import _core
from mlship._errors import ModelLoadError
from mlship._model import Model
from mlship._signature import SequenceBatching, Signature


def _as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    return (example_inputs,)


def _to_torch(x: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().contiguous()
    return torch.from_numpy(np.ascontiguousarray(x))


def _script_or_trace(module: Any, examples: tuple[Any, ...]) -> tuple[Any, str]:
    import torch

    try:
        return torch.jit.script(module), "scripted"
    except Exception as script_error:  # noqa: BLE001 - any scripting failure means: try tracing
        reason = str(script_error).strip().splitlines()[0] if str(script_error).strip() else type(script_error).__name__
        if not examples:
            raise ModelLoadError(
                f"torch.jit.script failed on {type(module).__name__} ({reason}); "
                "pass example_inputs so mlship can trace it instead"
            ) from None
        try:
            traced = torch.jit.trace(module, tuple(_to_torch(x) for x in examples), strict=False)
        except Exception as trace_error:  # noqa: BLE001
            raise ModelLoadError(
                f"could not script ({reason}) nor trace ({trace_error}) {type(module).__name__}"
            ) from None
        return traced, f"traced (scripting failed: {reason})"


def load(
    source: Any,
    example_inputs: Any = None,
    *,
    signature: Signature | None = None,
    sequence: SequenceBatching | None = None,
    threads: int | None = None,
    optimize: bool = True,
    warmup_runs: int = 3,
) -> Model:
    """Loads a model into mlship's native engine.

    Parameters
    ----------
    source : str, os.PathLike, torch.jit.ScriptModule or torch.nn.Module
        A TorchScript file (``torch.jit.save``) or a ``.pt2`` AOTInductor package
        (told apart by content, not name); or a module, which is scripted, or
        traced with ``example_inputs`` when scripting fails (``Model.how_loaded``
        says which).
    example_inputs : tensor, array or tuple of them, optional
        One per ``forward`` argument. Gives the signature (dimension 0 becomes
        the dynamic batch dimension), checks optimization and warms up.
        Not needed when the file carries a signature saved by mlship.
    signature : mlship.Signature, optional
        Declares inputs and outputs instead of deriving them.
    sequence : mlship.SequenceBatching, optional
        Batches requests of different lengths along ``sequence.dim`` together, padded (see
        docs/serving.md, "Sequence batching"). With ``example_inputs`` and no ``signature``,
        the derived signature gets that dimension dynamic in every input, and in every
        output whose size there is the example's length.
    threads : int, optional
        Intra-op threads per call; default: torch's default (one per core).
    optimize : bool
        Freeze and ``optimize_for_inference`` TorchScript when outputs stay equal.
    warmup_runs : int
        Runs made at load time so the first call is not slow.

    Raises
    ------
    mlship.ModelLoadError
        Missing, empty, corrupt or pickled files, a package for another device,
        or a module that can be neither scripted nor traced.

    Examples
    --------
    >>> import torch, mlship
    >>> model = mlship.load(torch.nn.Linear(8, 2), example_inputs=torch.randn(1, 8))
    >>> model.signature.inputs
    [TensorSpec('input', 'FP32', (-1, 8))]
    """
    examples = _as_tuple(example_inputs)
    if sequence is not None:
        if signature is None:
            # Derive the signature from the examples, then mark the sequence dimension.
            derived = load(source, example_inputs, threads=threads, optimize=False, warmup_runs=0).signature
            length = _as_tuple(example_inputs)[0].shape[sequence.dim] if examples else None
            signature = derived.with_sequence(sequence, int(length) if length is not None else None)
        else:
            signature = Signature(signature.inputs, signature.outputs, signature.output_kind, sequence)
    sig_json = signature.to_json() if signature is not None else None
    threads_arg = int(threads) if threads else 0
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads}")
    if isinstance(source, (str, os.PathLike)):
        from mlship._report_file import read_report

        core = _core.load_file(os.fspath(source), sig_json, _examples_for_core(examples), threads_arg, optimize,
                               warmup_runs)
        model = Model(core)
        model._optimization = read_report(os.fspath(source))
        return model
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(source, torch.nn.Module):
        raise TypeError(
            "mlship.load expected a path (TorchScript .pt or .pt2 package), a torch.jit.ScriptModule or a "
            f"torch.nn.Module; got {type(source).__name__}"
        )
    how = ""
    module = source
    if not isinstance(source, torch.jit.ScriptModule):
        was_training = source.training
        source.eval()
        try:
            module, how = _script_or_trace(source, examples)
        finally:
            source.train(was_training)
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    core = _core.load_torchscript_bytes(buffer.getvalue(), sig_json, _examples_for_core(examples), threads_arg,
                                        optimize, warmup_runs)
    return Model(core, how=how)


def _examples_for_core(examples: tuple[Any, ...]) -> list[Any]:
    import numpy as np

    out = []
    for x in examples:
        if isinstance(x, np.ndarray) or hasattr(x, "__dlpack__"):
            x = x.detach() if hasattr(x, "detach") else np.ascontiguousarray(x)
            out.append(x.contiguous() if hasattr(x, "contiguous") else x)
        else:
            out.append(np.asarray(x))
    return out
