"""Fine-tune a span-QA head on a pre-trained encoder: copy the encoder under a start/end head, train every weight on
extractive questions, score token F1 / exact match (SQuAD's protocol, Rajpurkar et al. 2016, in miniature)."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from ptmlab.models.qa import SpanQAModel
from ptmlab.tasks.qa import FactQA, evaluate_qa, span_logits_masked


def finetune_qa(
    pretrained,
    train: FactQA,
    test: FactQA,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
    progress: bool = True,
) -> tuple[SpanQAModel, dict[str, Any]]:
    """Copy `pretrained.encoder` (any model with `.config` and `.encoder`, e.g. an EncoderDecoder) under a span head,
    fine-tune everything on `train` and score on `test`: (the fine-tuned model on the CPU, {f1, exact_match,
    loss_curve, seconds}). The head's initial weights are seeded by 1000 + seed, the batches by seed."""
    from ptmlab.runtime import get_device
    from ptmlab.tasks.finetune import finetune

    device = get_device()
    torch.manual_seed(1000 + seed)  # the span head's initial weights
    model = SpanQAModel(pretrained.config)
    model.encoder.load_state_dict(pretrained.encoder.state_dict())
    model.to(device)

    def batch_loss(model, generator):
        batch = train.take(torch.randint(0, len(train), (batch_size,), generator=generator)).trimmed()
        start, end = span_logits_masked(*model(batch.input_ids.to(device), batch.attention_mask.to(device)), batch)
        return (F.cross_entropy(start, batch.starts.to(device)) + F.cross_entropy(end, batch.ends.to(device))) / 2

    started = time.perf_counter()
    losses = finetune(model, batch_loss, steps=steps, lr=lr, seed=seed, title="fine-tune QA", progress=progress)
    scores = evaluate_qa(model, test)
    return model.cpu().eval(), {**scores, "loss_curve": losses, "seconds": time.perf_counter() - started}
