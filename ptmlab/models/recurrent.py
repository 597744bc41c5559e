"""A bidirectional LSTM encoder: the "sequential model" of survey Section 2.2 (ELMo's backbone).

Hochreiter & Schmidhuber 1997 (LSTM), Schuster & Paliwal 1997 (bidirectional RNNs); as used by Peters et al. 2018 (ELMo)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ptmlab.errors import InputError
from ptmlab.models.transformer import EncoderOutput


@dataclass
class BiLSTMConfig:
    vocab_size: int = 8000
    d_model: int = 128  # the embedding size, and the size of every output vector (as the Transformer's d_model)
    hidden_size: int = 0  # per direction; 0 means d_model // 2, so the two directions concatenate to d_model
    n_layers: int = 1
    dropout: float = 0.1
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size == 0:
            self.hidden_size = max(1, self.d_model // 2)
        if self.n_layers < 1 or self.d_model < 1 or self.vocab_size < 1:
            raise InputError(
                f"BiLSTMConfig needs n_layers, d_model and vocab_size >= 1 (got {self.n_layers}, {self.d_model}, "
                f"{self.vocab_size}).",
                fix="Use e.g. BiLSTMConfig(vocab_size=1000, d_model=64, n_layers=1).",
            )

    def to_dict(self) -> dict:
        return asdict(self)


class BiLSTMEncoder(nn.Module):
    """Embeddings, then n bidirectional LSTM layers; each output vector concatenates a left-to-right state (what came
    before) with a right-to-left state (what comes after), projected back to d_model when 2 * hidden != d_model.

    Same call as the Transformer: `encoder(input_ids, attention_mask)` -> EncoderOutput with every layer's states.
    Information travels one step per token, so a dependency d tokens away must survive d state updates: the gates decide
    what is kept. No position embeddings are needed: order is built into the recurrence."""

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.drop = nn.Dropout(config.dropout)
        # One nn.LSTM per layer (rather than num_layers=n) so every layer's states can be returned.
        sizes = [config.d_model] + [2 * config.hidden_size] * (config.n_layers - 1)
        self.layers = nn.ModuleList(
            nn.LSTM(size, config.hidden_size, batch_first=True, bidirectional=True) for size in sizes
        )
        both = 2 * config.hidden_size
        self.proj = nn.Identity() if both == config.d_model else nn.Linear(both, config.d_model)
        self.ln_final = nn.LayerNorm(config.d_model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_unused) -> EncoderOutput:
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise InputError(
                f"Expected token ids shaped [batch, seq] with seq > 0, got {tuple(input_ids.shape)}.",
                fix="Add a batch dimension: ids[None].",
            )
        batch, seq = input_ids.shape
        if attention_mask is None:
            lengths = torch.full((batch,), seq, dtype=torch.long)
        else:
            lengths = attention_mask.long().sum(1).clamp(min=1).cpu()  # pack wants lengths on the CPU
        x = self.drop(self.tok_emb(input_ids))
        hidden = [x]
        for lstm in self.layers:
            # Packing keeps the right-to-left direction from reading the padding first: without it, a padded
            # sentence would start its backward pass on [PAD] tokens and get a different state than alone.
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = lstm(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=seq)
            x = self.drop(x)
            hidden.append(x)
        last = self.ln_final(self.proj(x))
        hidden[-1] = last
        return EncoderOutput(last, tuple(hidden), None)


def lstm_parameter_count(input_size: int, hidden_size: int, bidirectional: bool = True) -> int:
    """Parameters of one torch nn.LSTM layer: 4 gates, each with input weights, recurrent weights and two biases."""
    per_direction = 4 * (input_size * hidden_size + hidden_size * hidden_size + 2 * hidden_size)
    return per_direction * (2 if bidirectional else 1)
