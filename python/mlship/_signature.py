"""Signature and TensorSpec: the named, typed, shaped inputs and outputs of a model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

#: KServe v2 datatype name -> numpy dtype (BF16 has no numpy dtype).
_NUMPY_DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BF16": None,
}

OutputKind = Literal["tensor", "tuple", "list", "dict"]


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a signature.

    Parameters
    ----------
    name : str
        The input's or output's name (forward() argument name, or dict key).
    dtype : str
        KServe v2 datatype: ``"FP32"``, ``"INT64"``, ``"BOOL"``, ...
    shape : tuple of int
        ``-1`` marks a dynamic dimension (normally the batch, dimension 0).

    Examples
    --------
    >>> TensorSpec("x", "FP32", (-1, 64))
    TensorSpec('x', 'FP32', (-1, 64))
    """

    name: str
    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.dtype not in _NUMPY_DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(_NUMPY_DTYPES)}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if any(d < -1 for d in self.shape):
            raise ValueError(f"shape of {self.name!r} must hold integers >= -1 (-1 is dynamic); got {self.shape}")

    @property
    def numpy_dtype(self) -> Any:
        """The numpy dtype for this spec, or None for BF16."""
        return _NUMPY_DTYPES[self.dtype]

    def __repr__(self) -> str:
        return f"TensorSpec({self.name!r}, {self.dtype!r}, {self.shape})"

    def __str__(self) -> str:
        return f"{self.name}: {self.dtype}[{', '.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class Signature:
    """The inputs and outputs of a model, saved with it and checked on every call.

    Examples
    --------
    >>> sig = Signature([TensorSpec("x", "FP32", (-1, 64))], [TensorSpec("logits", "FP32", (-1, 10))])
    >>> Signature.from_json(sig.to_json()) == sig
    True
    """

    inputs: list[TensorSpec]
    outputs: list[TensorSpec] = field(default_factory=list)
    output_kind: OutputKind = "tensor"

    def to_json(self) -> str:
        """The JSON form the C++ engine reads and writes."""

        def specs(items: list[TensorSpec]) -> list[dict[str, Any]]:
            return [{"name": s.name, "datatype": s.dtype, "shape": list(s.shape)} for s in items]

        return json.dumps(
            {"inputs": specs(self.inputs), "outputs": specs(self.outputs), "output_kind": self.output_kind}
        )

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Parses the JSON form written by :meth:`to_json`."""
        data = json.loads(text)

        def specs(items: list[dict[str, Any]]) -> list[TensorSpec]:
            return [TensorSpec(d["name"], d["datatype"], tuple(d["shape"])) for d in items]

        return cls(specs(data["inputs"]), specs(data["outputs"]), data.get("output_kind", "tensor"))

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"({ins}) -> {self.output_kind}({outs})"
