"""Causal (left-to-right) language modelling: predict every token from the tokens before it (survey 3.1.1).

Radford et al. 2018 (GPT): maximise sum_t log p(x_t | x_<t) with a Transformer whose attention is masked to the past.
Nothing is corrupted: the targets are the inputs shifted by one, and every real token is a prediction target."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.errors import InputError
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op, special_positions

PAD_ID, CLS_ID, SEP_ID, MASK_ID = (SPECIAL_TOKENS.index(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]"))


def next_token_targets(
    token_ids: torch.Tensor, attention_mask: torch.Tensor, never_predicted: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets, loss_mask): position t predicts token t + 1, wherever that token is real and may be predicted.

    The last position has nothing to predict; [PAD], [CLS] and [MASK] are never targets. [SEP] is: a model that
    predicts the end of a sentence knows when to stop sampling."""
    targets = torch.full_like(token_ids, PAD_ID)
    targets[:, :-1] = token_ids[:, 1:]
    loss_mask = torch.zeros_like(token_ids, dtype=torch.bool)
    predictable = attention_mask[:, 1:].bool() & ~special_positions(token_ids[:, 1:], never_predicted)
    loss_mask[:, :-1] = predictable
    return targets, loss_mask


class CausalLM(Objective):
    """GPT's objective. `corrupt` is pure (it draws nothing, so every seed gives the same batch); `loss` is the mean
    cross-entropy of every predicted next token under a model whose extras["logits"] are [batch, seq, vocab]."""

    name = "lm"
    section = "3.1.1"
    paper = "Radford et al. 2018, GPT"
    idea = "Read left to right and predict each next token; a causal mask hides the future from every position."

    def __init__(
        self,
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
        never_predicted: tuple[int, ...] = (PAD_ID, CLS_ID, MASK_ID),
        pad_id: int = PAD_ID,
    ):
        self.special_ids, self.never_predicted, self.pad_id = special_ids, never_predicted, pad_id

    def corrupt(
        self,
        token_ids: torch.Tensor,
        generator: torch.Generator | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> Corruption:
        """Pure and deterministic (the generator is unused): the input is the text itself, the targets are shifted."""
        token_ids = token_ids.long()
        if attention_mask is None:
            attention_mask = (token_ids != self.pad_id).long()
        targets, loss_mask = next_token_targets(token_ids, attention_mask, self.never_predicted)
        # The record is aligned with the original tokens: token t is PREDICTED when position t - 1 predicts it.
        record = torch.full_like(token_ids, int(Op.KEPT))
        record[special_positions(token_ids, self.special_ids)] = int(Op.SPECIAL)
        record[:, 1:][loss_mask[:, :-1]] = int(Op.PREDICTED)
        return Corruption(
            input_ids=token_ids,
            targets=targets,
            loss_mask=loss_mask,
            attention_mask=attention_mask,
            record=record,
            original_ids=token_ids,
        )

    def loss(self, model: torch.nn.Module, batch: Corruption) -> LossOutput:
        out = model(batch.input_ids, batch.attention_mask)
        logits = out.extras["logits"][batch.loss_mask]  # [n_predicted, vocab]
        targets = batch.targets[batch.loss_mask]
        if targets.numel() == 0:
            return LossOutput(
                logits.sum() * 0.0, {"accuracy": float("nan"), "perplexity": float("nan"), "n_predicted": 0}
            )
        loss = F.cross_entropy(logits.float(), targets)
        accuracy = (logits.argmax(-1) == targets).float().mean().item()
        return LossOutput(
            loss, {"accuracy": accuracy, "perplexity": math.exp(min(loss.item(), 50.0)), "n_predicted": targets.numel()}
        )

    def build_model(self, config):
        from ptmlab.models.heads import CausalLanguageModel

        return CausalLanguageModel(config)


def check_blocks(blocks: torch.Tensor) -> None:
    """Held-out text for perplexity must be token ids shaped [n, seq] with n > 0."""
    if blocks.dim() != 2 or len(blocks) == 0:
        raise InputError(
            f"Expected blocks shaped [n, seq] with n > 0, got {tuple(blocks.shape)}.",
            fix="Pack held-out text with ptmlab.data.batching.pack_sentences.",
        )


@torch.no_grad()
def perplexity(model: torch.nn.Module, blocks: torch.Tensor, batch_size: int = 32) -> float:
    """exp(mean negative log-likelihood per predicted token) of a causal LM over held-out blocks [n, seq].

    Token-weighted over the whole set (not a mean of per-batch perplexities). A model that guesses uniformly over V
    tokens scores V; lower is better. Perplexities compare only between models that share a tokenizer."""
    check_blocks(blocks)
    if not getattr(getattr(model, "config", None), "causal", False):
        raise InputError(
            "Perplexity needs a left-to-right model: a bidirectional one sees the token it is asked to predict.",
            fix="Pass a CausalLanguageModel (for an ELMo-style BiLM use ptmlab.objectives.bilm.bilm_perplexities).",
        )
    objective = CausalLM()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = objective.corrupt(blocks[start : start + batch_size]).to(device)
        logits = model(batch.input_ids, batch.attention_mask).extras["logits"][batch.loss_mask]
        total_nll += F.cross_entropy(logits.float(), batch.targets[batch.loss_mask], reduction="sum").item()
        total_tokens += batch.n_predicted
    model.train(was_training)
    return math.exp(total_nll / max(1, total_tokens))
