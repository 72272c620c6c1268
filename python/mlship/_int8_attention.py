"""Unfused int8 forms of ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and
``nn.TransformerEncoder`` for the ``int8+pt2`` candidate.

Those modules read their Linears' weights themselves (attention passes ``in_proj_weight`` and
``out_proj.weight`` to one fused function; the encoder layer's fast path passes every weight to
``_transformer_encoder_layer_fwd``), so an int8 Linear cannot simply take a Linear's place inside
them. Each is replaced here by a module that computes the same function with its projections as
int8 Linears (``_int8_export.Int8Linear``), attention as ``scaled_dot_product_attention``, and its
own layer norms and activation. torch's slow path is the reference: the same masks (bool or float,
``attn_mask`` and ``key_padding_mask`` merged as torch merges them), ``is_causal``, ``batch_first``,
``norm_first``, unbatched inputs and ``need_weights``. Dropout is left out: these forms only serve.

What they do not cover keeps the module in fp32, with the reason (``kept_reason``): attention with
``add_bias_kv`` or ``add_zero_attn``, and encoder layers or encoders built around such attention.
"""

from __future__ import annotations

from typing import Any


def kept_reason(module: Any) -> str | None:
    """Why ``module`` (attention, an encoder layer or an encoder) stays fp32, or None."""
    import torch

    if isinstance(module, torch.nn.MultiheadAttention):
        if module.bias_k is not None:
            return "add_bias_kv appends learned key/value rows"
        if module.add_zero_attn:
            return "add_zero_attn appends zero key/value rows"
        return None
    if isinstance(module, torch.nn.TransformerEncoderLayer):
        return kept_reason(module.self_attn)
    if isinstance(module, torch.nn.TransformerEncoder):
        return next((r for r in map(kept_reason, module.layers) if r), None)
    return "not an attention module"


def weight_matrices(module: Any) -> int:
    """The Linears ``module`` holds, counted as its weights are (an attention's packed
    ``in_proj_weight`` is one, as in the TorchScript int8 pass's report)."""
    import torch

    if isinstance(module, torch.nn.MultiheadAttention):
        return 2 if module._qkv_same_embed_dim else 4
    if isinstance(module, torch.nn.TransformerEncoderLayer):
        return weight_matrices(module.self_attn) + 2
    return sum(weight_matrices(layer) for layer in module.layers)


def _projection(weight: Any, bias: Any, int8_linear: type) -> Any:
    """An int8 Linear with ``weight`` [out, in] and ``bias`` (or None)."""
    import torch

    linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    return int8_linear(linear)


def attention_class(int8_linear: type) -> type:
    import torch

    f = torch.nn.functional

    class Int8Attention(torch.nn.Module):
        """``nn.MultiheadAttention`` with its four projections int8 (q, k, v, out)."""

        def __init__(self, mha: torch.nn.MultiheadAttention) -> None:
            super().__init__()
            e = mha.embed_dim
            self.embed_dim, self.num_heads, self.head_dim = e, mha.num_heads, mha.head_dim
            self.batch_first = mha.batch_first
            if mha._qkv_same_embed_dim:
                weights = mha.in_proj_weight.detach().split(e)
            else:
                weights = (mha.q_proj_weight.detach(), mha.k_proj_weight.detach(), mha.v_proj_weight.detach())
            biases = (None,) * 3 if mha.in_proj_bias is None else mha.in_proj_bias.detach().split(e)
            self.q, self.k, self.v = (_projection(w, b, int8_linear) for w, b in zip(weights, biases))
            self.out_proj = int8_linear(mha.out_proj)

        def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                    attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                    is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
            batched = query.dim() == 3
            if not batched:  # [L, E]: one sequence
                query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
                if key_padding_mask is not None:
                    key_padding_mask = key_padding_mask.unsqueeze(0)
            elif not self.batch_first:  # [L, B, E]
                query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
            b, length, source = query.shape[0], query.shape[1], key.shape[1]
            heads = (b, -1, self.num_heads, self.head_dim)
            q = self.q(query).view(heads).transpose(1, 2)
            k = self.k(key).view(heads).transpose(1, 2)
            v = self.v(value).view(heads).transpose(1, 2)
            mask = self._mask(attn_mask, key_padding_mask, is_causal, b, length, source, q.dtype)
            if need_weights:
                scores = q @ k.transpose(-2, -1) * (self.head_dim ** -0.5)
                if mask is not None:
                    scores = scores + mask
                weights = scores.softmax(-1)
                out = weights @ v
                weights = weights.mean(1) if average_attn_weights else weights
            else:
                causal = is_causal and mask is None
                out = f.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
                weights = None
            out = self.out_proj(out.transpose(1, 2).reshape(b, length, self.embed_dim))
            if not batched:
                return out.squeeze(0), None if weights is None else weights.squeeze(0)
            if not self.batch_first:
                out = out.transpose(0, 1)
            return out, weights

        def _mask(self, attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None, is_causal: bool,
                  b: int, length: int, source: int, dtype: torch.dtype) -> torch.Tensor | None:
            """One additive mask broadcastable to [B, heads, L, S], as torch merges them (bool
            True means masked out in both), or None."""
            key_padding_mask = f._canonical_mask(mask=key_padding_mask, mask_name="key_padding_mask",
                                                 other_type=f._none_or_dtype(attn_mask), other_name="attn_mask",
                                                 target_type=dtype)
            attn_mask = f._canonical_mask(mask=attn_mask, mask_name="attn_mask", other_type=None, other_name="",
                                          target_type=dtype, check_other=False)
            if attn_mask is None and is_causal and key_padding_mask is not None:
                attn_mask = torch.full((length, source), float("-inf"), dtype=dtype,
                                       device=key_padding_mask.device).triu(1)
            if attn_mask is not None and attn_mask.dim() == 3:  # [B * heads, L, S]
                attn_mask = attn_mask.view(b, self.num_heads, length, source)
            if key_padding_mask is None:
                return attn_mask
            padding = key_padding_mask.view(b, 1, 1, source)
            return padding if attn_mask is None else attn_mask + padding

    return Int8Attention


