"""Where mlship.evaluate gets its predictions: a Model, a Deployment, a KServe v2 URL, or a
file or module that :func:`mlship.load` takes.

Every source becomes a :class:`Source`: input dtypes (to cast ``X`` to), output names, and a
``run`` that maps one batch of inputs to the flat outputs as numpy arrays.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlship._errors import InvalidInputError, ModelLoadError
from mlship._kserve_client import KServeClient, is_model_url
from mlship._signature import _NUMPY_DTYPES


@dataclass
class Source:
    """One thing that predicts, seen the same way whatever it is."""

    #: How the report names it ("mlship.Model (torchscript)", "http://.../v2/models/digits").
    label: str
    #: numpy dtype per input (None: BF16, or unknown: leave the data as it is).
    input_dtypes: list[Any]
    #: Output names, in the order ``run`` returns them.
    output_names: list[str]
    #: One batch (one array per input) -> the flat outputs.
    run: Callable[[tuple[np.ndarray, ...]], list[np.ndarray]]
    #: Seconds per call of ``run``, appended by :func:`predict_all`.
    latencies_s: list[float] = field(default_factory=list)


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return np.asarray(value)


def _flatten(result: Any, names: Sequence[str]) -> list[np.ndarray]:
    if isinstance(result, dict):
        return [_numpy(result[n]) for n in names]
    if isinstance(result, (tuple, list)):
        return [_numpy(r) for r in result]
    return [_numpy(result)]


def _from_model(model: Any, label: str, call: Callable[..., Any]) -> Source:
    sig = model.signature
    names = [o.name for o in sig.outputs]
    return Source(label=label, input_dtypes=[s.numpy_dtype for s in sig.inputs], output_names=names,
                  run=lambda inputs: _flatten(call(*inputs), names))


def _from_url(url: str) -> Source:
    client = KServeClient(url)
    dtypes = [_NUMPY_DTYPES.get(spec.get("datatype")) for spec in client.input_specs]

    names = client.output_names

    def run(inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        outputs = client.infer(list(inputs))
        missing = [n for n in names if n not in outputs]
        if missing:
            raise InvalidInputError(f"{client.url} answered without output(s) {missing}; it sent {list(outputs)}")
        return [outputs[n] for n in names] if names else list(outputs.values())

    return Source(label=client.url, input_dtypes=dtypes, output_names=names or ["output_0"], run=run)


def _float_dtype_of(module: Any) -> Any:
    """numpy dtype of a torch module's first floating-point parameter or buffer (float32 if none)."""
    import torch

    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return torch.empty(0, dtype=t.dtype).numpy().dtype if t.dtype != torch.bfloat16 else np.float32
    return np.float32


def _examples(example: tuple[np.ndarray, ...], float_dtype: Any) -> tuple[np.ndarray, ...]:
    """The first row of X for mlship.load, floating-point columns in the model's float dtype: numpy
    data is float64 by default while torch models are float32, and the example fixes the signature."""
    return tuple(x.astype(float_dtype) if x.dtype.kind == "f" else x for x in example)


def open_source(source: Any, example: tuple[np.ndarray, ...]) -> Source:
    """The :class:`Source` for ``source``; ``example`` (the first row of X) is what a file without a
    saved signature (floats as float32), or a torch.nn.Module (floats in its parameters' dtype), is
    loaded with."""
    import mlship

    if isinstance(source, Source):
        return source
    if isinstance(source, mlship.Deployment):
        return _from_model(source.model, f"mlship.Deployment {source.name!r}", source.predict)
    if isinstance(source, mlship.Model):
        return _from_model(source, f"mlship.Model ({source.format})", source)
    if is_model_url(source):
        return _from_url(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            model = mlship.load(source)
        except ModelLoadError as e:
            if "no saved signature" not in str(e):
                raise
            model = mlship.load(source, example_inputs=_examples(example, np.float32))
        return _from_model(model, f"{os.fspath(source)} ({model.format})", model)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(source, torch.nn.Module):
        model = mlship.load(source, example_inputs=_examples(example, _float_dtype_of(source)))
        return _from_model(model, f"{type(source).__name__} (loaded into mlship, {model.how_loaded})", model)
    raise TypeError(
        "expected an mlship.Model, an mlship.Deployment, a KServe v2 model URL "
        "(http://host:port/v2/models/NAME), a model file or a torch.nn.Module; "
        f"got {type(source).__name__}"
    )


def as_inputs(X: Any) -> tuple[np.ndarray, ...]:
    """``X`` as a tuple of numeric numpy arrays (a tuple or list of arrays is one per model input).

    Raises InvalidInputError for non-numeric data or inputs of different row counts.
    """
    parts = tuple(X) if isinstance(X, tuple) else (X,)
    arrays = []
    for i, part in enumerate(parts):
        try:
            arr = _numpy(part)
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"X{'' if len(parts) == 1 else f'[{i}]'} must be numeric; got {e}") from None
        if arr.dtype.kind not in "biuf":
            what = "X" if len(parts) == 1 else f"X[{i}]"
            raise InvalidInputError(
                f"{what} must be numeric (bool, int or float); got dtype {arr.dtype}. "
                "Encode text or categories as numbers first"
            )
        if arr.ndim == 0:
            raise InvalidInputError("X must have one row per example (at least 1 dimension); got a scalar")
        arrays.append(arr)
    rows = {len(a) for a in arrays}
    if len(rows) > 1:
        raise InvalidInputError(f"the inputs in X have different row counts: {[len(a) for a in arrays]}")
    return tuple(arrays)


def cast_inputs(inputs: tuple[np.ndarray, ...], source: Source) -> tuple[np.ndarray, ...]:
    """Each input in the dtype the source takes (float64 data for an FP32 model, say)."""
    if len(inputs) != len(source.input_dtypes):
        raise InvalidInputError(f"{source.label} takes {len(source.input_dtypes)} input(s); X holds {len(inputs)}")
    out = []
    for x, dtype in zip(inputs, source.input_dtypes):
        out.append(x if dtype is None or x.dtype == dtype else x.astype(dtype))
    return tuple(out)


def predict_all(source: Source, inputs: tuple[np.ndarray, ...], batch_size: int,
                clock: Callable[[], float] = time.perf_counter) -> list[np.ndarray]:
    """Runs every row through ``source`` in batches of ``batch_size``, timing each call.

    Returns the flat outputs, concatenated along rows.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    rows = len(inputs[0])
    pieces: list[list[np.ndarray]] = []
    for start in range(0, rows, batch_size):
        batch = tuple(np.ascontiguousarray(x[start:start + batch_size]) for x in inputs)
        began = clock()
        outputs = source.run(batch)
        source.latencies_s.append(clock() - began)
        pieces.append(outputs)
    if not pieces:
        raise InvalidInputError("X has no rows; evaluation needs at least one")
    return [np.concatenate([p[i] for p in pieces]) if pieces[0][i].ndim else pieces[0][i]
            for i in range(len(pieces[0]))]
