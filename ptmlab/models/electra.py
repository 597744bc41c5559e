"""ELECTRA's two networks: a small masked-LM generator and a discriminator that shares its embeddings.

Clark et al. 2020, "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators" (ICLR), 3.1-3.2:
the generator is 1/4-1/2 as wide as the discriminator and both read the same token and position embeddings."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.heads import register_model
from ptmlab.models.hooks import HookedModule
from ptmlab.models.transformer import Block, EncoderOutput, Transformer, TransformerConfig, _init_weights


@dataclass
class ElectraConfig(TransformerConfig):
    """The discriminator's TransformerConfig plus the generator's relative width.

    The generator has the discriminator's depth and head size, with `generator_fraction` of its heads (rounded, at least
    one), so its width is about `generator_fraction * d_model` (ELECTRA Fig. 3: 1/4-1/2 of the discriminator's is best).
    """

    generator_fraction: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.generator_fraction <= 1:
            raise InputError(
                f"generator_fraction={self.generator_fraction} must be in (0, 1].",
                fix="Use 0.25 to 0.5, the range ELECTRA found best.",
            )

    def generator_config(self) -> TransformerConfig:
        heads = max(1, round(self.n_heads * self.generator_fraction))
        base = {f.name: getattr(self, f.name) for f in fields(TransformerConfig)}
        return TransformerConfig(**{**base, "d_model": heads * self.d_head, "n_heads": heads, "d_ff": 0})

    @classmethod
    def from_transformer(cls, config: TransformerConfig, generator_fraction: float = 0.25) -> ElectraConfig:
        base = {f.name: getattr(config, f.name) for f in fields(TransformerConfig)}
        return cls(**base, generator_fraction=generator_fraction)


class ElectraGenerator(nn.Module):
    """A narrow bidirectional Transformer with a masked-LM head; it reads the discriminator's embeddings.

    ELECTRA's `embeddings_project`: the shared embeddings (width d_model) are projected down to the generator's width,
    and its MLM head projects back up so the output softmax can reuse the shared token embeddings (tied weights)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        small = config.generator_config()
        self.config = small
        self.project_in = nn.Linear(config.d_model, small.d_model)
        self.blocks = nn.ModuleList(Block(small) for _ in range(small.n_layers))
        self.ln_final = nn.LayerNorm(small.d_model)
        self.head_dense = nn.Linear(small.d_model, config.d_model)
        self.head_norm = nn.LayerNorm(config.d_model)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.apply(_init_weights)

    def forward(
        self,
        embedded: torch.Tensor,
        attention_mask: torch.Tensor | None,
        output_embedding: torch.Tensor,
        predict_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [batch, seq, vocab], or [n, vocab] where the bool mask `predict_positions` is True."""
        x = self.project_in(embedded)
        for block in self.blocks:
            x, _ = block(x, attention_mask)
        x = self.ln_final(x)
        if predict_positions is not None:
            x = x[predict_positions]
        h = self.head_norm(F.gelu(self.head_dense(x)))
        return F.linear(h, output_embedding, self.bias)


@register_model
class ElectraModel(HookedModule):
    """Generator + discriminator. `model.body` is the discriminator's Transformer: the encoder kept after pre-training.

    `forward` runs the discriminator and puts one "was this token replaced?" logit per position in
    `extras["replaced_logits"]` [batch, seq]; `generator_logits` runs the generator on masked input."""

    config_class = ElectraConfig  # lets checkpoints rebuild the model with the generator's width

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, ElectraConfig):
            config = ElectraConfig.from_transformer(config)
        self.config = config
        self.body = Transformer(config)
        self.generator = ElectraGenerator(config)
        self.discriminator_head = nn.Sequential(
            nn.Linear(config.d_model, config.d_model), nn.GELU(), nn.Linear(config.d_model, 1)
        )
        self.discriminator_head.apply(_init_weights)

    @property
    def tok_emb(self) -> nn.Embedding:
        return self.body.tok_emb

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The shared embeddings (token + position [+ segment]) that the generator reads; the body computes the same."""
        self.body.check_input(input_ids)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.body.tok_emb(input_ids) + self.body.pos_emb(positions)
        if self.body.seg_emb is not None and token_type_ids is not None:
            x = x + self.body.seg_emb(token_type_ids)
        return self.body.drop(x)

    def generator_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        predict_positions: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        embedded = self.embed(input_ids, token_type_ids)
        return self.generator(embedded, attention_mask, self.body.tok_emb.weight, predict_positions)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
        **kwargs,
    ) -> EncoderOutput:
        out: EncoderOutput = self.body(input_ids, attention_mask, token_type_ids, output_attentions, **kwargs)
        out.extras["replaced_logits"] = self.discriminator_head(out.last_hidden_state).squeeze(-1)
        return out

    @torch.no_grad()
    def replaced_probabilities(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """P(replaced) for every token [batch, seq], from the discriminator alone (what the widget colours)."""
        return torch.sigmoid(self(input_ids, attention_mask).extras["replaced_logits"].float())


def electra_config(config: TransformerConfig, generator_fraction: float = 0.25) -> ElectraConfig:
    """An ElectraConfig for a discriminator shaped like `config` (the same body as an MLM baseline)."""
    if isinstance(config, ElectraConfig):
        return replace(config, generator_fraction=generator_fraction)
    return ElectraConfig.from_transformer(config, generator_fraction)


def count_parameters(module: nn.Module) -> int:
    """Distinct trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
