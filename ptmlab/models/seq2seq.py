"""The encoder-decoder Transformer: a bidirectional encoder, a causal decoder that reads it through cross-attention.

Vaswani et al. 2017 in the pre-LN form, with tied input/output embeddings as in MASS (Song et al. 2019), T5 (Raffel et
al. 2020) and BART (Lewis et al. 2020), the models of survey Sections 3.1.2 (Seq2Seq MLM) and 3.1.4 (DAE)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.heads import register_model
from ptmlab.models.hooks import HookedModule, HookPoint
from ptmlab.models.transformer import (
    Block,
    EncoderOutput,
    Transformer,
    TransformerConfig,
    _init_weights,
    attend,
)


@dataclass
class Seq2SeqOutput:
    """What `EncoderDecoder.forward` returns. Hidden states include the embeddings: n_layers + 1 tensors per stack."""

    logits: torch.Tensor  # [batch, dec_seq, vocab], or [n, vocab] for the positions picked by predict_positions
    encoder_last_hidden_state: torch.Tensor  # [batch, enc_seq, d_model], after the encoder's final LayerNorm
    encoder_hidden_states: tuple[torch.Tensor, ...]
    decoder_last_hidden_state: torch.Tensor  # [batch, dec_seq, d_model], after the decoder's final LayerNorm
    decoder_hidden_states: tuple[torch.Tensor, ...]
    encoder_attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, enc_seq, enc_seq]
    decoder_attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, dec_seq, dec_seq] (causal)
    cross_attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, dec_seq, enc_seq]
    extras: dict = field(default_factory=dict)


class CrossAttention(nn.Module):
    """Queries from the decoder, keys and values from the encoder's output (the "memory")."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_heads, self.d_head = config.n_heads, config.d_head
        self.query = nn.Linear(config.d_model, config.d_model)
        self.key_value = nn.Linear(config.d_model, 2 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.q, self.k, self.v = HookPoint(), HookPoint(), HookPoint()  # [batch, heads, seq, d_head]
        self.pattern = HookPoint()  # [batch, heads, dec_query, enc_key]
        self.z = HookPoint()  # per-head outputs before mixing, [batch, heads, dec_seq, d_head]

    def forward(self, x, memory, memory_mask=None, need_weights=False):
        B, T, D = x.shape
        S = memory.shape[1]
        q = self.q(self.query(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2))
        k, v = self.key_value(memory).view(B, S, 2, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        k, v = self.k(k), self.v(v)
        mask = None if memory_mask is None else memory_mask.bool()[:, None, None, :]  # True = may attend
        z, weights = attend(q, k, v, mask, self.dropout if self.training else 0.0, self.pattern, need_weights)
        z = self.z(z)
        return self.out(z.transpose(1, 2).reshape(B, T, D)), weights


class DecoderBlock(Block):
    """The encoder's pre-LN block made causal, with cross-attention between its two sub-layers:
    x + attn(LN(x)) (causal self-attention), x + cross_attn(LN(x), encoder), x + mlp(LN(x))."""

    def __init__(self, config: TransformerConfig):
        super().__init__(replace(config, causal=True))  # ln_attn, attn, ln_mlp, mlp, drop, resid_mid, resid_post
        self.ln_cross = nn.LayerNorm(config.d_model)
        self.cross_attn = CrossAttention(config)
        self.resid_cross = HookPoint()

    def forward(self, x, memory, memory_mask=None, self_mask=None, need_weights=False):
        self_out, self_weights = self.attn(self.ln_attn(x), self_mask, need_weights)
        x = self.resid_mid(x + self.drop(self_out))
        cross_out, cross_weights = self.cross_attn(self.ln_cross(x), memory, memory_mask, need_weights)
        x = self.resid_cross(x + self.drop(cross_out))
        x = self.resid_post(x + self.drop(self.mlp(self.ln_mlp(x))))
        return x, self_weights, cross_weights


class Decoder(nn.Module):
    """Position embeddings, decoder blocks and a final LayerNorm; token embeddings come from the shared table."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.pos_emb = nn.Embedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.embed = HookPoint()
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.ln_final = nn.LayerNorm(config.d_model)

    def forward(self, token_vectors, position_ids, memory, memory_mask, self_mask, need_weights):
        x = self.embed(self.drop(token_vectors + self.pos_emb(position_ids)))
        hidden, self_weights, cross_weights = [x], [], []
        for block in self.blocks:
            x, s, c = block(x, memory, memory_mask, self_mask, need_weights)
            hidden.append(x)
            self_weights.append(s)
            cross_weights.append(c)
        hidden[-1] = self.ln_final(x)
        return hidden, self_weights, cross_weights


@register_model
class EncoderDecoder(HookedModule):
    """A Transformer encoder-decoder with one token embedding table shared by encoder input, decoder input and output.

    Both stacks have `config.n_layers` blocks (bertviz draws one layer index for encoder, decoder and cross-attention).
    Hook points: `encoder.blocks.{i}.attn.pattern`, `decoder.blocks.{i}.attn.pattern` (causal self-attention),
    `decoder.blocks.{i}.cross_attn.pattern`, and the residual streams of both stacks."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.encoder = Transformer(replace(config, causal=False, n_segments=0))
        self.decoder = Decoder(config)
        self.final_logits_bias = nn.Parameter(torch.zeros(config.vocab_size))  # as in BART: tied weights, own bias
        self.decoder.apply(_init_weights)

    @property
    def tok_emb(self) -> nn.Embedding:
        return self.encoder.tok_emb

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, output_attentions: bool = False
    ) -> EncoderOutput:
        """Run the encoder alone (for a downstream head, or once before generating)."""
        return self.encoder(input_ids, attention_mask, output_attentions=output_attentions)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[list[torch.Tensor], list, list]:
        """Decoder hidden states (embeddings + every block, the last normalised), self- and cross-attention weights."""
        self._check_decoder_input(decoder_input_ids, decoder_position_ids, encoder_hidden)
        T = decoder_input_ids.shape[1]
        if decoder_position_ids is None:
            decoder_position_ids = torch.arange(T, device=decoder_input_ids.device).expand_as(decoder_input_ids)
        return self.decoder(
            self.tok_emb(decoder_input_ids),
            decoder_position_ids,
            encoder_hidden,
            attention_mask,
            decoder_attention_mask,
            output_attentions,
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
        predict_positions: torch.Tensor | None = None,
    ) -> Seq2SeqOutput:
        """Teacher-forced pass: the encoder reads `input_ids`, the decoder reads `decoder_input_ids` (shifted targets).

        predict_positions: bool [batch, dec_seq]; when given, logits are computed only there ([n, vocab])."""
        if decoder_input_ids is None:
            raise InputError(
                "An encoder-decoder needs decoder_input_ids for a forward pass.",
                fix="Pass the shifted target ids (starting with [CLS]), call .encode() for encoder states only, "
                "or .generate() to produce text.",
            )
        enc = self.encode(input_ids, attention_mask, output_attentions)
        hidden, self_w, cross_w = self.decode(
            decoder_input_ids,
            enc.last_hidden_state,
            attention_mask,
            decoder_attention_mask,
            decoder_position_ids,
            output_attentions,
        )
        last = hidden[-1]
        if predict_positions is not None:
            last = last[predict_positions.bool()]
        logits = F.linear(last, self.tok_emb.weight, self.final_logits_bias)
        return Seq2SeqOutput(
            logits=logits,
            encoder_last_hidden_state=enc.last_hidden_state,
            encoder_hidden_states=enc.hidden_states,
            decoder_last_hidden_state=hidden[-1],
            decoder_hidden_states=tuple(hidden),
            encoder_attentions=enc.attentions if output_attentions else None,
            decoder_attentions=tuple(self_w) if output_attentions else None,
            cross_attentions=tuple(cross_w) if output_attentions else None,
        )

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 32,
        bos_id: int = 2,
        eos_id: int | None = 3,
        pad_id: int | None = None,
        suppress_ids: tuple[int, ...] = (),
    ) -> torch.Tensor:
        """Greedy decoding: returns [batch, n] new ids (without the start token), padded after each row's eos.

        bos_id starts the decoder ([CLS] by default); generation of a row stops at eos_id ([SEP] by default; pass
        eos_id=None to always produce max_new_tokens). suppress_ids are never produced (e.g. [MASK], [UNK])."""
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise InputError(f"max_new_tokens={max_new_tokens!r} must be a positive integer.", fix="Use e.g. 32.")
        if max_new_tokens + 1 > self.config.max_len:
            raise InputError(
                f"max_new_tokens={max_new_tokens} does not fit the decoder's {self.config.max_len} positions "
                "(the start token takes one).",
                fix=f"Ask for at most {self.config.max_len - 1} new tokens.",
            )
        self.encoder.check_input(input_ids)
        was_training = self.training
        self.eval()
        pad_id = self.config.pad_id if pad_id is None else pad_id
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        memory = self.encode(input_ids, attention_mask).last_hidden_state
        out = torch.full((input_ids.shape[0], 1), bos_id, dtype=torch.long, device=input_ids.device)
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for _ in range(max_new_tokens):  # no key/value cache: recomputing is fast enough for short outputs
            hidden, _, _ = self.decode(out, memory, attention_mask)
            logits = F.linear(hidden[-1][:, -1], self.tok_emb.weight, self.final_logits_bias)
            if suppress_ids:
                logits[:, list(suppress_ids)] = float("-inf")
            next_ids = torch.where(done, torch.full_like(done, pad_id, dtype=torch.long), logits.argmax(-1))
            out = torch.cat([out, next_ids[:, None]], dim=1)
            if eos_id is not None:
                done |= next_ids == eos_id
                if bool(done.all()):
                    break
        self.train(was_training)
        return out[:, 1:]

    def _check_decoder_input(self, decoder_input_ids, decoder_position_ids, encoder_hidden) -> None:
        if decoder_input_ids.dim() != 2 or decoder_input_ids.shape[1] == 0:
            raise InputError(
                f"decoder_input_ids must be shaped [batch, seq] with seq > 0, got {tuple(decoder_input_ids.shape)}.",
                fix="Start the decoder with the [CLS] id: torch.tensor([[2]]).",
            )
        if decoder_input_ids.shape[0] != encoder_hidden.shape[0]:
            raise InputError(
                f"The encoder has a batch of {encoder_hidden.shape[0]} but the decoder {decoder_input_ids.shape[0]}.",
                fix="Give one decoder sequence per encoder sequence.",
            )
        if decoder_input_ids.shape[1] > self.config.max_len:
            raise InputError(
                f"The decoder input has {decoder_input_ids.shape[1]} tokens; this model has {self.config.max_len} "
                "decoder positions.",
                fix="Shorten the target, or build the model with a larger max_len.",
            )
        if int(decoder_input_ids.max()) >= self.config.vocab_size or int(decoder_input_ids.min()) < 0:
            raise InputError(
                f"A decoder token id is outside this model's vocabulary of {self.config.vocab_size}.",
                fix="Encode targets with the tokenizer the model was built for (sentinels included).",
            )
        if decoder_position_ids is not None:
            if decoder_position_ids.shape != decoder_input_ids.shape:
                raise InputError("decoder_position_ids must have the shape of decoder_input_ids.", fix="Check shapes.")
            if int(decoder_position_ids.max()) >= self.config.max_len or int(decoder_position_ids.min()) < 0:
                raise InputError(f"A decoder position is outside 0..{self.config.max_len - 1}.", fix="Check them.")


def cross_attention_for(
    model: EncoderDecoder, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor
) -> dict[str, list[torch.Tensor]]:
    """Encoder self-, decoder self- and cross-attention for one pair (batch 1), as lists of [1, heads, q, k] per layer,
    keyed like the arguments of ptmlab.viz.attention.head_view / model_view."""
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise InputError("Attention views draw one example at a time.", fix="Pass ids shaped [1, seq].")
    model.eval()
    with torch.no_grad():
        out = model(input_ids, torch.ones_like(input_ids), decoder_input_ids, output_attentions=True)
    return {
        "encoder_attention": [a.cpu() for a in out.encoder_attentions],
        "decoder_attention": [a.cpu() for a in out.decoder_attentions],
        "cross_attention": [a.cpu() for a in out.cross_attentions],
    }
