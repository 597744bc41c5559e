"""A sentence-pair encoder: BERT's body with segment embeddings, an MLM head and a pair head on [CLS] (NSP / SOP).

Devlin et al. 2019, BERT (next sentence prediction); Lan et al. 2020, ALBERT (sentence order prediction)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.models.heads import MLMHead, register_model
from ptmlab.models.hooks import HookedModule
from ptmlab.models.transformer import EncoderOutput, Transformer, TransformerConfig, _init_weights


def segments_from_sep(token_ids: torch.Tensor, sep_id: int = SPECIAL_TOKENS.index("[SEP]")) -> torch.Tensor:
    """Segment ids for plain [CLS] A [SEP] B [SEP] rows: 0 up to and including the first [SEP], 1 after it."""
    seen = (token_ids == sep_id).long().cumsum(-1)
    after_first = (seen - (token_ids == sep_id).long()) >= 1
    return after_first.long()


# ============================================================================ the model: encoder + MLM head + pair head
class PairHead(nn.Module):
    """BERT's pooler (dense + tanh on [CLS]) and a 2-way classifier: is the pair positive?"""

    def __init__(self, d_model: int):
        super().__init__()
        self.pool = nn.Linear(d_model, d_model)
        self.classify = nn.Linear(d_model, 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.classify(torch.tanh(self.pool(hidden[:, 0])))


@register_model
class SentencePairModel(HookedModule):
    """A BERT-style encoder with segment embeddings, an MLM head and a sentence-pair head on [CLS]."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if config.n_segments < 2:
            config = replace(config, n_segments=2)
        self.config = config
        self.body = Transformer(config)
        self.mlm_head = MLMHead(config, self.body.tok_emb)
        self.pair_head = PairHead(config.d_model)
        self.pair_head.apply(_init_weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        predict_positions: torch.Tensor | None = None,
        output_attentions: bool = False,
        **kwargs,
    ) -> EncoderOutput:
        """extras: "pair_logits" [batch, 2]; "logits" MLM logits at `predict_positions` ([n, vocab]) when given."""
        if token_type_ids is None:
            token_type_ids = segments_from_sep(input_ids)
        out: EncoderOutput = self.body(input_ids, attention_mask, token_type_ids, output_attentions, **kwargs)
        out.extras["pair_logits"] = self.pair_head(out.last_hidden_state)
        if predict_positions is not None:
            out.extras["logits"] = self.mlm_head(out.last_hidden_state, predict_positions)
        return out
