"""Sentence and token classification: a linear probe on frozen sentence vectors averaged over stratified splits, and
fine-tuning every weight of an encoder under a new head (pooled for sentences, per token for tags).

The two ways of using a PTM downstream (Devlin et al. 2019, BERT Sections 4 and 5.3; Peters et al. 2019, "To tune or
not to tune"). One call each: a model (or its encoder) and examples in, a dict of scores out (accuracies in [0, 1])."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.tasks.features import encoder_of, pad, sentence_features
from ptmlab.tasks.finetune import finetune
from ptmlab.tasks.probe import fit_linear_probe
from ptmlab.tasks.stats import balanced_accuracy


def stratified_splits(labels: Sequence[int], n_splits: int, seed: int = 1000) -> list[tuple[list[int], list[int]]]:
    """n_splits random half/half (train, test) splits of the example indices, each class halved; split s is drawn with
    random.Random(seed + s), so every model scored on the same labels sees the same splits."""
    out = []
    for s in range(n_splits):
        rng = random.Random(seed + s)
        train, test = [], []
        for label in sorted(set(labels)):
            members = [i for i, y in enumerate(labels) if y == label]
            rng.shuffle(members)
            train += members[: len(members) // 2]
            test += members[len(members) // 2 :]
        rng.shuffle(train)
        out.append((train, test))
    return out


class EncoderClassifier(nn.Module):
    """A linear head on an encoder (an EncoderView): over the mean of the token states (`pool=True`, one label per
    sentence) or on every token's state (`pool=False`, one label per token). Padding (id 0) is left out."""

    def __init__(self, encoder: nn.Module, n_classes: int, pool: bool):
        super().__init__()
        self.encoder, self.pool = encoder, pool
        self.head = nn.Linear(encoder.stack.config.d_model, n_classes)

    def forward(self, ids):
        mask = (ids != 0).float()
        hidden = self.encoder(ids, mask.long()).last_hidden_state
        if self.pool:
            return self.head((hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True))
        return self.head(hidden)


def sentence_probe(
    encoder: nn.Module,
    examples: Sequence[tuple[Sequence[int], int]],
    *,
    splits: int = 10,
    steps: int = 150,
    seed: int = 0,
    label_counts: Sequence[int] = (),
    n_classes: int = 2,
) -> dict[str, Any]:
    """A linear probe on frozen mean-pooled sentence vectors (`encoder` is not tuned), trained on one half of the
    examples (token ids, label) and tested on the other, over `splits` stratified splits.

    Returns "accuracy" (the mean over splits), "accuracies" (one per split) and, for each n in `label_counts`, the
    probe trained on only n // n_classes examples of each class of the train half: "sample_efficiency" {n: mean} and
    "sample_efficiency_splits" {n: one accuracy per split}."""
    labels = torch.tensor([y for _, y in examples])
    x = sentence_features(encoder, [ids for ids, _ in examples])
    accuracies, efficiency = [], {n: [] for n in label_counts}
    for train, test in stratified_splits(labels.tolist(), splits):
        probe = fit_linear_probe(x[train], labels[train], n_classes, steps=steps, seed=seed)
        accuracies.append(float((probe.predict(x[test]) == labels[test]).float().mean()))
        for n in label_counts:
            few = [i for c in range(n_classes) for i in [j for j in train if labels[j] == c][: n // n_classes]]
            probe = fit_linear_probe(x[few], labels[few], n_classes, steps=steps, seed=seed)
            efficiency[n].append(float((probe.predict(x[test]) == labels[test]).float().mean()))
    return {
        "accuracy": sum(accuracies) / len(accuracies),
        "accuracies": accuracies,
        "sample_efficiency": {n: sum(v) / len(v) for n, v in efficiency.items()},
        "sample_efficiency_splits": efficiency,
    }


def finetune_sentence_classifier(
    model: nn.Module,
    examples: Sequence[tuple[Sequence[int], int]],
    *,
    splits: int = 3,
    steps: int = 120,
    lr: float = 1e-3,
    seed: int = 0,
    batch_size: int = 16,
    n_classes: int = 2,
) -> dict[str, Any]:
    """Fine-tune a copy of `model`'s encoder with a classifier on the mean of its states (EncoderClassifier, pool=True)
    on one half of the examples (token ids, label); accuracy on the other half, over `splits` stratified splits (a
    small test half alone swings by several points). `model` itself is not changed.

    Returns "accuracy" (the mean over splits) and "accuracies" (one per split)."""
    device = next(model.parameters()).device
    ids = pad([r for r, _ in examples], device)
    labels = torch.tensor([y for _, y in examples], device=device)
    accuracies = []
    for train, test in stratified_splits(labels.tolist(), splits):
        torch.manual_seed(seed)  # the new head's initial weights: a re-scored run gives the same score
        classifier = EncoderClassifier(encoder_of(copy.deepcopy(model)), n_classes, pool=True).to(device)
        train_t = torch.tensor(train, device=device)

        def batch_loss(classifier, generator, train_t=train_t):
            picked = train_t[torch.randint(0, len(train_t), (batch_size,), generator=generator).to(device)]
            return F.cross_entropy(classifier(ids[picked]), labels[picked])

        finetune(classifier, batch_loss, steps=steps, lr=lr, seed=seed, progress=False)
        with torch.no_grad():
            guess = classifier(ids[test]).argmax(-1)
        accuracies.append(float((guess == labels[test]).float().mean()))
    return {"accuracy": sum(accuracies) / len(accuracies), "accuracies": accuracies}


def finetune_token_classifier(
    model: nn.Module,
    rows: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]],
    train_side: Sequence[Sequence[bool]],
    n_classes: int,
    *,
    steps: int = 120,
    lr: float = 1e-3,
    seed: int = 0,
    batch_size: int = 32,
) -> dict[str, float]:
    """Fine-tune a copy of `model`'s encoder with a per-token head (EncoderClassifier, pool=False) on the tokens of the
    train side (label -1: not scored, e.g. [CLS]/[SEP]), the loss weighted so every class counts as much; balanced
    accuracy (and plain accuracy) on the other tokens. `model` itself is not changed."""
    device = next(model.parameters()).device
    torch.manual_seed(seed)  # the new head's initial weights: a re-scored run gives the same score
    tagger = EncoderClassifier(encoder_of(copy.deepcopy(model)), n_classes, pool=False).to(device)
    labels = pad(labels, device, pad_id=-1)  # -1: [CLS]/[SEP]/padding
    sides = pad([[int(s) for s in row] for row in train_side], device).bool()
    ids = pad(rows, device)
    train_labels = labels[sides & (labels >= 0)]
    counts = torch.bincount(train_labels, minlength=n_classes).float()
    weights = (counts.sum() / counts.clamp_min(1)) / n_classes  # balanced: rare classes count as much

    def batch_loss(tagger, generator):
        picked = torch.randint(0, len(ids), (batch_size,), generator=generator).to(device)
        target = torch.where(sides[picked], labels[picked], torch.full_like(labels[picked], -1))
        logits = tagger(ids[picked])
        return F.cross_entropy(logits.flatten(0, 1), target.flatten(), weight=weights, ignore_index=-1)

    finetune(tagger, batch_loss, steps=steps, lr=lr, seed=seed, progress=False)
    with torch.no_grad():
        guess = torch.cat([tagger(ids[i : i + 128]).argmax(-1) for i in range(0, len(ids), 128)])
    test = ~sides & (labels >= 0)
    guess, truth = guess[test].cpu(), labels[test].cpu()
    return {"balanced_accuracy": balanced_accuracy(guess, truth), "accuracy": float((guess == truth).float().mean())}
