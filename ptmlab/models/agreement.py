"""The agreement classifier of chapter 03: a CNN, BiLSTM or Transformer encoder and a linear head at the verb.

Tang et al. 2018, "Why Self-Attention?" (the three encoders compared at equal size on long-range agreement). Not
registered with register_model: chapter 03 rebuilds it from its own config when it loads a cached run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.convolutional import CNNConfig, CNNEncoder
from ptmlab.models.recurrent import BiLSTMConfig, BiLSTMEncoder
from ptmlab.models.transformer import Transformer, TransformerConfig

ENCODER_KINDS = ("cnn", "bilstm", "transformer")


@dataclass
class AgreementModelConfig:
    kind: str  # "cnn" | "bilstm" | "transformer"
    vocab_size: int
    max_len: int
    d_model: int
    n_classes: int = 2
    encoder: dict = field(default_factory=dict)  # the encoder's own config fields (layers, heads, widths)

    def to_dict(self) -> dict:
        return asdict(self)


class AgreementClassifier(nn.Module):
    """An encoder (CNN, BiLSTM or Transformer) and a linear head that reads the vector at the verb position."""

    def __init__(self, config: AgreementModelConfig):
        super().__init__()
        self.config = config
        common = dict(vocab_size=config.vocab_size, d_model=config.d_model)
        if config.kind == "transformer":
            self.encoder = Transformer(TransformerConfig(max_len=config.max_len, **common, **config.encoder))
        elif config.kind == "bilstm":
            self.encoder = BiLSTMEncoder(BiLSTMConfig(**common, **config.encoder))
        elif config.kind == "cnn":
            self.encoder = CNNEncoder(CNNConfig(**common, **config.encoder))
        else:
            raise InputError(f"Unknown encoder {config.kind!r}.", fix=f"Use one of {', '.join(ENCODER_KINDS)}.")
        self.head = nn.Linear(config.d_model, config.n_classes)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [batch, n_classes] for the token at `positions` ([batch] indices; default: the last real token)."""
        hidden = self.encoder(input_ids, attention_mask).last_hidden_state
        if positions is None:
            last = torch.full((len(input_ids),), input_ids.shape[1] - 1, device=input_ids.device)
            positions = attention_mask.sum(1) - 1 if attention_mask is not None else last
        at_verb = hidden[torch.arange(len(hidden), device=hidden.device), positions.to(hidden.device)]
        return self.head(at_verb)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (tied tensors counted once)."""
    unique = {id(p): p for p in model.parameters() if p.requires_grad}
    return sum(p.numel() for p in unique.values())
