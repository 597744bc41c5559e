"""Exercises for chapter 07: build XLNet's query-stream and content-stream masks, pick the predicted tokens, and find
the factorization order that turns the permuted LM back into GPT's left-to-right LM.

Checked by properties against ptmlab.objectives.plm.masks_for_order (Yang et al. 2019, Section 2.3) on random orders."""

from __future__ import annotations

import random
from typing import Any

import torch

from ptmlab.exercises.base import Exercise, ExerciseFailed
from ptmlab.objectives.plm import masks_for_order


def _orders(n_orders: int = 8, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    orders = [[0], [1, 0], list(range(5)), list(range(5))[::-1]]
    for _ in range(n_orders):
        order = list(range(rng.randint(2, 9)))
        rng.shuffle(order)
        orders.append(order)
    return orders


def _as_bool(answer: Any, T: int, what: str) -> torch.Tensor:
    mask = torch.as_tensor(answer)
    if tuple(mask.shape) != (T, T):
        raise ExerciseFailed(f"{what} should be a [{T}, {T}] tensor for {T} tokens; got shape {tuple(mask.shape)}.")
    return mask.bool()


class QueryMask(Exercise):
    title = "The query-stream mask"
    task = (
        "Write query_mask(order) -> a [T, T] bool tensor: order is a list with a permutation of 0..T-1 (order[t] is "
        "the position predicted t-th). Entry [i, j] is True when the query stream of position i may read token j, "
        "i.e. when j comes strictly before i in the order."
    )
    hints = (
        "First compute each position's step in the order: rank[order[t]] = t.",
        "Then [i, j] is rank[j] < rank[i]. With tensors: rank[None, :] < rank[:, None].",
    )
    solution_code = """import torch

def query_mask(order):
    order = torch.as_tensor(order)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    return rank[None, :] < rank[:, None]"""

    def test(self, answer: Any) -> None:
        for order in _orders():
            T = len(order)
            reference = masks_for_order(order).query
            got = _as_bool(answer(list(order)), T, "The mask")
            self.expect(
                not got.diagonal().any(),
                f"For order {order}: the diagonal must be False: g_i may not read its own token x_i "
                "(that is the content stream's privilege).",
            )
            self.expect(
                not got[order[0]].any(),
                f"For order {order}: position {order[0]} comes first in the order, so its query row must be empty.",
            )
            if T > 1:
                self.expect(
                    int(got[order[-1]].sum()) == T - 1,
                    f"For order {order}: position {order[-1]} comes last, so it reads every other token.",
                )
            self.expect(
                torch.equal(got, reference),
                f"For order {order} some entries differ from 'j comes before i in the order' "
                f"(rows are i, the reader; columns are j, the token read).",
            )


class ContentMask(Exercise):
    title = "The content-stream mask"
    task = (
        "Write content_mask(query) -> [T, T] bool: given the query-stream mask of an order, return the content-stream "
        "mask (h_i reads the tokens before i in the order AND its own token)."
    )
    hints = ("The two streams differ only on the diagonal.", "query | torch.eye(T, dtype=torch.bool)")
    solution_code = """import torch

def content_mask(query):
    return query | torch.eye(query.shape[0], dtype=torch.bool)"""

    def test(self, answer: Any) -> None:
        for order in _orders():
            masks = masks_for_order(order)
            got = _as_bool(answer(masks.query.clone()), len(order), "The content mask")
            self.expect(got.diagonal().all(), f"For order {order}: h_i must read its own token (the diagonal).")
            self.expect(
                torch.equal(got, masks.content),
                f"For order {order}: off the diagonal the content mask equals the query mask.",
            )


class PredictedPositions(Exercise):
    title = "Partial prediction"
    task = (
        "Write predicted_positions(order, k) -> list of positions: XLNet predicts only the last 1/K of the order. "
        "Return the last max(1, round(T / k)) positions of `order` (T = len(order)), in the order they are predicted."
    )
    hints = ("n = max(1, round(len(order) / k)); the answer is a slice of order.",)
    solution_code = """def predicted_positions(order, k):
    n = max(1, round(len(order) / k))
    return list(order[len(order) - n:])"""

    def test(self, answer: Any) -> None:
        for order in _orders(seed=1):
            for k in (1.0, 2.0, 6.0, 7.0):
                n = max(1, round(len(order) / k))
                expected = masks_for_order(order, n)
                got = [int(p) for p in answer(list(order), k)]
                self.expect(len(got) == n, f"For T = {len(order)} and K = {k}: predict {n} tokens, not {len(got)}.")
                self.expect(
                    all(bool(expected.predicted[p]) for p in got),
                    f"For order {order} and K = {k}: the predicted tokens are the LAST {n} of the order "
                    f"({order[len(order) - n :]}), each predicted from everything before it.",
                )


class OrderForCausalLM(Exercise):
    title = "PLM contains the causal LM"
    task = (
        "For a sentence of 6 tokens, give the factorization order (a list) under which the query-stream mask is "
        "exactly GPT's causal mask (each token reads only the tokens to its left)."
    )
    hints = ("GPT predicts the tokens left to right.",)
    solution_code = "order = [0, 1, 2, 3, 4, 5]  # the identity: PLM averages over all orders, this is one of them"

    def test(self, answer: Any) -> None:
        order = [int(p) for p in answer]
        self.expect(sorted(order) == list(range(6)), "Give each of the positions 0..5 exactly once.")
        causal = torch.ones(6, 6, dtype=torch.bool).tril(-1)
        self.expect(
            torch.equal(masks_for_order(order).query, causal),
            "Under that order some token reads a token to its right (or misses one to its left).",
        )
