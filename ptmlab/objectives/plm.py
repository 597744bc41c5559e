"""Permuted language modelling: predict tokens autoregressively along a random factorization order (survey 3.1.3).

Yang et al. 2019, XLNet: sample an order z of the positions, predict x_{z_t} from x_{z_<t} with two-stream attention, and
(partial prediction) only for the last 1/K of the order. Nothing in the input is hidden: the masks do the hiding."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.errors import InputError
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op, special_positions

PAD_ID = SPECIAL_TOKENS.index("[PAD]")


@dataclass
class PermutationMasks:
    """The masks of one factorization order over T positions (row i = the token being computed, column j = a token
    it may read). order[t] is the position predicted t-th; rank[i] is where position i sits in the order."""

    order: torch.Tensor  # [T] long
    rank: torch.Tensor  # [T] long
    content: torch.Tensor  # [T, T] bool: j at or before i in the order (h_i sees its own token)
    query: torch.Tensor  # [T, T] bool: j strictly before i (g_i does not see its own token)
    predicted: torch.Tensor  # [T] bool: the last n_predict positions of the order


def ranks_from_orders(order: torch.Tensor) -> torch.Tensor:
    """rank[..., order[..., t]] = t: the inverse permutation, for [T] or [B, T] orders."""
    rank = torch.empty_like(order)
    steps = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    return rank.scatter_(-1, order, steps)


def masks_for_order(order, n_predict: int = 0) -> PermutationMasks:
    """Content and query masks of one factorization order (a permutation of 0..T-1, as a list or tensor).

    A pure function for the heatmap view and the exercises; `PermutedLM.corrupt` builds the same masks per batch."""
    order = torch.as_tensor(order, dtype=torch.long)
    T = order.numel()
    if order.dim() != 1 or T == 0 or not torch.equal(order.sort().values, torch.arange(T)):
        raise InputError(
            f"{order.tolist()} is not a permutation of 0..{T - 1}.",
            fix="Give every position exactly once, e.g. [2, 0, 3, 1] for four tokens.",
        )
    if not 0 <= n_predict <= T:
        raise InputError(f"n_predict={n_predict} is outside 0..{T}.", fix="Predict at most every token.")
    rank = ranks_from_orders(order)
    query = rank[None, :] < rank[:, None]
    content = query | torch.eye(T, dtype=torch.bool)
    predicted = rank >= T - n_predict
    return PermutationMasks(order, rank, content, query, predicted)


def sample_orders(attention_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[B, T] factorization orders: a uniformly random permutation of each row's real positions, padding last."""
    keys = torch.rand(attention_mask.shape, generator=generator, device=attention_mask.device)
    keys = keys.masked_fill(~attention_mask.bool(), 2.0)  # padding sorts after every real token
    return keys.argsort(dim=-1)


