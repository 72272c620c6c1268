"""mlship.quantize, mlship.prune, mlship.low_rank, mlship.fold: one optimization pass each, run in C++."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mlship import _core
from mlship._errors import InvalidInputError
from mlship._model import Model

#: The dtypes mlship.quantize accepts.
QUANT_DTYPES = ("int8", "fp16", "bf16")
#: The int8 kernels mlship.quantize can be told to use.
INT8_MODES = ("auto", "dynamic", "weight_only")
#: Calibration rows mlship.quantize runs through the model at most (the first ones), and
#: rows per calibration batch.
CALIBRATION_MAX_ROWS = 1024
_CALIBRATION_BATCH = 32
#: When mlship.fold converts convolutions to oneDNN's prepacked layout.
PREPACK_MODES = ("auto", "never", "always")


def _as_model(model: Any, example_inputs: Any = None) -> Model:
    if isinstance(model, Model):
        return model
    from mlship._load import load

    return load(model, example_inputs)


def check_inputs(model: Model, X: Any, what: str) -> tuple[np.ndarray, ...]:
    """``X`` (an array, or a tuple of arrays for several inputs, one row each) as arrays of the
    signature's dtypes; InvalidInputError naming ``what`` when it does not fit the signature."""
    xs = tuple(X) if isinstance(X, (tuple, list)) else (X,)
    specs = model.signature.inputs
    if len(xs) != len(specs):
        names = ", ".join(str(s) for s in specs)
        raise InvalidInputError(f"{what} holds {len(xs)} input(s) but the model takes {len(specs)}: {names}")
    arrays = []
    for x, spec in zip(xs, specs):
        a = np.asarray(x)
        fits = a.ndim == len(spec.shape) and all(d in (-1, n) for d, n in zip(spec.shape, a.shape))
        if not fits:
            raise InvalidInputError(
                f"{what} for input '{spec.name}' has shape {tuple(a.shape)} but the model's signature "
                f"expects {list(spec.shape)} (-1 is any size)"
            )
        arrays.append(np.ascontiguousarray(a, dtype=spec.numpy_dtype) if spec.numpy_dtype is not None else a)
    rows = {len(a) for a in arrays}
    if len(rows) != 1:
        raise InvalidInputError(f"{what}: the inputs have different numbers of rows: {sorted(rows)}")
    return tuple(arrays)


def _calibration_batches(model: Model, calibration: Any) -> list[tuple[np.ndarray, ...]]:
    if calibration is None:
        return []
    arrays = check_inputs(model, calibration, "calibration")
    n = min(len(arrays[0]), CALIBRATION_MAX_ROWS)
    if n == 0:
        raise InvalidInputError("calibration is empty; pass at least one row")
    if not all(spec.shape and spec.shape[0] == -1 for spec in model.signature.inputs):
        return [arrays]  # the model takes its inputs whole: one call
    return [tuple(a[i:i + _CALIBRATION_BATCH] for a in arrays) for i in range(0, n, _CALIBRATION_BATCH)]


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r}")
    return float(value)


def _wrap(result: tuple[Any, dict[str, Any]]) -> Model:
    core, report = result
    out = Model(core)
    out._optimization = report
    return out


def _timing_runs(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"timing_runs must be a positive integer; got {value!r}")
    return value


def quantize(model: Any, dtype: str = "int8", *, mode: str = "auto", timing_runs: int = 15,
             calibration: Any = None, convolutions: str = "auto") -> Model:
    """Quantizes the model's Linear layers (and, for int8, its embedding tables) to int8, fp16
    or bf16; returns a new model.

    The pass rewrites the TorchScript graph in mlship's C++ (no ``torch.ao.quantization``).
    Linears hidden in torch's fused Transformer fast path (``nn.TransformerEncoderLayer``,
    ``nn.MultiheadAttention``) are reached by switching that path to its unfused code first;
    the report says how many fused calls were replaced.

    - ``"int8"``: per-output-channel symmetric int8 weights. Two kernels are measured on this
      machine and the faster is kept per batch size: torch's dynamic int8 kernel
      (``quantized::linear_dynamic``, activations quantized per batch) where the installed
      LibTorch has it, and mlship's weight-only kernel (float activations times int8 weights).
    - ``"fp16"`` / ``"bf16"``: weights stored in half precision; the product runs in half
      precision or is widened to fp32 per call, whichever measured faster.

    - ``"int8"`` also turns ``nn.Embedding`` tables into int8 with one symmetric scale per row,
      looked up and dequantized with plain torch operators.
    - ``"int8"`` with ``calibration`` data also runs the 2-D convolutions on int8 activations
      (static ranges): batch norms are folded, then each chain of convolutions, the ReLUs after
      them, residual adds and max pools runs on uint8 activations with torch's quantized
      operators (``quantized::conv2d``/``conv2d_relu``/``add_relu``), each activation's range
      measured by running the calibration rows through the model. The model is timed at
      batch 1 with int8 and with fp32 convolutions and the faster is kept; the report says both.

    ``model.optimization`` on the result says what was done, which kernel or compute mode was
    chosen (with the timings), what the CPU supports, and which layers were left in fp32
    (convolutions, LSTMs, ...). A model with no Linear layers comes
    back unchanged, with ``layers_changed == 0`` and a summary saying so.

    Saved quantized models call mlship's own TorchScript ops, so they need ``import mlship``
    (which registers them) to load; ``mlship.load`` opens them.

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
        A TorchScript model (``.pt2`` packages are compiled and cannot be rewritten).
    dtype : {"int8", "fp16", "bf16"}
    mode : {"auto", "dynamic", "weight_only"}
        int8 only: which kernel; ``"auto"`` measures both.
    timing_runs : int
        Timed runs per kernel and batch size when choosing.
    calibration : array or tuple of arrays, optional
        int8 only: inputs like those the model will see (one row each, the first
        ``CALIBRATION_MAX_ROWS`` = 1024 are used), for the activation ranges of int8
        convolutions. Without it convolutions stay fp32 and the report says so.
    convolutions : {"auto", "int8"}
        With calibration: ``"auto"`` keeps int8 convolutions only if they measure faster at
        batch 1; ``"int8"`` keeps them without timing.

    Raises
    ------
    ValueError
        Unknown dtype or mode.
    mlship.InvalidInputError
        Calibration data that does not fit the signature or does not run through the model.
    mlship.FailedPreconditionError
        The model is a ``.pt2`` package.

    Examples
    --------
    >>> import torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> small = mlship.quantize(mlship.load(net, torch.randn(1, 64)), "int8")
    >>> small.optimization["layers_changed"]
    2
    """
    if dtype not in QUANT_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; supported: {', '.join(repr(d) for d in QUANT_DTYPES)}")
    if mode not in INT8_MODES:
        raise ValueError(f"unknown int8 mode {mode!r}; supported: {', '.join(repr(m) for m in INT8_MODES)}")
    if calibration is not None and dtype != "int8":
        raise ValueError(f"calibration is for int8 only; got dtype {dtype!r}")
    if convolutions not in ("auto", "int8"):
        raise ValueError(f"unknown convolutions choice {convolutions!r}; supported: 'auto', 'int8'")
    loaded = _as_model(model)
    return _wrap(_core.quantize(loaded._core, dtype, mode, _timing_runs(timing_runs),
                                _calibration_batches(loaded, calibration), convolutions == "int8"))


