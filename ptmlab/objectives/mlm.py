"""Masked language modelling: predict randomly hidden tokens from both sides (survey 3.1.2).

Devlin et al. 2019, BERT: choose 15% of tokens; of those, 80% become [MASK], 10% a random token, 10% stay unchanged.
Masks are drawn anew for every batch (dynamic masking, Liu et al. 2019, RoBERTa) because `corrupt` runs per batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op, special_positions


class MaskedLM(Objective):
    name = "mlm"
    section = "3.1.2"
    paper = "Devlin et al. 2019, BERT"
    idea = "Hide 15% of the tokens and predict them from the context on both sides."

    def __init__(
        self,
        vocab_size: int,
        mask_prob: float = 0.15,
        mask_ratio: float = 0.8,
        random_ratio: float = 0.1,
        mask_id: int = SPECIAL_TOKENS.index("[MASK]"),
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
        predict_all: bool = False,
    ):
        """predict_all: the loss covers every real token, not only the chosen 15% (ELECTRA Table 5's "All-Tokens MLM":
        the input is corrupted as usual, but the model must also reproduce the tokens it was given)."""
        if not 0 < mask_prob < 1 or mask_ratio + random_ratio > 1:
            raise ValueError("mask_prob must be in (0, 1) and mask_ratio + random_ratio <= 1")
        self.predict_all = predict_all
        self.vocab_size, self.mask_prob = vocab_size, mask_prob
        self.mask_ratio, self.random_ratio = mask_ratio, random_ratio
        self.mask_id, self.special_ids = mask_id, special_ids

    def select(self, token_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Which positions to predict: each non-special token independently with probability mask_prob.

        Subclasses (whole-word, span, entity masking) override only this choice."""
        candidates = ~special_positions(token_ids, self.special_ids)
        draw = torch.rand(token_ids.shape, generator=generator, device=token_ids.device)
        return (draw < self.mask_prob) & candidates

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        token_ids = token_ids.long()
        if attention_mask is None:
            attention_mask = (token_ids != 0).long()
        chosen = self.select(token_ids, generator)
        # 80 / 10 / 10: one uniform draw per position decides what a chosen token turns into.
        u = torch.rand(token_ids.shape, generator=generator, device=token_ids.device)
        to_mask = chosen & (u < self.mask_ratio)
        to_random = chosen & (u >= self.mask_ratio) & (u < self.mask_ratio + self.random_ratio)
        n_special = len(self.special_ids)
        random_tokens = torch.randint(
            n_special, self.vocab_size, token_ids.shape, generator=generator, device=token_ids.device
        )
        inputs = torch.where(to_mask, torch.full_like(token_ids, self.mask_id), token_ids)
        inputs = torch.where(to_random, random_tokens, inputs)

        record = torch.full_like(token_ids, int(Op.KEPT))
        record[special_positions(token_ids, self.special_ids)] = int(Op.SPECIAL)
        record[chosen] = int(Op.UNCHANGED)
        record[to_mask] = int(Op.MASKED)
        record[to_random] = int(Op.REPLACED)
        if self.predict_all:  # every real token is a target; the record still shows which ones were corrupted
            real = attention_mask.bool() & ~special_positions(token_ids, self.special_ids)
            record[real & ~chosen] = int(Op.PREDICTED)
            chosen = real
        return Corruption(
            input_ids=inputs,
            targets=token_ids,
            loss_mask=chosen,
            attention_mask=attention_mask,
            record=record,
            original_ids=token_ids,
        )

    def loss(self, model, batch: Corruption) -> LossOutput:
        out = model(batch.input_ids, batch.attention_mask, predict_positions=batch.loss_mask)
        logits = out.extras["logits"]  # [n_predicted, vocab]: only the chosen positions are scored
        targets = batch.targets[batch.loss_mask]
        if targets.numel() == 0:  # a batch where nothing was chosen: a zero loss that still has a graph
            return LossOutput(logits.sum() * 0.0, {"accuracy": float("nan"), "n_predicted": 0})
        loss = F.cross_entropy(logits.float(), targets)
        hits = logits.argmax(-1) == targets
        # Accuracy on the positions the model was shown as [MASK]: the honest one. "accuracy" also counts the 10% kept
        # unchanged (copyable from the input) and, with predict_all, every visible token.
        shown_mask = batch.input_ids[batch.loss_mask] == self.mask_id
        masked = hits[shown_mask].float().mean().item() if shown_mask.any() else float("nan")
        metrics = {"accuracy": hits.float().mean().item(), "masked_accuracy": masked, "n_predicted": targets.numel()}
        return LossOutput(loss, metrics)

    def build_model(self, config):
        from ptmlab.models.heads import MaskedLanguageModel

        return MaskedLanguageModel(config)
