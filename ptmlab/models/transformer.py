"""The Transformer encoder (and GPT-style decoder-only stack) that every chapter trains.

Vaswani et al. 2017 "Attention Is All You Need", in the pre-LN form (Xiong et al. 2020) with GELU and tied embeddings,
as in BERT (Devlin et al. 2019) and GPT (Radford et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.hooks import HookedModule, HookPoint


@dataclass
class TransformerConfig:
    vocab_size: int = 8000
    max_len: int = 128
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 0  # 0 means 4 * d_model
    dropout: float = 0.1
    causal: bool = False  # True: each position sees only itself and the past (GPT); False: both sides (BERT)
    n_segments: int = 0  # >0 adds segment (token type) embeddings, for sentence-pair tasks (NSP, SOP)
    pad_id: int = 0
    alibi: bool = False  # add ALiBi's distance penalty to attention (Press et al. 2022): every head starts local
    embed_std: float = 0.02  # init of the token and position embeddings (BERT: 0.02); larger lets a small tied model
    # tell tokens and positions apart from the first step (see benchmarks/learning.py)

    def __post_init__(self) -> None:
        if self.d_ff == 0:
            self.d_ff = 4 * self.d_model
        if self.d_model % self.n_heads:
            raise InputError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}.",
                fix="Pick n_heads that divides d_model (e.g. d_model=128, n_heads=4).",
            )

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # [batch, seq, d_model], after the final layer norm
    hidden_states: tuple[torch.Tensor, ...]  # embeddings + every block's output: n_layers + 1 tensors
    attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, query, key], when asked
    extras: dict = field(default_factory=dict)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    pattern: HookPoint,
    need_weights: bool = False,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled dot-product attention over [batch, heads, seq, d_head] tensors; mask is bool, True = may attend.

    bias: a float [1 or batch, heads, query, key] added to the scores (ALiBi). Returns (per-head outputs, weights or
    None). Self- and cross-attention (models/seq2seq.py) both call it."""
    if need_weights or pattern.active:
        # Explicit path: only when someone wants the weights (views, probes); same result as the fused path.
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if bias is not None:
            scores = scores + bias
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = pattern(scores.softmax(dim=-1))
        return F.dropout(weights, dropout_p, dropout_p > 0) @ v, weights
    if bias is not None:  # one float mask: the distance penalty, and -inf where attending is not allowed
        mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p), None


class SelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_heads, self.d_head, self.causal = config.n_heads, config.d_head, config.causal
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.q, self.k, self.v = HookPoint(), HookPoint(), HookPoint()  # [batch, heads, seq, d_head]
        self.pattern = HookPoint()  # [batch, heads, query, key]
        self.z = HookPoint()  # per-head outputs before mixing, [batch, heads, seq, d_head]
        self.alibi = config.alibi
        if config.alibi:  # head h penalises distance by 2^(-8(h+1)/H): from sharply local to nearly global
            slopes = torch.tensor([2 ** (-8 * (h + 1) / config.n_heads) for h in range(config.n_heads)])
            self.register_buffer("slopes", slopes, persistent=False)

    def forward(self, x, key_mask=None, need_weights=False, head_mask=None):
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        q, k, v = self.q(q), self.k(k), self.v(v)
        mask = self._mask(key_mask, T, x.device)  # bool [B or 1, 1, T, T], True = may attend
        p_drop = self.dropout if self.training else 0.0
        z, weights = attend(q, k, v, mask, p_drop, self.pattern, need_weights, self._distance_bias(T, x))
        if head_mask is not None:  # pruning: switch heads off, [heads] of 0/1
            z = z * head_mask.view(1, -1, 1, 1).to(z.dtype)
        z = self.z(z)
        return self.out(z.transpose(1, 2).reshape(B, T, D)), weights

    def _distance_bias(self, T: int, x: torch.Tensor) -> torch.Tensor | None:
        if not self.alibi:
            return None
        positions = torch.arange(T, device=x.device)
        distance = (positions[None, :] - positions[:, None]).abs().to(x.dtype)  # [query, key]
        return -self.slopes.to(x.dtype)[None, :, None, None] * distance  # [1, heads, query, key]

    def _mask(self, key_mask, T, device):
        mask = None
        if key_mask is not None:
            mask = key_mask.bool()[:, None, None, :]
        if self.causal:
            causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()[None, None]
            mask = causal if mask is None else mask & causal
        return mask


