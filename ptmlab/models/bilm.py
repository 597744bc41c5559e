"""An ELMo-style bidirectional language model: a forward and a backward LSTM LM, and a learned scalar mix of layers.

Peters et al. 2018, "Deep contextualized word representations" (ELMo): two LSTM stacks, one reading left to right and one
right to left, share the token embeddings and the softmax; a downstream task mixes all layers with softmax weights s_j
and a scale gamma (their Eq. 1). Survey Section 3.1.1 (Qiu et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.heads import register_model
from ptmlab.models.transformer import EncoderOutput


@dataclass
class BiLMConfig:
    vocab_size: int = 8000
    max_len: int = 128  # the longest input accepted (LSTMs need no position table; this keeps inputs comparable)
    d_model: int = 128  # the embedding size and each direction's LSTM size; layer outputs concatenate to 2 * d_model
    n_layers: int = 2
    dropout: float = 0.1
    pad_id: int = 0

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.max_len, self.d_model, self.n_layers) < 1:
            raise InputError(
                f"BiLMConfig needs positive sizes (got vocab_size={self.vocab_size}, max_len={self.max_len}, "
                f"d_model={self.d_model}, n_layers={self.n_layers}).",
                fix="Use e.g. BiLMConfig(vocab_size=4000, d_model=128, n_layers=2).",
            )

    @property
    def d_output(self) -> int:
        """The size of every layer's output: forward and backward states side by side."""
        return 2 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first lengths[b] positions of each row of x [batch, seq, ...]; padding stays where it is.

    Applying it twice gives x back. It lets a plain left-to-right LSTM read each sentence from its last real token,
    never from the padding."""
    batch, seq = x.shape[:2]
    index = torch.arange(seq, device=x.device).expand(batch, seq)
    flipped = lengths.to(x.device)[:, None] - 1 - index
    index = torch.where(flipped >= 0, flipped, index)
    if x.dim() > 2:
        index = index.view(batch, seq, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class BiLMEncoder(nn.Module):
    """Token embeddings, then a forward and a backward stack of LSTM layers with separate weights.

    Returns an EncoderOutput whose hidden_states are layer 0 = [embedding; embedding] and layer j = [forward_j;
    backward_j], each [batch, seq, 2 * d_model], so probes and the scalar mix treat it like any other encoder.
    `extras` holds the top forward and backward states, which the language-model softmax reads."""

    def __init__(self, config: BiLMConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.drop = nn.Dropout(config.dropout)
        # One nn.LSTM per layer and direction (not num_layers=n) so that every layer's states can be returned.
        self.forward_layers = nn.ModuleList(
            nn.LSTM(config.d_model, config.d_model, batch_first=True) for _ in range(config.n_layers)
        )
        self.backward_layers = nn.ModuleList(
            nn.LSTM(config.d_model, config.d_model, batch_first=True) for _ in range(config.n_layers)
        )

    def _run(self, layers: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
        states = []
        for i, lstm in enumerate(layers):
            out, _ = lstm(x)
            # ELMo's residual connection between LSTM layers: deeper layers refine rather than replace.
            x = self.drop(out) + (x if i > 0 else 0)
            states.append(x)
        return states

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_unused) -> EncoderOutput:
        check_ids(input_ids, self.config)
        batch, seq = input_ids.shape
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_id).long()
        lengths = attention_mask.long().sum(1).clamp(min=1)
        x = self.drop(self.tok_emb(input_ids))
        # Right padding never reaches a real token's forward state; the backward stack reads each row reversed.
        forward_states = self._run(self.forward_layers, x)
        backward_states = [
            reverse_padded(s, lengths) for s in self._run(self.backward_layers, reverse_padded(x, lengths))
        ]
        hidden = [torch.cat([x, x], dim=-1)] + [
            torch.cat(pair, dim=-1) for pair in zip(forward_states, backward_states)
        ]
        out = EncoderOutput(hidden[-1], tuple(hidden), None)
        out.extras["forward_state"], out.extras["backward_state"] = forward_states[-1], backward_states[-1]
        return out


@register_model  # so a cached run (ptmlab.train.cache.load_or_train) can rebuild it from its checkpoint
class BiLanguageModel(nn.Module):
    """A forward and a backward LSTM language model sharing one embedding table and one softmax (ELMo).

    `model(ids, mask)` returns the encoder's EncoderOutput plus `extras["forward_logits"]` (position t predicts token
    t + 1) and `extras["backward_logits"]` (position t predicts token t - 1), at every position or, with
    forward_positions / backward_positions (bool [batch, seq]), only where those masks are True."""

    config_class = BiLMConfig  # what a checkpoint's saved config rebuilds

    def __init__(self, config: BiLMConfig):
        super().__init__()
        self.config = config
        self.body = BiLMEncoder(config)
        self.softmax = nn.Linear(config.d_model, config.vocab_size)  # one softmax for both directions

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        forward_positions: torch.Tensor | None = None,
        backward_positions: torch.Tensor | None = None,
        **_unused,
    ) -> EncoderOutput:
        out = self.body(input_ids, attention_mask)
        fwd, bwd = out.extras["forward_state"], out.extras["backward_state"]
        out.extras["forward_logits"] = self.softmax(fwd if forward_positions is None else fwd[forward_positions])
        out.extras["backward_logits"] = self.softmax(bwd if backward_positions is None else bwd[backward_positions])
        return out


class ScalarMix(nn.Module):
    """ELMo's task-specific mix of layers: gamma * sum_j s_j h_j with s = softmax(w) (Peters et al. 2018, Eq. 1).

    The downstream task learns w (one number per layer) and gamma, so it picks the layers it needs: lower layers tend
    to carry syntax, higher ones meaning. `weights` gives s_j, the share of each layer."""

    def __init__(self, n_layers: int, initial_gamma: float = 1.0):
        super().__init__()
        if n_layers < 1:
            raise InputError(f"ScalarMix needs at least one layer, got {n_layers}.", fix="Pass len(hidden_states).")
        self.n_layers = n_layers
        self.logits = nn.Parameter(torch.zeros(n_layers))  # w: equal shares to start
        self.gamma = nn.Parameter(torch.tensor(float(initial_gamma)))

    @property
    def weights(self) -> torch.Tensor:
        """s_j = softmax(w)_j: the normalised weight of each layer (they sum to one)."""
        return self.logits.softmax(dim=0)

    def forward(self, layers: Sequence[torch.Tensor] | torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Mix n_layers tensors of one shape into one tensor of that shape. `layers` is a sequence of tensors (e.g. an
        EncoderOutput's hidden_states) or one tensor holding the layers along `dim` (e.g. features [tokens, layers, d]
        with dim=1)."""
        stacked = layers if isinstance(layers, torch.Tensor) else torch.stack(list(layers), dim=dim)
        if stacked.shape[dim] != self.n_layers:
            raise InputError(
                f"ScalarMix was built for {self.n_layers} layers but got {stacked.shape[dim]}.",
                fix="Build it with ScalarMix(len(output.hidden_states)).",
            )
        shape = [1] * stacked.dim()
        shape[dim] = self.n_layers
        weights = self.weights.to(stacked.dtype).view(shape)
        return self.gamma * (weights * stacked).sum(dim=dim)