def encoder_layer_class(int8_linear: type, int8_attention: type) -> type:
    import torch

    f = torch.nn.functional

    class Int8EncoderLayer(torch.nn.Module):
        """``nn.TransformerEncoderLayer``'s slow path with int8 attention and feed-forward."""

        def __init__(self, layer: torch.nn.TransformerEncoderLayer) -> None:
            super().__init__()
            self.self_attn = int8_attention(layer.self_attn)
            self.linear1, self.linear2 = int8_linear(layer.linear1), int8_linear(layer.linear2)
            self.norm1, self.norm2 = layer.norm1, layer.norm2
            self.activation = layer.activation  # a function or a module, as the layer holds it
            self.norm_first = layer.norm_first

        def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                    src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
            padding = f._canonical_mask(mask=src_key_padding_mask, mask_name="src_key_padding_mask",
                                        other_type=f._none_or_dtype(src_mask), other_name="src_mask",
                                        target_type=src.dtype)
            src_mask = f._canonical_mask(mask=src_mask, mask_name="src_mask", other_type=None, other_name="",
                                         target_type=src.dtype, check_other=False)
            x = src
            if self.norm_first:
                x = x + self._attend(self.norm1(x), src_mask, padding, is_causal)
                return x + self._feed_forward(self.norm2(x))
            x = self.norm1(x + self._attend(x, src_mask, padding, is_causal))
            return self.norm2(x + self._feed_forward(x))

        def _attend(self, x: torch.Tensor, mask: torch.Tensor | None, padding: torch.Tensor | None,
                    is_causal: bool) -> torch.Tensor:
            return self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False,
                                  is_causal=is_causal)[0]

        def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear2(self.activation(self.linear1(x)))

    return Int8EncoderLayer


def encoder_class(int8_layer: type) -> type:
    import torch
    from torch.nn.modules import transformer

    f = torch.nn.functional

    class Int8Encoder(torch.nn.Module):
        """``nn.TransformerEncoder`` over int8 layers. Where the original would run its nested-
        tensor path (eager inference with a key padding mask and no attention mask), the padded
        positions of the output are zero, as that path leaves them."""

        def __init__(self, encoder: torch.nn.TransformerEncoder) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(int8_layer(layer) for layer in encoder.layers)
            self.norm = encoder.norm
            self.batch_first = encoder.layers[0].self_attn.batch_first
            self.zero_padding = bool(getattr(encoder, "use_nested_tensor", False))

        def forward(self, src: torch.Tensor, mask: torch.Tensor | None = None,
                    src_key_padding_mask: torch.Tensor | None = None, is_causal: bool | None = None) -> torch.Tensor:
            padding = f._canonical_mask(mask=src_key_padding_mask, mask_name="src_key_padding_mask",
                                        other_type=f._none_or_dtype(mask), other_name="mask", target_type=src.dtype)
            mask = f._canonical_mask(mask=mask, mask_name="mask", other_type=None, other_name="",
                                     target_type=src.dtype, check_other=False)
            causal = transformer._detect_is_causal_mask(mask, is_causal, transformer._get_seq_len(src, self.batch_first))
            out = src
            for layer in self.layers:
                out = layer(out, src_mask=mask, is_causal=causal, src_key_padding_mask=padding)
            if self.zero_padding and padding is not None and mask is None and src.dim() == 3:
                out = out.masked_fill((padding != 0).unsqueeze(-1), 0.0)
            return out if self.norm is None else self.norm(out)

    return Int8Encoder
