"""Exercises for chapter 09: an equal compute budget, the share of tokens a loss learns from, and ranking agreement.

Checked by properties against ptmlab's own objectives (ELECTRA Table 5, Clark et al. 2020; survey Qiu et al. 2020,
Section 3.1): a budget in FLOPs, not in steps, and a ranking compared pair by pair."""

from __future__ import annotations

import random
from typing import Any

import torch

from ptmlab.exercises.base import Exercise


class EqualComputeSteps(Exercise):
    title = "One budget, different steps"
    task = (
        "Write steps_for_budget(budget_flops, flops_per_step) -> dict. flops_per_step maps an objective to the FLOPs "
        "of one of its training steps; return, for each, the whole number of steps (at least 1) whose FLOPs come "
        "closest to budget_flops."
    )
    hints = (
        "An objective whose step costs twice as much gets half the steps.",
        "round(budget_flops / f), but never fewer than 1 step.",
    )
    solution_code = """def steps_for_budget(budget_flops, flops_per_step):
    return {name: max(1, round(budget_flops / f)) for name, f in flops_per_step.items()}"""

    def test(self, answer: Any) -> None:
        rng = random.Random(0)
        for _ in range(20):
            per_step = {f"o{i}": rng.uniform(1e8, 5e9) for i in range(rng.randint(1, 6))}
            budget = rng.uniform(1e9, 1e12)
            steps = answer(budget, dict(per_step))
            self.expect(isinstance(steps, dict) and set(steps) == set(per_step), "Return one entry per objective.")
            for name, f in per_step.items():
                n = steps[name]
                self.expect(isinstance(n, int) and n >= 1, f"{name}: steps must be a whole number >= 1, got {n!r}.")
                best = max(1, round(budget / f))
                self.expect(abs(n * f - budget) <= abs(best * f - budget) + 1e-6 * budget,
                            f"{name}: {n} steps x {f:.3g} FLOPs is {n * f:.3g}, further from {budget:.3g} than "
                            f"{best} steps.")  # fmt: skip
        tiny = answer(1.0, {"huge": 1e12})
        self.expect(tiny["huge"] == 1, "An objective whose step costs more than the budget still gets 1 step.")


class PredictedShare(Exercise):
    title = "How many tokens does the loss learn from?"
    task = (
        "Write predicted_share(batch) -> float: the share of the real, non-special input tokens whose prediction "
        "counts in the loss. batch is a ptmlab Corruption: batch.loss_mask (bool), batch.record (ptmlab.objectives."
        "base.Op codes; Op.SPECIAL marks [CLS]/[SEP]) and batch.attention_mask (1 = real token). It is checked on BERT's "
        "MLM (about 0.15) and ELECTRA Table 5's All-Tokens MLM (1.0)."
    )
    hints = (
        "Count batch.loss_mask.sum(); divide by the number of positions that are real (attention_mask == 1) and not "
        "special (record != Op.SPECIAL).",
        "Return a Python float: float(numerator / denominator).",
    )
    solution_code = """from ptmlab.objectives.base import Op

def predicted_share(batch):
    real = batch.attention_mask.bool() & (batch.record != int(Op.SPECIAL))
    return float(batch.loss_mask.sum() / real.sum())"""

    def test(self, answer: Any) -> None:
        from ptmlab.objectives.mlm import MaskedLM

        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(5, 200, (64, 40), generator=generator)
        ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
        bert = MaskedLM(200).corrupt(ids, torch.Generator().manual_seed(1))
        share = answer(bert)
        self.expect(isinstance(share, float), f"Return a float, got {type(share).__name__}.")
        self.expect_close(share, 0.15, 0.02, "BERT's predicted share")
        every = MaskedLM(200, predict_all=True).corrupt(ids, torch.Generator().manual_seed(1))
        self.expect_close(answer(every), 1.0, 1e-6, "All-Tokens MLM's predicted share")


class RankingAgreement(Exercise):
    title = "Does our ranking agree with the paper's?"
    task = (
        "Write pairs_in_order(paper, ours) -> (agree, total). Both map objective -> score (higher is better); use the "
        "objectives present in both. For every pair the paper ranks (a above b), count whether ours also puts a above "
        "b. total is the number of pairs compared."
    )
    hints = (
        "With k shared objectives there are k (k - 1) / 2 pairs; itertools.combinations gives them.",
        "For a pair (a, b) with paper[a] > paper[b], it agrees when ours[a] > ours[b] (and the other way round).",
    )
    solution_code = """from itertools import combinations

def pairs_in_order(paper, ours):
    shared = [k for k in paper if k in ours]
    agree = total = 0
    for a, b in combinations(shared, 2):
        if paper[a] == paper[b]:
            continue
        total += 1
        agree += (paper[a] > paper[b]) == (ours[a] > ours[b])
    return agree, total"""

    def test(self, answer: Any) -> None:
        paper = {"rtd": 85.0, "mlm_all": 84.3, "rtd_15": 82.4, "mlm": 82.2}
        self.expect(tuple(answer(paper, dict(paper))) == (6, 6), "A ranking agrees with itself on all 6 pairs.")
        reversed_scores = {k: -v for k, v in paper.items()}
        self.expect(tuple(answer(paper, reversed_scores)) == (0, 6), "The reversed ranking agrees on 0 of 6 pairs.")
        partial = {"rtd": 30.0, "mlm": 31.0, "lm": 50.0}
        self.expect(tuple(answer(paper, partial)) == (0, 1), "Only rtd and mlm are in both: 1 pair, and it disagrees.")
        rng = random.Random(0)
        for _ in range(20):
            keys = [f"o{i}" for i in range(6)]
            a = {k: rng.random() for k in keys}
            b = {k: rng.random() for k in keys if rng.random() < 0.8}
            shared = [k for k in a if k in b]
            total = len(shared) * (len(shared) - 1) // 2
            agree = sum((a[x] > a[y]) == (b[x] > b[y]) for i, x in enumerate(shared) for y in shared[i + 1 :])
            self.expect(tuple(answer(a, b)) == (agree, total), f"For {a} and {b} expected {(agree, total)}.")