class ELMo(nn.Module):
    """Contextual word vectors for a downstream task: a pretrained BiLM (frozen by default) and a ScalarMix of its
    layers. `ELMo(bilm)(ids, mask)` -> [batch, seq, 2 * d_model]."""

    def __init__(self, bilm: BiLanguageModel, freeze: bool = True):
        super().__init__()
        self.body = bilm.body if isinstance(bilm, BiLanguageModel) else bilm
        self.mix = ScalarMix(self.body.config.n_layers + 1)
        self.freeze = freeze
        if freeze:
            for p in self.body.parameters():
                p.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.freeze:
            self.body.eval()  # a frozen BiLM runs without dropout
            with torch.no_grad():
                hidden = self.body(input_ids, attention_mask).hidden_states
        else:
            hidden = self.body(input_ids, attention_mask).hidden_states
        return self.mix(hidden)


def check_ids(input_ids: torch.Tensor, config) -> None:
    """The same input checks as the Transformer's, with the same messages."""
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise InputError(
            f"Expected token ids shaped [batch, seq] with seq > 0, got {tuple(input_ids.shape)}.",
            fix="Encode a non-empty sentence with the model's tokenizer and add a batch dimension.",
        )
    if input_ids.shape[1] > config.max_len:
        raise InputError(
            f"The input has {input_ids.shape[1]} tokens; this model was built for at most {config.max_len}.",
            fix="Shorten the text or truncate it (encode_for_model(..., truncate=True)).",
        )
    if input_ids.numel() and (int(input_ids.max()) >= config.vocab_size or int(input_ids.min()) < 0):
        raise InputError(
            f"A token id is outside this model's vocabulary of {config.vocab_size}.",
            fix="Encode the text with the tokenizer that was saved with this model.",
        )
