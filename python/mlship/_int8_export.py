"""int8 weights that torch.export and AOTInductor can compile: the ``int8+pt2`` candidate.

mlship's int8 pass stores weights in its own TorchScript classes, which torch.export cannot
read. For a compiled int8 candidate, a copy of the eager module gets its ``nn.Linear`` layers
replaced by :class:`Int8Linear`, whose weights are plain int8 buffers (one scale per output
channel). Below ``_WEIGHT_ONLY_MAX_ROWS`` rows they are multiplied by torch's
``aten::_weight_int8pack_mm``, an operator both the exporter and Inductor's CPU backend take,
with bf16 activations: torch's CPU kernel for that op is vectorized for bf16 only (measured at
batch 1 on 2048x2048: fp32 activations 3.96 ms, bf16 0.30 ms, a plain fp32 matmul 0.67 ms).
From that many rows the weights are widened to fp32 in the graph and multiplied plainly.
Attention and Transformer layers, which read their Linears' weights themselves, are replaced
whole (``_int8_attention``).

Its ``nn.Embedding`` tables become :class:`Int8Embedding`: int8 rows with one scale per row, the
same layout as mlship's TorchScript int8 embeddings, looked up with plain ``embedding`` (which
reads int8 tables) and widened after the lookup, so only the rows a request reads are widened.
"""

from __future__ import annotations

import copy
from typing import Any

#: Modules whose Linears are read as weights by fused code (``nn.MultiheadAttention`` passes
#: ``out_proj.weight`` to its kernel; the encoder layer's fast path reads every weight), so an
#: int8 buffer in their place would be read as a float weight. Those are replaced whole by their
#: unfused int8 forms; this only matters for the ones that cannot be (``kept_reason``). The
#: decoder layer has no fused path: its attention and Linears are replaced like any others.
_WEIGHT_READERS = ("MultiheadAttention", "TransformerEncoderLayer")


#: Output channels an int8 Linear is padded to for compilation (see Int8Linear).
_MIN_COMPILED_ROWS = 16

#: Below this many rows an int8 Linear multiplies with torch's weight-only kernel (bf16
#: activations), from it with a plain fp32 product of the weights widened in the graph.
#: bench/int8_compiled_linear_probe.py, compiled by AOTInductor on the 2-core CPU (no
#: avx512_bf16), us per call for fp32 / weight-only / widened: 2048x2048 at 1 row 491 / 302 /
#: 1324, 8 rows 1452 / 839 / 2430, 64 rows 3895 / 6018 / 4928, 512 rows 19958 / 45474 / 20223;
#: 256 -> 1024 at 64 rows 169 / 397 / 179. Weight-only wins few rows (it reads a quarter of
#: the bytes) and loses many (its bf16 arithmetic is emulated here).
_WEIGHT_ONLY_MAX_ROWS = 16

