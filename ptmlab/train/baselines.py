"""Honest baselines for a masked language model, scored on exactly the held-out masks its evaluation used.

The most frequent token (a model that ignores context) and counting the neighbours (ptmlab.models.counting): a network
that has not beaten counting has not yet learned what BERT's MLM (Devlin et al. 2019) is meant to teach it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ptmlab.models.counting import NeighbourCounts, most_frequent_token
from ptmlab.objectives.base import Objective
from ptmlab.train.trainer import EVAL_SEED, eval_batches


@dataclass(frozen=True)
class MaskedBaselines:
    """Accuracies on the held-out positions shown as [MASK] (n of them), and on every predicted position."""

    unigram_masked: float  # always the most frequent training token
    counts_masked: float  # NeighbourCounts from the left and right neighbour
    unigram_all: float  # the same two on every predicted position (as "accuracy" counts them)
    counts_all: float
    n_masked: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def masked_baselines(objective: Objective, train_blocks: torch.Tensor, eval_blocks: torch.Tensor, *, vocab_size: int,
                     n_special: int, mask_id: int, batch_size: int, n_batches: int) -> MaskedBaselines:  # fmt: skip
    """Score the two baselines on the masks Trainer.evaluate draws (same seed, same batches, same corruption)."""
    counts = NeighbourCounts.fit(train_blocks, vocab_size, n_special)
    frequent = most_frequent_token(train_blocks, n_special)
    generator = torch.Generator().manual_seed(EVAL_SEED)
    hits = {"unigram_masked": 0, "counts_masked": 0, "unigram_all": 0, "counts_all": 0}
    n_masked = n_all = 0
    for chunk in eval_batches(eval_blocks, batch_size, n_batches):
        batch = objective.corrupt(chunk, generator)
        targets = batch.targets[batch.loss_mask]
        shown_mask = batch.input_ids[batch.loss_mask] == mask_id
        guesses = counts.predict(batch.input_ids, batch.loss_mask)
        hits["counts_all"] += int((guesses == targets).sum())
        hits["counts_masked"] += int((guesses == targets)[shown_mask].sum())
        hits["unigram_all"] += int((targets == frequent).sum())
        hits["unigram_masked"] += int((targets == frequent)[shown_mask].sum())
        n_masked += int(shown_mask.sum())
        n_all += len(targets)
    rate = lambda k, n: hits[k] / n if n else float("nan")  # noqa: E731
    return MaskedBaselines(rate("unigram_masked", n_masked), rate("counts_masked", n_masked),
                           rate("unigram_all", n_all), rate("counts_all", n_all), n_masked)  # fmt: skip
