"""Exercises for chapter 08: the RTD loss by hand, ELECTRA's replaced labels, an SOP pair, InfoNCE, negative sampling.

Checked by properties and against ptmlab's reference functions (ELECTRA, Clark et al. 2020; ALBERT, Lan et al. 2020;
InfoNCE, van den Oord et al. 2018; negative sampling, Mikolov et al. 2013)."""

from __future__ import annotations

import math
from typing import Any

import torch

from ptmlab.exercises.base import Exercise


def _random_case(seed: int, n_masked: int = 5, vocab: int = 11, seq: int = 12):
    g = torch.Generator().manual_seed(seed)
    mlm_logits = torch.randn(n_masked, vocab, generator=g)
    mlm_targets = torch.randint(0, vocab, (n_masked,), generator=g)
    disc_logits = torch.randn(seq, generator=g) * 2
    replaced = torch.rand(seq, generator=g) < 0.3
    return mlm_logits, mlm_targets, disc_logits, replaced


class RTDLossByHand(Exercise):
    title = "ELECTRA's loss by hand"
    task = (
        "Write rtd_loss(mlm_logits, mlm_targets, disc_logits, replaced, weight=50.0) -> float. mlm_logits [n, vocab] "
        "are the generator's scores at the n masked positions and mlm_targets [n] the original tokens; disc_logits [T] "
        "are the discriminator's 'replaced?' logits for ALL T tokens and replaced [T] the truth (bool). Return "
        "L_MLM + weight * L_Disc, both means (cross-entropy, and binary cross-entropy with logits)."
    )
    hints = (
        "L_MLM = mean over masked positions of -log softmax(mlm_logits)[target]: torch.nn.functional.cross_entropy.",
        "L_Disc = mean over all T positions of -[y log s(z) + (1 - y) log(1 - s(z))], s = sigmoid; "
        "F.binary_cross_entropy_with_logits(disc_logits, replaced.float()) does it stably.",
        "Check by hand: all-zero logits give L_MLM = log(vocab) and L_Disc = log 2, so the total is log(V) + 50 log 2.",
    )
    solution_code = """import torch.nn.functional as F

def rtd_loss(mlm_logits, mlm_targets, disc_logits, replaced, weight=50.0):
    mlm = F.cross_entropy(mlm_logits, mlm_targets)
    disc = F.binary_cross_entropy_with_logits(disc_logits, replaced.float())
    return float(mlm + weight * disc)"""

    def test(self, answer: Any) -> None:
        from ptmlab.objectives.rtd import discriminator_loss, electra_loss

        vocab, seq = 7, 9
        zero = float(answer(torch.zeros(3, vocab), torch.tensor([0, 3, 6]), torch.zeros(seq), torch.zeros(seq).bool()))
        self.expect_close(zero, math.log(vocab) + 50 * math.log(2), 1e-3, "With all-zero logits the loss")
        for seed in range(3):
            mlm_logits, targets, disc_logits, replaced = _random_case(seed)
            reference = electra_loss(
                torch.nn.functional.cross_entropy(mlm_logits, targets),
                discriminator_loss(disc_logits, replaced, torch.ones_like(replaced)),
            )
            got = float(answer(mlm_logits, targets, disc_logits, replaced))
            self.expect_close(got, float(reference), 1e-3, f"On random case {seed} the loss")
        mlm_logits, targets, disc_logits, replaced = _random_case(7)
        half = float(answer(mlm_logits, targets, disc_logits, replaced, weight=25.0))
        full = float(answer(mlm_logits, targets, disc_logits, replaced, weight=50.0))
        plain = float(answer(mlm_logits, targets, disc_logits, replaced, weight=0.0))
        self.expect_close(full - plain, 2 * (half - plain), 1e-3, "The discriminator term should scale with weight:")


class ReplacedLabels(Exercise):
    title = "Which tokens count as replaced?"
    task = (
        "Write replaced_labels(original, masked, sampled) -> bool tensor [T]. original [T] are the clean token ids, "
        "masked [T] (bool) the positions the generator filled, sampled [n] its samples there (in order). ELECTRA "
        "labels "
        "a token 'replaced' only if the token the discriminator reads differs from the original."
    )
    hints = (
        "Build the discriminator's input: shown = original.clone(); shown[masked] = sampled.",
        "Then compare: shown != original. A sample that happens to equal the original is labelled 'original'.",
    )
    solution_code = """def replaced_labels(original, masked, sampled):
    shown = original.clone()
    shown[masked] = sampled
    return shown != original"""

    def test(self, answer: Any) -> None:
        original = torch.tensor([2, 10, 11, 12, 13, 14, 3])
        masked = torch.tensor([False, True, False, True, True, False, False])
        got = torch.as_tensor(answer(original, masked, torch.tensor([10, 40, 13])))
        self.expect(
            got.dtype == torch.bool and got.shape == original.shape, "Return a bool tensor shaped like original."
        )
        self.expect(not bool(got[1]), "Position 1 was sampled as 10, its original: ELECTRA calls that 'original'.")
        self.expect(bool(got[3]), "Position 3 became 40 instead of 12: that is a replaced token.")
        self.expect(not bool(got[4]), "Position 4 was sampled as 13, its original token: not replaced.")
        self.expect(not bool(got[~masked].any()), "Unmasked positions are never replaced.")


