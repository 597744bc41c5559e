"""Exercises for chapter 00: the masking step at the heart of BERT's MLM (Devlin et al. 2019).

Checked by properties (rate within a tolerance, specials untouched), so any correct random answer passes."""

from __future__ import annotations

from ptmlab.exercises.base import Exercise


class MaskFifteenPercent(Exercise):
    title = "Exercise 0.1: mask 15% of the tokens"
    task = ("Write `mask_tokens(ids, mask_id=4, special_ids=(0, 1, 2, 3, 4), p=0.15, generator=None)` that takes a "
            "LongTensor [batch, seq] and returns (masked_ids, chosen): each non-special token is chosen with probability "
            "p and replaced by mask_id; special tokens are never chosen. `chosen` is a bool tensor of the same shape.")
    hints = (
        "torch.rand(ids.shape, generator=generator) < p gives a bool tensor that is True about p of the time.",
        "torch.isin(ids, torch.tensor(special_ids)) marks the special tokens; combine with & ~special.",
        "torch.where(chosen, torch.full_like(ids, mask_id), ids) builds the masked ids.",
    )
    solution_code = """def mask_tokens(ids, mask_id=4, special_ids=(0, 1, 2, 3, 4), p=0.15, generator=None):
    special = torch.isin(ids, torch.tensor(special_ids))
    chosen = (torch.rand(ids.shape, generator=generator) < p) & ~special
    return torch.where(chosen, torch.full_like(ids, mask_id), ids), chosen"""

    def test(self, answer) -> None:
        import torch

        g = torch.Generator().manual_seed(0)
        ids = torch.randint(5, 500, (64, 128), generator=g)
        ids[:, 0], ids[:, -1], ids[:8, 100:] = 2, 3, 0  # [CLS], [SEP] and some padding
        result = answer(ids.clone())
        self.expect(isinstance(result, tuple) and len(result) == 2, "return a pair (masked_ids, chosen).")
        masked, chosen = result
        self.expect(masked.shape == ids.shape and chosen.shape == ids.shape, "both outputs must have the input's shape.")
        self.expect(chosen.dtype == torch.bool, "`chosen` should be a bool tensor (use a comparison like < p).")
        special = torch.isin(ids, torch.tensor([0, 1, 2, 3, 4]))
        self.expect(not chosen[special].any(), "a special token ([CLS], [SEP] or [PAD]) was chosen: exclude them.")
        self.expect(bool((masked[chosen] == 4).all()), "every chosen position must hold mask_id (4) in masked_ids.")
        self.expect(bool((masked[~chosen] == ids[~chosen]).all()), "positions not chosen must keep their token.")
        rate = chosen.sum().item() / (~special).sum().item()
        self.expect_close(rate, 0.15, 0.01, "the share of non-special tokens you masked")
