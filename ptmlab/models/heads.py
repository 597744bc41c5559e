"""Prediction heads and the ready-to-train models built from a Transformer body and a head.

The MLM head follows BERT (Devlin et al. 2019): dense + GELU + LayerNorm, then logits tied to the input embeddings;
it scores only the positions that are predicted, which is where most of an MLM step's time would otherwise go."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.models.hooks import HookedModule
from ptmlab.models.transformer import EncoderOutput, Transformer, TransformerConfig


class MLMHead(nn.Module):
    def __init__(self, config: TransformerConfig, embedding: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)
        self.embedding = embedding  # tied: output word vectors are the input word vectors
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [batch, seq, vocab], or [n, vocab] for the n positions where the bool mask `positions` is True."""
        if positions is not None:
            hidden = hidden[positions]
        h = self.norm(F.gelu(self.dense(hidden)))
        return F.linear(h, self.embedding.weight, self.bias)


class MaskedLanguageModel(HookedModule):
    """A bidirectional Transformer with an MLM head (BERT-style)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.body = Transformer(config)
        self.mlm_head = MLMHead(config, self.body.tok_emb)

    def forward(self, input_ids, attention_mask=None, predict_positions=None, output_attentions=False, **kwargs):
        out: EncoderOutput = self.body(input_ids, attention_mask, output_attentions=output_attentions, **kwargs)
        out.extras["logits"] = self.mlm_head(out.last_hidden_state, predict_positions)
        return out


class CausalLanguageModel(HookedModule):
    """A left-to-right Transformer with a tied next-token head (GPT-style)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not config.causal:
            from dataclasses import replace

            config = replace(config, causal=True)
        self.config = config
        self.body = Transformer(config)

    def forward(self, input_ids, attention_mask=None, output_attentions=False, **kwargs):
        out: EncoderOutput = self.body(input_ids, attention_mask, output_attentions=output_attentions, **kwargs)
        out.extras["logits"] = F.linear(out.last_hidden_state, self.body.tok_emb.weight)
        return out


MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "MaskedLanguageModel": MaskedLanguageModel,
    "CausalLanguageModel": CausalLanguageModel,
    "Transformer": Transformer,
}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Let checkpoints rebuild a model class by name (use as a decorator on new models)."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def build_model(class_name: str, config: dict) -> nn.Module:
    from ptmlab.errors import CheckpointError

    if class_name not in MODEL_CLASSES:
        _import_model_modules()  # models register themselves on import; a checkpoint may name one not imported yet
    if class_name not in MODEL_CLASSES:
        raise CheckpointError(
            f"Unknown model class {class_name!r} in the checkpoint.",
            fix="Import the module that defines it before loading, or load with the ptmlab version that saved it.",
        )
    model_class = MODEL_CLASSES[class_name]
    config_class = getattr(model_class, "config_class", TransformerConfig)  # a model with extra config fields names it
    return model_class(config_class(**config))


def _import_model_modules() -> None:
    import importlib
    import pkgutil

    import ptmlab.models

    for module in pkgutil.iter_modules(ptmlab.models.__path__):
        if module.name != "hf":  # Hugging Face wrappers need the optional `transformers`
            importlib.import_module(f"ptmlab.models.{module.name}")