#: Input features are padded to a multiple of this: torch's CPU kernel for
#: ``_weight_int8pack_mm`` (2.13) crashes the process (SIGSEGV) for any other K, measured for
#: K = 1, 4, 8, 12, 24, 31, 33, 65 and 100 (16, 32, 48 and 64 are right).
_IN_FEATURES_MULTIPLE = 16


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
        """y = x W^T + b with W int8 per output channel (scale = max|row| / 127): torch's
        weight-only kernel on bf16 activations for few rows, W widened to fp32 for many."""

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
            # Zero columns (and zeros appended to each input row in forward) keep K a multiple
            # the kernel takes without changing the product.
            self.pad_in = -self.in_features % _IN_FEATURES_MULTIPLE
            if self.pad_in:
                q = torch.cat([q, q.new_zeros(q.shape[0], self.pad_in)], 1)
            self.padded_out = q.shape[0]
            self.register_buffer("qweight", q)
            self.register_buffer("scales", scales.to(torch.bfloat16))
            self.register_buffer("scales32", scales)
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features)
            if self.pad_in:
                rows = torch.nn.functional.pad(rows, (0, self.pad_in))
            if torch.compiler.is_compiling() or torch.compiler.is_exporting():
                # The row count is a dynamic dimension of the exported graph: both products
                # are compiled and the row count picks one per call.
                y = torch.cond(rows.shape[0] < _WEIGHT_ONLY_MAX_ROWS, self._few_rows, self._many_rows, (rows,))
            elif torch.jit.is_tracing():
                # mlship.load's trace, the reference compile_pt2 checks the compiled graph
                # against (never served): both products, picked per call by the traced row count.
                # (Counted from the data: a size turned into a tensor can be traced as a constant.)
                few = torch.ones_like(rows[:, 0]).sum() < _WEIGHT_ONLY_MAX_ROWS
                y = torch.where(few, self._few_rows(rows), self._many_rows(rows))
            else:
                y = self._few_rows(rows) if rows.shape[0] < _WEIGHT_ONLY_MAX_ROWS else self._many_rows(rows)
            if self.padded_out != self.out_features:
                y = y[:, : self.out_features]
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(x.shape[:-1] + (self.out_features,))

        def _few_rows(self, rows: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten._weight_int8pack_mm(rows.to(torch.bfloat16), self.qweight, self.scales).float()

        def _many_rows(self, rows: torch.Tensor) -> torch.Tensor:
            return torch.mm(rows, self.qweight.to(rows.dtype).t()) * self.scales32

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
    and a pass report. Attention, Transformer encoder layers and encoders are replaced by their
    unfused int8 forms (``_int8_attention``), whose Linears count with the others."""
    import torch

    from mlship import _int8_attention as attention

    int8_linear, int8_embedding = _int8_linear_class(), _int8_embedding_class()
    int8_attention = attention.attention_class(int8_linear)
    int8_layer = attention.encoder_layer_class(int8_linear, int8_attention)
    unfused = {torch.nn.MultiheadAttention: int8_attention, torch.nn.TransformerEncoderLayer: int8_layer,
               torch.nn.TransformerEncoder: attention.encoder_class(int8_layer)}
    out = copy.deepcopy(module).eval()
    linears, tables, kept, in_attention = 0, 0, [], 0

    def replace_unfused(parent: torch.nn.Module, name: str, child: torch.nn.Module) -> bool:
        """Puts the unfused int8 form of ``child`` in its place, if it has one and can take it."""
        nonlocal linears, in_attention
        form = unfused.get(type(child))
        if form is None or attention.kept_reason(child) is not None:
            return False
        setattr(parent, name, form(child))
        count = attention.weight_matrices(child)
        linears += count
        in_attention += count
        return True

    def visit(parent: torch.nn.Module, inside_reader: bool) -> None:
        nonlocal linears, tables
        for name, child in parent.named_children():
            if not inside_reader and replace_unfused(parent, name, child):
                continue
            reader = inside_reader or type(child).__name__ in _WEIGHT_READERS
            if isinstance(child, torch.nn.Linear) and not inside_reader:
                setattr(parent, name, int8_linear(child))
                linears += 1
            elif isinstance(child, torch.nn.Linear):
                reason = (attention.kept_reason(parent) if type(parent) in unfused else None) \
                    or "its fused code reads its weight"
                kept.append(f"{name} (in {type(parent).__name__}: {reason})")
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

    holder = torch.nn.ModuleDict({"module": out})  # so that the module itself can be replaced too
    visit(holder, False)
    out = holder["module"]
    details: dict[str, Any] = {"kernel": f"weight-only (torch aten::_weight_int8pack_mm, bf16 activations) "
                                         f"below {_WEIGHT_ONLY_MAX_ROWS} rows, weights widened to fp32 from "
                                         f"{_WEIGHT_ONLY_MAX_ROWS}; compiled by AOTInductor",
                               "weights": "int8, one symmetric scale per output channel"}
    if in_attention:
        details["attention"] = (f"{in_attention} of the Linears in attention or Transformer encoder layers "
                                "(in_proj counted once), whose fused code was replaced by unfused code "
                                "(scaled_dot_product_attention)")
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
               else "nothing to quantize for compilation: no nn.Linear outside fused code it cannot "
                    "replace and no nn.Embedding")
    return out, {"technique": "int8", "layers_seen": linears + tables + len(kept),
                 "layers_changed": linears + tables, "summary": summary, "details": details}
