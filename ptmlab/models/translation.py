"""Translation language model (XLM): an MLM over '[CLS] a [SEP] b [SEP]' pairs with language embeddings and positions
that restart in the second sentence. Lample & Conneau 2019, XLM."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.models.heads import MaskedLanguageModel, register_model
from ptmlab.models.transformer import EncoderOutput, TransformerConfig

SEP_ID = SPECIAL_TOKENS.index("[SEP]")


def language_and_positions(token_ids: torch.Tensor, sep_id: int = SEP_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """For rows '[CLS] english [SEP] chinese [SEP]': language ids (0 up to the first [SEP], 1 after) and positions that
    restart at 0 where the second sentence begins (XLM resets positions so both sentences look like sentence starts)."""
    T = token_ids.shape[1]
    arange = torch.arange(T, device=token_ids.device).expand_as(token_ids)
    is_sep = token_ids == sep_id
    first_sep = torch.where(is_sep.any(1, keepdim=True), is_sep.long().argmax(1, keepdim=True), T)
    language = (arange > first_sep).long()
    return language, arange - language * (first_sep + 1)


@dataclass
class TLMConfig(TransformerConfig):
    reset_positions: bool = True  # positions restart at the second sentence (XLM)


@register_model
class TranslationLanguageModel(MaskedLanguageModel):
    """A MaskedLanguageModel for sentence pairs '[CLS] a [SEP] b [SEP]' that reads the language of each token and its
    position within its own sentence off the [SEP] tokens: language embeddings ride in the body's segment embeddings
    (when config.n_segments >= 2), position resets are on when config.reset_positions (XLM does both)."""

    config_class = TLMConfig

    def forward(self, input_ids, attention_mask=None, predict_positions=None, output_attentions=False, **kwargs):
        language, positions = language_and_positions(input_ids)
        if self.config.n_segments >= 2:
            kwargs.setdefault("token_type_ids", language)
        if not getattr(self.config, "reset_positions", False):
            return super().forward(input_ids, attention_mask, predict_positions, output_attentions, **kwargs)
        body = self.body  # the Transformer's forward, with per-sentence positions instead of 0..T-1
        body.check_input(input_ids)
        x = body.tok_emb(input_ids) + body.pos_emb(positions)
        if body.seg_emb is not None and kwargs.get("token_type_ids") is not None:
            x = x + body.seg_emb(kwargs["token_type_ids"])
        x = body.embed(body.drop(x))
        hidden, attentions = [x], []
        for block in body.blocks:
            x, weights = block(x, attention_mask, output_attentions)
            hidden.append(x)
            attentions.append(weights)
        hidden[-1] = body.ln_final(x)
        out = EncoderOutput(hidden[-1], tuple(hidden), tuple(attentions) if output_attentions else None)
        out.extras["logits"] = self.mlm_head(hidden[-1], predict_positions)
        return out