class MLP(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.fc_in = nn.Linear(config.d_model, config.d_ff)
        self.fc_out = nn.Linear(config.d_ff, config.d_model)
        self.hidden = HookPoint()  # the "neurons": [batch, seq, d_ff] after GELU

    def forward(self, x):
        return self.fc_out(self.hidden(F.gelu(self.fc_in(x))))


class Block(nn.Module):
    """Pre-LN block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln_mlp = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.dropout)
        self.resid_mid, self.resid_post = HookPoint(), HookPoint()

    def forward(self, x, key_mask=None, need_weights=False, head_mask=None):
        attn_out, weights = self.attn(self.ln_attn(x), key_mask, need_weights, head_mask)
        x = self.resid_mid(x + self.drop(attn_out))
        x = self.resid_post(x + self.drop(self.mlp(self.ln_mlp(x))))
        return x, weights


class Transformer(HookedModule):
    """Token + position (+ segment) embeddings, n pre-LN blocks, a final LayerNorm.

    Bidirectional (an encoder, BERT-style) by default; `causal=True` makes it a GPT-style decoder-only LM body."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.pos_emb = nn.Embedding(config.max_len, config.d_model)
        self.seg_emb = nn.Embedding(config.n_segments, config.d_model) if config.n_segments else None
        self.drop = nn.Dropout(config.dropout)
        self.embed = HookPoint()
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_final = nn.LayerNorm(config.d_model)
        self.apply(_init_weights)
        if config.embed_std != 0.02:  # (only then: the default draws the same weights as before the option existed)
            for table in (self.tok_emb, self.pos_emb):
                nn.init.normal_(table.weight, std=config.embed_std)
            with torch.no_grad():
                self.tok_emb.weight[config.pad_id].zero_()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
        head_mask: torch.Tensor | None = None,
    ) -> EncoderOutput:
        self.check_input(input_ids)
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # no padding: lets SDPA take its fastest (unmasked) kernel
        T = input_ids.shape[1]
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(T, device=input_ids.device))
        if self.seg_emb is not None and token_type_ids is not None:
            x = x + self.seg_emb(token_type_ids)
        x = self.embed(self.drop(x))
        hidden, attentions = [x], []
        for i, block in enumerate(self.blocks):
            x, weights = block(x, attention_mask, output_attentions, None if head_mask is None else head_mask[i])
            hidden.append(x)
            attentions.append(weights)
        last = self.ln_final(x)
        hidden[-1] = last
        return EncoderOutput(last, tuple(hidden), tuple(attentions) if output_attentions else None)

    def check_input(self, input_ids: torch.Tensor) -> None:
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise InputError(
                f"Expected token ids shaped [batch, seq] with seq > 0, got {tuple(input_ids.shape)}.",
                fix="Encode a non-empty sentence with the model's tokenizer and add a batch dimension.",
            )
        if input_ids.shape[1] > self.config.max_len:
            raise InputError(
                f"The input has {input_ids.shape[1]} tokens; this model was built for at most {self.config.max_len}.",
                fix="Shorten the text or truncate it (encode_for_model(..., truncate=True)).",
            )
        if input_ids.numel() and (int(input_ids.max()) >= self.config.vocab_size or int(input_ids.min()) < 0):
            raise InputError(
                f"A token id is outside this model's vocabulary of {self.config.vocab_size}.",
                fix="Encode the text with the tokenizer that was saved with this model.",
            )


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