class SOPPair(Exercise):
    title = "Build a sentence-order pair"
    task = (
        "Write sop_pair(a, b, swap, cls_id=2, sep_id=3) -> (ids, segments, label). a and b are lists of token ids of "
        "two consecutive sentences. Without swap: ids = [CLS] a [SEP] b [SEP], label 1; with swap: [CLS] b [SEP] a "
        "[SEP], label 0. segments are 0 for [CLS], the first sentence and its [SEP], and 1 for the rest."
    )
    hints = (
        "if swap: a, b = b, a — then build the same layout either way.",
        "segments = [0] * (len(first) + 2) + [1] * (len(second) + 1).",
    )
    solution_code = """def sop_pair(a, b, swap, cls_id=2, sep_id=3):
    first, second = (b, a) if swap else (a, b)
    ids = [cls_id, *first, sep_id, *second, sep_id]
    segments = [0] * (len(first) + 2) + [1] * (len(second) + 1)
    return ids, segments, 0 if swap else 1"""

    def test(self, answer: Any) -> None:
        a, b = [10, 11, 12], [20, 21]
        ids, segments, label = answer(a, b, False)
        self.expect(
            list(ids) == [2, 10, 11, 12, 3, 20, 21, 3],
            f"In order: expected [2, 10, 11, 12, 3, 20, 21, 3], got {list(ids)}.",
        )
        self.expect(
            list(segments) == [0, 0, 0, 0, 0, 1, 1, 1],
            f"Segments in order should be 0 0 0 0 0 1 1 1, got {list(segments)}.",
        )
        self.expect(int(label) == 1, "A pair in its original order has label 1.")
        ids, segments, label = answer(a, b, True)
        self.expect(
            list(ids) == [2, 20, 21, 3, 10, 11, 12, 3],
            f"Swapped: expected [2, 20, 21, 3, 10, 11, 12, 3], got {list(ids)}.",
        )
        self.expect(list(segments) == [0, 0, 0, 0, 1, 1, 1, 1], "Segments follow the positions, not the sentences.")
        self.expect(int(label) == 0, "A swapped pair has label 0.")
        ids_in, _, _ = answer(a, b, False)
        ids_sw, _, _ = answer(a, b, True)
        self.expect(
            sorted(ids_in) == sorted(ids_sw), "Swapping only reorders: the same tokens, so bag-of-words can't tell."
        )


class InfoNCE(Exercise):
    title = "InfoNCE with in-batch negatives"
    task = (
        "Write info_nce(queries, keys, temperature) -> float: cosine similarities of every query [n, d] with every key "
        "[n, d], divided by temperature; row i's positive is key i and the other n - 1 keys are its negatives; return "
        "the mean cross-entropy."
    )
    hints = (
        "Normalise both: q = F.normalize(queries, dim=-1), k = F.normalize(keys, dim=-1); logits = q @ k.T / t.",
        "The targets are 0, 1, ..., n-1 (the diagonal): F.cross_entropy(logits, torch.arange(n)).",
        "Sanity checks: identical keys give log(n) whatever the queries; perfectly matched pairs at a low temperature "
        "give nearly 0.",
    )
    solution_code = """import torch, torch.nn.functional as F

def info_nce(queries, keys, temperature):
    q, k = F.normalize(queries, dim=-1), F.normalize(keys, dim=-1)
    logits = q @ k.T / temperature
    return float(F.cross_entropy(logits, torch.arange(len(q))))"""

    def test(self, answer: Any) -> None:
        from ptmlab.objectives.contrastive import info_nce_loss

        n = 6
        same = torch.ones(n, 4)
        self.expect_close(float(answer(torch.randn(n, 4), same, 0.1)), math.log(n), 1e-3,
                          "With identical keys (nothing to tell apart) the loss")  # fmt: skip
        eye = torch.eye(n)
        self.expect(float(answer(eye, eye, 0.01)) < 1e-3, "Matched orthogonal pairs at t = 0.01 should give ~0 loss.")
        self.expect_close(float(answer(torch.eye(2), torch.eye(2), 1.0)), math.log(1 + math.exp(-1)), 1e-3,
                          "For q = k = I (2 x 2), t = 1, the loss is log(1 + e^-1)")  # fmt: skip
        g = torch.Generator().manual_seed(0)
        q, k = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
        self.expect_close(float(answer(q, k, 0.5)), float(info_nce_loss(q, k, 0.5)[0]), 1e-3, "On random vectors")


class NegativeSampling(Exercise):
    title = "word2vec's negative sampling"
    task = (
        "Write sgns_loss(center, positive, negatives) -> float: center and positive are [d] vectors, negatives [k, d]. "
        "Return -log s(positive . center) - sum_k log s(-negative_k . center), s = sigmoid."
    )
    hints = (
        "torch.nn.functional.logsigmoid(x) is log s(x), computed stably.",
        "All-zero vectors: every score is 0 and s(0) = 1/2, so the loss is (1 + k) log 2.",
    )
    solution_code = """import torch.nn.functional as F

def sgns_loss(center, positive, negatives):
    return float(-F.logsigmoid(positive @ center) - F.logsigmoid(-(negatives @ center)).sum())"""

    def test(self, answer: Any) -> None:
        from ptmlab.objectives.contrastive import negative_sampling_loss

        k, d = 5, 3
        zero = float(answer(torch.zeros(d), torch.zeros(d), torch.zeros(k, d)))
        self.expect_close(zero, (1 + k) * math.log(2), 1e-4, "With all-zero vectors the loss")
        c, p = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0])
        negatives = torch.tensor([[-1.0, 0.0]])
        by_hand = -math.log(1 / (1 + math.exp(-2))) - math.log(1 / (1 + math.exp(-1)))
        self.expect_close(float(answer(c, p, negatives)), by_hand, 1e-4, "For c=(1,0), o=(2,0), one negative (-1,0)")
        g = torch.Generator().manual_seed(1)
        c, p, n = torch.randn(d, generator=g), torch.randn(d, generator=g), torch.randn(k, d, generator=g)
        self.expect_close(float(answer(c, p, n)), float(negative_sampling_loss(c, p, n)), 1e-4, "On random vectors")
