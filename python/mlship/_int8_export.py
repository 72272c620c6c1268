"""int8 weights that torch.export and AOTInductor can compile: the ``int8+pt2`` candidate.

mlship's int8 pass stores weights in its own TorchScript classes, which torch.export cannot
read. For a compiled int8 candidate, a copy of the eager module gets its ``nn.Linear`` layers
replaced by :class:`Int8Linear`, whose weights are plain int8 buffers multiplied by torch's
``aten::_weight_int8pack_mm`` (int8 weight-only, one scale per output channel), an operator
both the exporter and Inductor's CPU backend take. Activations go in as bf16: torch's CPU
kernel for that op is vectorized for bf16 only (measured at batch 1 on 2048x2048: fp32
activations 3.96 ms, bf16 0.30 ms, a plain fp32 matmul 0.67 ms).

Its ``nn.Embedding`` tables become :class:`Int8Embedding`: int8 rows with one scale per row, the
same layout as mlship's TorchScript int8 embeddings, looked up with plain ``embedding`` (which
reads int8 tables) and widened after the lookup, so only the rows a request reads are widened.
"""

from __future__ import annotations

import copy
from typing import Any

#: Modules whose Linears are read as weights by fused code (``nn.MultiheadAttention`` passes
#: ``out_proj.weight`` to its kernel; the Transformer layers' fast path reads every weight), so
#: an int8 buffer in their place would be read as a float weight.
_WEIGHT_READERS = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer")


#: Output channels an int8 Linear is padded to for compilation (see Int8Linear).
_MIN_COMPILED_ROWS = 16


def _int8_rows(w: Any) -> tuple[Any, Any]:
    """``w`` (2-D float) as int8 rows and their scales (one per row, max|row| / 127; 1 for a
    zero row), the layout both classes below store."""
    import torch

    scales = w.abs().amax(1) / 127.0
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


def _int8_linear_class() -> type:
    import torch

    class Int8Linear(torch.nn.Module):
        """y = x W^T + b with W int8 per output channel (scale = max|row| / 127), x in bf16."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            q, scales = _int8_rows(linear.weight.detach().float())
            if self.out_features < _MIN_COMPILED_ROWS:
                # Inductor (torch 2.13) fails to lower the op for 8 or fewer output channels
                # ("AssertionError: <class 'torch._inductor.ir.Pointwise'>"), which is every small
                # classifier head: zero rows pad it, and forward cuts them off.
                pad = _MIN_COMPILED_ROWS - self.out_features
                q = torch.cat([q, q.new_zeros(pad, q.shape[1])])
                scales = torch.cat([scales, scales.new_ones(pad)])
            self.register_buffer("qweight", q)
            self.register_buffer("scales", scales.to(torch.bfloat16))
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
            y = torch.ops.aten._weight_int8pack_mm(rows, self.qweight, self.scales).float()
            if y.shape[1] != self.out_features:
                y = y[:, : self.out_features]
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(x.shape[:-1] + (self.out_features,))

    return Int8Linear


def _int8_embedding_class() -> type:
    import torch

    class Int8Embedding(torch.nn.Module):
        """Rows int8 with one scale per row (scale = max|row| / 127), widened after the lookup."""

        def __init__(self, table: torch.nn.Embedding) -> None:
            super().__init__()
            q, scales = _int8_rows(table.weight.detach().float())
            self.register_buffer("qweight", q)
            self.register_buffer("scales", scales[:, None])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            f = torch.nn.functional
            return f.embedding(ids, self.qweight).float() * f.embedding(ids, self.scales)

    return Int8Embedding


def _embedding_kept_reason(table: Any) -> str | None:
    """Why an ``nn.Embedding`` stays fp32 here, or None when it can be int8."""
    if table.max_norm is not None:
        return "max_norm renormalizes the looked-up rows in the table itself"
    return None


def int8_for_export(module: Any) -> tuple[Any, dict[str, Any]]:
    """A copy of ``module`` with its Linears and embedding tables int8 (see the module docstring),
    and a pass report."""
    import torch

    int8_linear, int8_embedding = _int8_linear_class(), _int8_embedding_class()
    out = copy.deepcopy(module).eval()
    linears, tables, kept = 0, 0, []

    def visit(parent: torch.nn.Module, inside_reader: bool) -> None:
        nonlocal linears, tables
        for name, child in parent.named_children():
            reader = inside_reader or type(child).__name__ in _WEIGHT_READERS
            if isinstance(child, torch.nn.Linear) and not inside_reader:
                setattr(parent, name, int8_linear(child))
                linears += 1
            elif isinstance(child, torch.nn.Linear):
                kept.append(f"{name} (in {type(parent).__name__}, whose fused code reads its weight)")
            elif isinstance(child, torch.nn.Embedding):
                reason = _embedding_kept_reason(child)
                if reason is None:
                    setattr(parent, name, int8_embedding(child))
                    tables += 1
                else:
                    kept.append(f"{name} ({reason})")
            elif isinstance(child, torch.nn.EmbeddingBag):
                kept.append(f"{name} (EmbeddingBag: no int8 form that compiles yet)")
            else:
                visit(child, reader)

    visit(out, type(out).__name__ in _WEIGHT_READERS)
    details: dict[str, Any] = {"kernel": "weight-only (torch aten::_weight_int8pack_mm, bf16 activations), "
                                         "compiled by AOTInductor",
                               "weights": "int8, one symmetric scale per output channel"}
    if tables:
        details["embedding tables"] = f"{tables} to int8, one scale per row, widened after the lookup"
    if kept:
        details["left in fp32"] = "; ".join(kept)
    parts = []
    if linears:
        parts.append(f"{linears} Linear layer(s)")
    if tables:
        parts.append(f"{tables} embedding table(s)")
    summary = (" and ".join(parts) + " to int8 for compilation" if parts
               else "nothing to quantize for compilation: no nn.Linear outside fused attention code "
                    "and no nn.Embedding")
    return out, {"technique": "int8", "layers_seen": linears + tables + len(kept),
                 "layers_changed": linears + tables, "summary": summary, "details": details}
