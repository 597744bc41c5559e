"""Extractive question answering: an encoder and a linear layer scoring each token as the answer's start and end.

Devlin et al. 2019, BERT (the SQuAD head)."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ptmlab.models.heads import register_model
from ptmlab.models.hooks import HookedModule
from ptmlab.models.transformer import Transformer, TransformerConfig


@register_model
class SpanQAModel(HookedModule):
    """A Transformer encoder and a linear layer scoring each token as the answer's start and end (BERT's SQuAD head)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.encoder = Transformer(replace(config, causal=False, n_segments=0))
        self.span_head = nn.Linear(config.d_model, 2)

    def forward(self, input_ids, attention_mask=None):
        hidden = self.encoder(input_ids, attention_mask).last_hidden_state
        start, end = self.span_head(hidden).unbind(-1)
        return start, end
