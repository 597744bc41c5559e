"""An encoder whose [CLS] state, through a projection head, is the sequence's vector (InfoWord-style contrastive learning).

Kong et al. 2020, InfoWord; the projection head follows SimCLR-style contrastive encoders."""

from __future__ import annotations

from torch import nn

from ptmlab.models.heads import MLMHead, register_model
from ptmlab.models.hooks import HookedModule
from ptmlab.models.transformer import EncoderOutput, Transformer, TransformerConfig, _init_weights


@register_model
class ContrastiveEncoder(HookedModule):
    """A bidirectional Transformer whose [CLS] state, through a projection head, is the sequence's vector.

    The same encoder embeds the masked sentence (global view) and the n-gram alone (local view), as in InfoWord; an MLM
    head is kept for the optional InfoWord-style MLM term."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.body = Transformer(config)
        self.mlm_head = MLMHead(config, self.body.tok_emb)
        self.projection = nn.Sequential(nn.Linear(config.d_model, config.d_model), nn.GELU(),
                                        nn.Linear(config.d_model, config.d_model))  # fmt: skip
        self.projection.apply(_init_weights)

    def forward(self, input_ids, attention_mask=None, predict_positions=None, output_attentions=False, **kwargs):
        out: EncoderOutput = self.body(input_ids, attention_mask, output_attentions=output_attentions, **kwargs)
        out.extras["vector"] = self.projection(out.last_hidden_state[:, 0])
        if predict_positions is not None:
            out.extras["logits"] = self.mlm_head(out.last_hidden_state, predict_positions)
        return out