def fold(model: Any, *, prepack: str = "auto", timing_runs: int = 15) -> Model:
    """Folds batch norms (and constant arithmetic) into the convolutions before them; returns
    a new model that computes the same function in fp32, up to float rounding.

    Then, with ``prepack="auto"``, the model is timed at batch 1 and 8 with its convolutions
    in oneDNN's prepacked layout and without, and the faster is kept. The report says how many
    batch norms were folded and which could not be (a batch norm not directly after a
    convolution stays).

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
    prepack : {"auto", "never", "always"}
    timing_runs : int
        Timed runs per variant when choosing.

    Raises
    ------
    ValueError
        Unknown ``prepack`` or bad ``timing_runs``.

    Examples
    --------
    >>> import torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    >>> mlship.fold(mlship.load(net, torch.randn(1, 1, 8, 8))).optimization["details"]["batch norms folded"]
    '1 of 1'
    """
    if prepack not in PREPACK_MODES:
        raise ValueError(f"unknown prepack mode {prepack!r}; supported: {', '.join(repr(m) for m in PREPACK_MODES)}")
    return _wrap(_core.fold(_as_model(model)._core, prepack, _timing_runs(timing_runs)))


def prune(model: Any, amount: float = 0.5) -> Model:
    """Structured pruning: removes whole neurons of Linear layers; returns a new, smaller model.

    In each Linear whose output feeds only another Linear (through activations such as ReLU
    or GELU that keep 0 at 0), the ``amount`` fraction of neurons with the smallest L2 norm
    (weights and bias) is removed, and the next layer loses the matching inputs. Layers whose
    outputs leave the model keep their shape.

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
    amount : float in [0, 1)
        Fraction of neurons to remove from each prunable layer (each keeps at least one).

    Raises
    ------
    ValueError
        ``amount`` outside [0, 1).
    TypeError
        ``amount`` is not a number.

    Examples
    --------
    >>> import torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> mlship.prune(mlship.load(net, torch.randn(1, 64)), amount=0.5).optimization["details"]["neurons"]
    '32 -> 16'
    """
    value = _real(amount, "amount")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"amount must be in [0, 1); got {amount!r}")
    return _wrap(_core.prune(_as_model(model)._core, value))


def low_rank(model: Any, energy: float = 0.9, *, rank: int | None = None) -> Model:
    """Factors Linear weights with an SVD (Eigen) into two thinner Linears; returns a new model.

    W (out x in) becomes (U_r S_r^1/2)(S_r^1/2 V_r^T). The rank r is ``rank`` when given,
    else the smallest that keeps ``energy`` of the squared singular values. Layers where
    r * (out + in) >= out * in stay dense, since factoring them would not save anything.

    Parameters
    ----------
    model : mlship.Model, torch.nn.Module or path
    energy : float in (0, 1]
    rank : int >= 1, optional
        A fixed rank for every layer (capped at min(out, in)); overrides ``energy``.

    Raises
    ------
    ValueError
        ``energy`` outside (0, 1] or ``rank`` < 1.

    Examples
    --------
    >>> import torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 64))
    >>> mlship.low_rank(mlship.load(net, torch.randn(1, 64)), rank=8).optimization["layers_changed"]
    1
    """
    value = _real(energy, "energy")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"energy must be in (0, 1]; got {energy!r}")
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
            raise TypeError(f"rank must be an integer >= 1; got {rank!r}")
        if rank < 1:
            raise ValueError(f"rank must be at least 1; got {rank!r}")
        rank = int(rank)
    return _wrap(_core.low_rank(_as_model(model)._core, rank, value))
