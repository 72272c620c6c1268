"""int8 weights that torch.export and AOTInductor can compile: the ``int8+pt2`` candidate.

mlship's int8 pass stores weights in its own TorchScript classes, which torch.export cannot
read. For a compiled int8 candidate, a copy of the eager module gets its ``nn.Linear`` layers
replaced by :class:`Int8Linear`, whose weights are plain int8 buffers multiplied by torch's
``aten::_weight_int8pack_mm`` (int8 weight-only, one scale per output channel), an operator
both the exporter and Inductor's CPU backend take. Activations go in as bf16: torch's CPU
kernel for that op is vectorized for bf16 only (measured at batch 1 on 2048x2048: fp32
activations 3.96 ms, bf16 0.30 ms, a plain fp32 matmul 0.67 ms).
"""

from __future__ import annotations

import copy
from typing import Any

#: Modules whose Linears are read as weights by fused code (``nn.MultiheadAttention`` passes
#: ``out_proj.weight`` to its kernel; the Transformer layers' fast path reads every weight), so
#: an int8 buffer in their place would be read as a float weight.
_WEIGHT_READERS = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer")


def _int8_linear_class() -> type:
    import torch

    class Int8Linear(torch.nn.Module):
        """y = x W^T + b with W int8 per output channel (scale = max|row| / 127), x in bf16."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            w = linear.weight.detach().float()
            scales = w.abs().amax(1) / 127.0
            scales = torch.where(scales > 0, scales, torch.ones_like(scales))
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.register_buffer("qweight", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8))
            self.register_buffer("scales", scales.to(torch.bfloat16))
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
            y = torch.ops.aten._weight_int8pack_mm(rows, self.qweight, self.scales).float()
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(x.shape[:-1] + (self.out_features,))

    return Int8Linear


def int8_for_export(module: Any) -> tuple[Any, dict[str, Any]]:
    """A copy of ``module`` with its Linears int8 (see the module docstring), and a pass report."""
    import torch

    int8_linear = _int8_linear_class()
    out = copy.deepcopy(module).eval()
    changed, kept = 0, []

    def visit(parent: torch.nn.Module, inside_reader: bool) -> None:
        nonlocal changed
        for name, child in parent.named_children():
            reader = inside_reader or type(child).__name__ in _WEIGHT_READERS
            if isinstance(child, torch.nn.Linear) and not inside_reader:
                setattr(parent, name, int8_linear(child))
                changed += 1
            elif isinstance(child, torch.nn.Linear):
                kept.append(f"{name} (in {type(parent).__name__}, whose fused code reads its weight)")
            else:
                visit(child, reader)

    visit(out, type(out).__name__ in _WEIGHT_READERS)
    details: dict[str, Any] = {"kernel": "weight-only (torch aten::_weight_int8pack_mm, bf16 activations), "
                                         "compiled by AOTInductor",
                               "weights": "int8, one symmetric scale per output channel"}
    if kept:
        details["left in fp32"] = "; ".join(kept)
    summary = (f"{changed} Linear layer(s) to int8 for compilation" if changed
               else "nothing to quantize for compilation: no nn.Linear outside fused attention code")
    return out, {"technique": "int8", "layers_seen": changed + len(kept), "layers_changed": changed,
                 "summary": summary, "details": details}
