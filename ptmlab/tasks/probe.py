"""Linear probes: a linear classifier trained on frozen features, the standard reading of what a representation holds.

Alain & Bengio 2016 (linear classifier probes); used on BERT's layers by Tenney et al. 2019."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptmlab.errors import InputError


class LinearProbe:
    """A linear classifier on standardised frozen features: logits = ((x - mean) / scale) @ weight + bias."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        self.mean, self.scale, self.weight, self.bias = mean, scale, weight, bias

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return ((features.float() - self.mean) / self.scale) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self(features).argmax(-1)


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    *,
    steps: int = 150,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> LinearProbe:
    """Train a linear head on frozen features [N, D] for labels [N] (full-batch Adam, L2 penalty `weight_decay`).

    Features are centred and divided by ONE overall scale, so rare, nearly constant columns stay bounded."""
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise InputError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not match.",
            fix="Pass features [N, D] and one label per row [N].",
        )
    if len(labels) == 0:
        raise InputError("No examples to fit the probe on.", fix="Pass at least one labelled feature row.")
    features = features.float()
    mean = features.mean(0)
    scale = (features - mean).std().clamp_min(1e-6) if len(features) > 1 else torch.tensor(1.0)
    x = (features - mean) / scale
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(x.shape[1], n_classes, generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(x @ weight + bias, labels) + weight_decay * weight.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return LinearProbe(mean, scale, weight.detach(), bias.detach())
