"""Fine-tuning: every weight of a pre-trained body under a new head, with the Trainer's schedule and clipping.

Devlin et al. 2019, BERT (fine-tune everything at a small learning rate); Howard & Ruder 2018, ULMFiT (the schedule)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def finetune(
    model: torch.nn.Module,
    batch_loss: Callable[[torch.nn.Module, torch.Generator], torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int = 0,
    warmup: int | None = None,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    title: str = "fine-tune",
    progress: bool = True,
) -> list[float]:
    """Fine-tune every parameter of `model` (already on its device) for `steps` steps; returns the loss per step.

    batch_loss(model, generator) draws a batch with `generator` (seeded by `seed`) and returns its loss. AdamW with the
    Trainer's schedule (linear warmup, cosine decay) and gradient clipping."""
    from ptmlab.train.trainer import TrainConfig, _progress, lr_at

    schedule = TrainConfig(steps=steps, lr=lr, warmup=max(1, steps // 10) if warmup is None else warmup)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    bar = _progress(steps, title) if progress else None
    losses = []
    model.train()
    for step in range(steps):
        loss = batch_loss(model, generator)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, schedule)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(round(loss.item(), 4))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    model.eval()
    return losses
