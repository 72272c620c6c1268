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
class SequenceBatching:
    """Sequence batching: requests whose inputs differ only in dimension ``dim`` (a sequence
    length) share batches, padded to the longest request in the batch.

    Parameters
    ----------
    dim : int
        The dimension that varies per request (>= 1), dynamic (-1) in every input.
    pad : dict of str to number
        Each input's pad value; inputs not named pad with 0 (right for an attention mask:
        give the token ids their pad token).
    bucket : int
        Only requests whose lengths fall in one bucket of this width share a batch
        (1..16, 17..32, ... by default), so padding stays under ``bucket`` positions.
    max_length : int
        Longer requests run alone, unpadded.

    Outputs whose dimension ``dim`` is dynamic are cut back to each request's own length.

    Examples
    --------
    >>> SequenceBatching(dim=1, pad={"input_ids": 0})
    SequenceBatching(dim=1, pad={'input_ids': 0}, bucket=16, max_length=512)
    """

    dim: int = 1
    pad: dict[str, float] = field(default_factory=dict)
    bucket: int = 16
    max_length: int = 512

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"SequenceBatching.dim must be >= 1 (0 is the batch dimension); got {self.dim}")
        if not 1 <= self.bucket <= self.max_length:
            raise ValueError(f"SequenceBatching.bucket must be in 1..max_length ({self.max_length}); got {self.bucket}")

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "pad": dict(self.pad), "bucket": self.bucket, "max_length": self.max_length}


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
    #: Padding requests of different lengths into one batch (off when None).
    sequence: SequenceBatching | None = None

    def to_json(self) -> str:
        """The JSON form the C++ engine reads and writes."""

        def specs(items: list[TensorSpec]) -> list[dict[str, Any]]:
            return [{"name": s.name, "datatype": s.dtype, "shape": list(s.shape)} for s in items]

        data: dict[str, Any] = {"inputs": specs(self.inputs), "outputs": specs(self.outputs),
                                "output_kind": self.output_kind}
        if self.sequence is not None:
            data["sequence"] = self.sequence.to_dict()
        return json.dumps(data)

    def with_sequence(self, sequence: SequenceBatching, example_length: int | None = None) -> Signature:
        """This signature with sequence batching on: dimension ``sequence.dim`` of every input
        becomes dynamic, and so does that of every output whose size there is
        ``example_length`` (the example's sequence length, when known)."""

        def dynamic(spec: TensorSpec) -> TensorSpec:
            shape = list(spec.shape)
            shape[sequence.dim] = -1
            return TensorSpec(spec.name, spec.dtype, tuple(shape))

        for spec in self.inputs:
            if len(spec.shape) <= sequence.dim:
                raise ValueError(f"sequence batching along dimension {sequence.dim}: input {spec} has no such "
                                 "dimension")
        outputs = [dynamic(o) if example_length is not None and len(o.shape) > sequence.dim
                   and o.shape[sequence.dim] in (example_length, -1) else o for o in self.outputs]
        return Signature([dynamic(i) for i in self.inputs], outputs, self.output_kind, sequence)

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Parses the JSON form written by :meth:`to_json`."""
        data = json.loads(text)

        def specs(items: list[dict[str, Any]]) -> list[TensorSpec]:
            return [TensorSpec(d["name"], d["datatype"], tuple(d["shape"])) for d in items]

        seq = data.get("sequence")
        sequence = SequenceBatching(**seq) if seq else None
        return cls(specs(data["inputs"]), specs(data["outputs"]), data.get("output_kind", "tensor"), sequence)

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"({ins}) -> {self.output_kind}({outs})"
