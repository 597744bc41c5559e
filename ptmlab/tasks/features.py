"""Frozen features: what a pre-trained encoder says about each token or sentence, read without changing it.

The feature-based use of a PTM (Peters et al. 2018, ELMo; Devlin et al. 2019, BERT Section 5.3): one view of any
ptmlab model's encoder, token states per layer, mean-pooled sentence vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ptmlab.data.batching import pad_batch


class EncoderView(nn.Module):
    """The part of any contestant's model that a downstream task reads: the encoder of an encoder-decoder, the body of
    the others (the discriminator for ELECTRA, the content stream for XLNet, the causal stack for the LM). Pair models
    see every token as segment A, as in BERT's single-sentence tasks."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if hasattr(model, "encoder") and hasattr(model, "decode"):
            self.stack = model.encoder
        else:
            self.stack = getattr(model, "body", model)

    def forward(self, input_ids, attention_mask=None):
        if getattr(self.stack, "seg_emb", None) is not None:
            return self.stack(input_ids, attention_mask, torch.zeros_like(input_ids))
        return self.stack(input_ids, attention_mask)


def encoder_of(model: nn.Module) -> EncoderView:
    """The downstream view of any contestant's model: `encoder_of(model)(ids, mask)` gives an EncoderOutput."""
    return EncoderView(model)


def pad(rows: Sequence[Sequence[int]], device=None, pad_id: int = 0) -> torch.Tensor:
    """Right-padded ids [len(rows), longest] (ptmlab.data.batching.pad_batch), on `device`."""
    return pad_batch(rows, pad_id)[0].to(device)


@torch.no_grad()
def sentence_features(encoder: nn.Module, rows: Sequence[Sequence[int]], layer: int = -1, batch_size: int = 128):
    """The mean of a sentence's token states at `layer` (padding left out): one vector per row."""
    device = next(encoder.parameters()).device
    encoder.eval()
    out = []
    for first in range(0, len(rows), batch_size):
        ids = pad(rows[first : first + batch_size], device)
        mask = (ids != 0).float()
        hidden = encoder(ids, mask.long()).hidden_states[layer].float()
        out.append(((hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)).cpu())
    return torch.cat(out)


@torch.no_grad()
def frozen_features(model, rows: list[list[int]], layer: int = -1, batch_size: int = 128) -> torch.Tensor:
    """Hidden states of every token of every row, concatenated [sum of lengths, d], from `model.body`, frozen."""
    device = next(model.parameters()).device
    body = getattr(model, "body", model)
    was_training = body.training
    body.eval()
    out = []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        ids = pad(chunk, device)
        states = body(ids, (ids != 0).long())
        hidden = (states.last_hidden_state if layer == -1 else states.hidden_states[layer]).float().cpu()
        out += [hidden[i, : len(r)] for i, r in enumerate(chunk)]
    body.train(was_training)
    return torch.cat(out)


def token_features(model, rows: list[list[int]], layer: int = -1, batch_size: int = 128, strip_special: bool = True):
    """One [len(row), d] tensor per row (frozen_features, split back by row); strip_special drops each row's first
    and last token ([CLS] and [SEP])."""
    flat = frozen_features(model, rows, layer, batch_size)
    out = list(flat.split([len(r) for r in rows]))
    return [t[1:-1] for t in out] if strip_special else out
