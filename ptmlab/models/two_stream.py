"""Two-stream self-attention: a content stream h that sees its own token and a query stream g that must not.

Yang et al. 2019, "XLNet: Generalized Autoregressive Pretraining for Language Understanding", Section 2.3 (Eq. 4-5):
both streams share every weight of an ordinary pre-LN Transformer (ptmlab.models.transformer); only the masks differ."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.heads import MLMHead, register_model
from ptmlab.models.hooks import HookedModule, HookPoint
from ptmlab.models.transformer import EncoderOutput, SelfAttention, Transformer, TransformerConfig


class StreamHooks(nn.Module):
    """Named hook points of one layer in two-stream mode: `streams.{i}.content_pattern` / `query_pattern`
    ([batch, heads, query, key] attention weights) and `streams.{i}.content` / `query` (each stream after the layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.content_pattern, self.query_pattern = HookPoint(), HookPoint()
        self.content, self.query = HookPoint(), HookPoint()


def stream_attention(
    attn: SelfAttention,
    x_query: torch.Tensor,
    x_context: torch.Tensor,
    allowed: torch.Tensor,
    pattern: HookPoint | None = None,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Multi-head attention with queries from `x_query` [B, Tq, D] and keys/values from `x_context` [B, Tk, D], using
    the weights of an existing SelfAttention; `allowed` [B, Tq, Tk] is True where query i may read key j.

    A query row that may read nothing (the first token of a factorization order, in the query stream) gets a zero
    output: it is given every key to keep the softmax finite and then multiplied by 0, so nothing leaks through."""
    B, Tq, D = x_query.shape
    Tk = x_context.shape[1]
    H, d_head = attn.n_heads, attn.d_head
    w_q, w_k, w_v = attn.qkv.weight.split(D, dim=0)
    b_q, b_k, b_v = attn.qkv.bias.split(D, dim=0)
    q = F.linear(x_query, w_q, b_q).view(B, Tq, H, d_head).transpose(1, 2)
    k = F.linear(x_context, w_k, b_k).view(B, Tk, H, d_head).transpose(1, 2)
    v = F.linear(x_context, w_v, b_v).view(B, Tk, H, d_head).transpose(1, 2)
    allowed = allowed.bool()
    has_any = allowed.any(-1)  # [B, Tq]
    mask = (allowed | ~has_any[..., None])[:, None]  # [B, 1, Tq, Tk]
    keep = has_any[:, None, :, None].to(q.dtype)
    p_drop = attn.dropout if attn.training else 0.0
    weights = None
    if need_weights or (pattern is not None and pattern.active):
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_head)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) * keep
        if pattern is not None:
            weights = pattern(weights)
        z = F.dropout(weights, p_drop, attn.training) @ v
    else:
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop) * keep
    return attn.out(z.transpose(1, 2).reshape(B, Tq, D)), weights


@register_model
class TwoStreamLM(HookedModule):
    """An XLNet-style permutation language model: a Transformer body, a learned query-stream start vector and a tied
    prediction head.

    - `model(ids, mask)`: a plain bidirectional encoder (how XLNet is fine-tuned: the query stream is dropped).
    - `model(ids, mask, content_mask=..., query_mask=..., target_mapping=...)`: two-stream mode. The content stream
      h_i reads the tokens at or before i in the factorization order; the query stream g_i starts from the same
      learned vector w plus i's position embedding and reads only the content of tokens strictly before i, so it
      knows *where* it predicts but not *what* sits there. `extras["logits"]` are the query stream's predictions."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if config.causal:
            from dataclasses import replace

            config = replace(config, causal=False)  # the masks come from the order, not from a fixed causal mask
        self.config = config
        self.body = Transformer(config)
        self.query_start = nn.Parameter(torch.randn(config.d_model) * 0.02)  # XLNet's trainable vector w
        self.lm_head = MLMHead(config, self.body.tok_emb)
        self.streams = nn.ModuleList(StreamHooks() for _ in range(config.n_layers))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        content_mask: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        target_mapping: torch.Tensor | None = None,
        predict_positions: torch.Tensor | None = None,
        output_attentions: bool = False,
        token_type_ids: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """Two-stream mode when `query_mask` [B, T, T] (True: i may read j) is given; `content_mask` defaults to the
        query mask plus the diagonal. `target_mapping` [B, P, T] (one-hot rows, XLNet's name) runs the query stream
        only for the P predicted positions (partial prediction makes that about 1/K of the work); without it every
        position gets a query stream and `predict_positions` [B, T] bool may pick which ones to score."""
        if query_mask is None:
            if content_mask is not None:
                raise InputError(
                    "A content mask was given without a query mask.",
                    fix="Pass both masks (e.g. from ptmlab.objectives.plm.permutation_masks).",
                )
            return self.body(input_ids, attention_mask, token_type_ids, output_attentions)
        body = self.body
        body.check_input(input_ids)
        B, T = input_ids.shape
        if query_mask.shape != (B, T, T):
            raise InputError(
                f"query_mask has shape {tuple(query_mask.shape)}; expected {(B, T, T)}.",
                fix="Build the masks for this batch with ptmlab.objectives.plm.permutation_masks.",
            )
        eye = torch.eye(T, dtype=torch.bool, device=input_ids.device)
        query_mask = query_mask.bool()
        content_mask = (query_mask | eye) if content_mask is None else content_mask.bool()
        if attention_mask is not None:  # padding is never read, by either stream
            real_keys = attention_mask.bool()[:, None, :]
            query_mask, content_mask = query_mask & real_keys, content_mask & (real_keys | eye)

        positions = body.pos_emb(torch.arange(T, device=input_ids.device))  # [T, D]
        h = body.tok_emb(input_ids) + positions
        if token_type_ids is not None and body.seg_emb is not None:
            h = h + body.seg_emb(token_type_ids)
        h = body.embed(body.drop(h))
        if target_mapping is not None:
            mapping = target_mapping.to(h.dtype)
            g = self.query_start + mapping @ positions  # [B, P, D]: where each target sits, never what it is
            g_mask = (mapping @ query_mask.to(h.dtype)) > 0  # [B, P, T]: the query rows of the targets
        else:
            g = (self.query_start + positions).expand(B, T, -1)
            g_mask = query_mask
        g = body.drop(g)

        hidden, queries, content_weights, query_weights = [h], [g], [], []
        for block, hooks in zip(body.blocks, self.streams):
            h_in, g_in = block.ln_attn(h), block.ln_attn(g)
            # Both streams read keys and values from the content stream of the layer below (XLNet Eq. 5).
            h_attn, h_w = stream_attention(
                block.attn, h_in, h_in, content_mask, hooks.content_pattern, output_attentions
            )
            g_attn, g_w = stream_attention(block.attn, g_in, h_in, g_mask, hooks.query_pattern, output_attentions)
            h = h + block.drop(h_attn)
            h = hooks.content(h + block.drop(block.mlp(block.ln_mlp(h))))
            g = g + block.drop(g_attn)
            g = hooks.query(g + block.drop(block.mlp(block.ln_mlp(g))))
            hidden.append(h)
            queries.append(g)
            content_weights.append(h_w)
            query_weights.append(g_w)
        h, g = body.ln_final(h), body.ln_final(g)
        hidden[-1], queries[-1] = h, g
        if target_mapping is None and predict_positions is not None:
            logits = self.lm_head(g, predict_positions.bool())
        else:
            logits = self.lm_head(g)
        extras = {"query_hidden": g, "query_hidden_states": tuple(queries), "logits": logits}
        if output_attentions:
            extras["query_attentions"] = tuple(query_weights)
        return EncoderOutput(h, tuple(hidden), tuple(content_weights) if output_attentions else None, extras)
