"""mlship.Model: a loaded model run by the native engine."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from mlship import _core
from mlship._errors import InvalidInputError
from mlship._signature import Signature


def _torch_tensor_type() -> Any:
    # torch is imported only if the caller already uses it: an input cannot be
    # a torch tensor unless torch was imported.
    torch = sys.modules.get("torch")
    return torch.Tensor if torch is not None else None


class Model:
    """A model loaded into mlship's C++ engine; call it like a function.

    Calls are thread-safe, run without the GIL, and accept numpy arrays, torch
    tensors or nested lists of numbers. Results come back as the kind given
    (torch in, torch out; otherwise numpy), sharing memory with the engine's
    output (no copy).

    Examples
    --------
    >>> import numpy as np, torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    >>> model = mlship.load(net, example_inputs=torch.zeros(1, 4))
    >>> model(np.ones((3, 4), dtype=np.float32)).shape
    (3, 2)
    """

    def __init__(self, core: Any, *, how: str = "") -> None:
        self._core = core
        self._signature = Signature.from_json(core.signature_json)
        self._specs = self._signature.inputs
        self._how = how
        self._optimization: dict[str, Any] | None = None

    @property
    def signature(self) -> Signature:
        """The inputs and outputs every call is checked against."""
        return self._signature

    @property
    def format(self) -> str:
        """``"torchscript"`` or ``"aotinductor"``."""
        return self._core.format

    @property
    def optimized(self) -> bool:
        """True when the frozen, optimized TorchScript graph is the one that runs."""
        return self._core.optimized

    @property
    def optimize_note(self) -> str:
        """Why the model was not optimized, when it was not."""
        return self._core.optimize_note

    @property
    def how_loaded(self) -> str:
        """How a torch.nn.Module became TorchScript: ``"scripted"`` or ``"traced (...)"``; else empty."""
        return self._how

    @property
    def optimization(self) -> dict[str, Any] | None:
        """What the optimization pass that made this model did (technique, layers seen and
        changed, a summary, details such as the kernel chosen). Saved with the model, so a
        reloaded optimized model has it too; None for any other model."""
        return self._optimization

    def __call__(self, *inputs: Any) -> Any:
        """Runs the model on one batch. See :meth:`predict`."""
        flat = self._core.run_arrays(inputs)  # plain numpy arrays: no DLPack round trips
        if flat is not None:
            return self._structure(flat)
        prepared, as_torch = self._prepare(inputs)
        if as_torch:
            import torch

            flat = self._core.run(prepared, torch.from_dlpack)
        else:
            flat = self._core.run(prepared, _numpy_from_dlpack)
        return self._structure(flat)

    def _prepare(self, inputs: tuple[Any, ...]) -> tuple[list[Any], bool]:
        """Checks the input count and turns each input into a DLPack-ready array or tensor.

        Returns the prepared inputs and whether results should be torch tensors.
        """
        specs = self._specs
        if len(inputs) != len(specs):
            names = ", ".join(s.name for s in specs)
            raise InvalidInputError(f"expected {len(specs)} input(s) ({names}); got {len(inputs)}")
        tensor_type = _torch_tensor_type()
        as_torch = False
        prepared = []
        for x, spec in zip(inputs, specs):
            if type(x) is np.ndarray:
                if not x.dtype.isnative:
                    x = x.astype(x.dtype.newbyteorder("="), order="C")  # DLPack carries native byte order only
                elif not (x.flags.c_contiguous and x.flags.writeable):
                    x = np.array(x, order="C", copy=True)  # DLPack cannot carry read-only or odd strides
            elif tensor_type is not None and isinstance(x, tensor_type):
                as_torch = True
                x = x.detach()
                if x.device.type != "cpu":
                    raise InvalidInputError(f"input '{spec.name}' must be on the CPU; got a tensor on {x.device}")
                if not x.is_contiguous():
                    x = x.contiguous()
            elif isinstance(x, np.ndarray):
                x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
            else:
                x = self._from_python(x, spec)
            prepared.append(x)
        return prepared, as_torch

    def predict(self, *inputs: Any) -> Any:
        """Runs the model on one batch of inputs, one argument per model input.

        Raises
        ------
        mlship.InvalidInputError
            The inputs do not match :attr:`signature` (count, dtype, rank, shape, empty).
        mlship.InferenceError
            The model's forward raised. The model keeps working afterwards.
        """
        return self(*inputs)

    def save(self, path: str) -> None:
        """Saves the model with its signature (and its optimization report, when it has one);
        :func:`mlship.load` opens it again."""
        self._core.save(str(path))
        if self._optimization is not None:
            from mlship._report_file import write_report

            write_report(str(path), self._optimization)

    def __repr__(self) -> str:
        return (
            f"mlship.Model(format={self.format!r}, signature={self._signature}, "
            f"optimized={self.optimized}, source={self._core.source!r})"
        )

    # --- helpers ---

    @staticmethod
    def _from_python(x: Any, spec: Any) -> np.ndarray:
        if spec.numpy_dtype is None:
            raise InvalidInputError(f"input '{spec.name}' is BF16; pass a torch tensor of dtype torch.bfloat16")
        try:
            return np.ascontiguousarray(np.asarray(x, dtype=spec.numpy_dtype))
        except (TypeError, ValueError) as e:
            raise InvalidInputError(
                f"input '{spec.name}' expected numbers convertible to {spec.dtype} with shape {spec.shape}; "
                f"got {type(x).__name__} ({e})"
            ) from None

    def _structure(self, flat: tuple[Any, ...]) -> Any:
        kind = self._signature.output_kind
        if kind == "tensor":
            return flat[0]
        if kind == "tuple":
            return tuple(flat)
        if kind == "list":
            return list(flat)
        return {spec.name: value for spec, value in zip(self._signature.outputs, flat)}


class _Interface:
    """A model's inputs and outputs (its Signature) without the model: what a server
    endpoint needs to prepare calls and give results their structure."""

    def __init__(self, signature: Signature) -> None:
        self._signature = signature
        self._specs = signature.inputs

    _prepare = Model._prepare
    _structure = Model._structure
    _from_python = staticmethod(Model._from_python)


def _numpy_from_dlpack(exported: Any) -> np.ndarray:
    try:
        return np.from_dlpack(exported)
    except (BufferError, TypeError, RuntimeError):
        # numpy has no bfloat16: go through torch and widen to float32.
        import torch

        return torch.from_dlpack(exported).float().numpy()