def permutation_masks(
    rank: torch.Tensor, attention_mask: torch.Tensor, context: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(content, query) masks [B, T, T] from ranks [B, T]: i may read j when j comes earlier in the order; the content
    mask adds the diagonal. Padding is never read.

    `context` [B, T] bool (optional) marks tokens that are not predicted; as in XLNet's released code they move to the
    front of the order together (rank -1): every token reads all of them, and they read no predicted token (else a
    target could see itself through a context token). The order among them does not matter for log p(x_{z>c} | x_{z<=c}).
    """
    real = attention_mask.bool()[:, None, :]
    eye = torch.eye(rank.shape[1], dtype=torch.bool, device=rank.device)
    if context is not None:
        rank = torch.where(context.bool(), torch.full_like(rank, -1), rank)
    earlier = rank[:, None, :] < rank[:, :, None]
    if context is not None:
        earlier = earlier | (context.bool()[:, None, :] & ~eye)
    query = earlier & real
    return query | eye, query


def n_to_predict(n_candidates: torch.Tensor, k: float) -> torch.Tensor:
    """Partial prediction: round(n / K) tokens per sequence, at least one when there is any candidate."""
    n = torch.round(n_candidates.float() / k).long()
    return torch.where(n_candidates > 0, n.clamp(min=1), torch.zeros_like(n))


class PermutedLM(Objective):
    name = "plm"
    section = "3.1.3"
    paper = "Yang et al. 2019, XLNet"
    idea = "Sample an order of the positions; predict the last 1/K of it, each from the tokens before it in that order."

    def __init__(
        self,
        k: float = 7.0,
        context_sees_all: bool = False,
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
        pad_id: int = PAD_ID,
    ):
        """k: partial prediction predicts about 1/k of the tokens (XLNet-Base used K = 7; 1 / 0.15 = 6.67 predicts
        as many tokens as BERT's MLM). context_sees_all: the tokens that are not predicted read each other in both
        directions (XLNet's code) instead of only those before them in the order (the paper's equations)."""
        if k < 1:
            raise InputError(f"K={k} must be at least 1 (1 predicts every token).", fix="XLNet used K = 6 or 7.")
        self.k, self.context_sees_all = float(k), context_sees_all
        self.special_ids, self.pad_id = special_ids, pad_id

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        token_ids = token_ids.long()
        if token_ids.dim() != 2:
            raise InputError(
                f"Expected token ids shaped [batch, seq], got {tuple(token_ids.shape)}.", fix="Add a batch dimension."
            )
        if attention_mask is None:
            attention_mask = (token_ids != self.pad_id).long()
        B, T = token_ids.shape
        special = special_positions(token_ids, self.special_ids)
        candidates = attention_mask.bool() & ~special
        order = sample_orders(attention_mask, generator)
        rank = ranks_from_orders(order)

        # Partial prediction: among the candidates, the n with the highest ranks (the end of the order).
        n_predict = n_to_predict(candidates.sum(1), self.k)
        by_rank = torch.where(candidates, rank, torch.full_like(rank, -1)).argsort(dim=1, descending=True)
        chosen_sorted = torch.arange(T, device=token_ids.device)[None, :] < n_predict[:, None]
        predicted = torch.zeros_like(candidates).scatter_(1, by_rank, chosen_sorted)
        context = attention_mask.bool() & ~predicted if self.context_sees_all else None
        content, query = permutation_masks(rank, attention_mask, context)

        # Target mapping [B, P, T]: slot s of row b is its s-th predicted position, left to right, so the slots line up
        # with targets[loss_mask] (row-major); unused slots are all-zero rows.
        P = max(1, int(n_predict.max()))
        position_key = torch.where(predicted, 0, T) + torch.arange(T, device=token_ids.device)
        slots = position_key.argsort(dim=1)[:, :P]
        valid = torch.arange(P, device=token_ids.device)[None, :] < n_predict[:, None]
        target_mapping = F.one_hot(slots, T).float() * valid[..., None]

        record = torch.full_like(token_ids, int(Op.KEPT))
        record[special | ~attention_mask.bool()] = int(Op.SPECIAL)
        record[predicted] = int(Op.PREDICTED)
        return Corruption(
            input_ids=token_ids,  # nothing is masked in the input: the query stream never reads its own token
            targets=token_ids,
            loss_mask=predicted,
            attention_mask=attention_mask,
            record=record,
            original_ids=token_ids,
            extra={
                "order": order,
                "rank": rank,
                "content_mask": content,
                "query_mask": query,
                "target_mapping": target_mapping,
            },
        )

    def loss(self, model, batch: Corruption) -> LossOutput:
        extra = batch.extra
        out = model(
            batch.input_ids,
            batch.attention_mask,
            content_mask=extra["content_mask"],
            query_mask=extra["query_mask"],
            target_mapping=extra["target_mapping"],
        )
        valid = extra["target_mapping"].sum(-1) > 0  # [B, P]
        logits = out.extras["logits"][valid]  # [n_predicted, vocab], in the order of targets[loss_mask]
        targets = batch.targets[batch.loss_mask]
        if targets.numel() == 0:
            return LossOutput(out.extras["logits"].sum() * 0.0, {"accuracy": float("nan"), "n_predicted": 0})
        loss = F.cross_entropy(logits.float(), targets)
        accuracy = (logits.argmax(-1) == targets).float().mean().item()
        return LossOutput(loss, {"accuracy": accuracy, "n_predicted": targets.numel()})

    def build_model(self, config):
        from ptmlab.models.two_stream import TwoStreamLM

        return TwoStreamLM(config)
