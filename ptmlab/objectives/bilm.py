"""Bidirectional language modelling (ELMo): a forward and a backward LM trained together (survey 3.1.1).

Peters et al. 2018: maximise sum_t [log p(x_t | x_<t) + log p(x_t | x_>t)], with separate LSTMs per direction but shared
token embeddings and softmax. Each direction alone is a plain LM; neither sees both sides of a token at once."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ptmlab.objectives.base import Corruption, LossOutput, Op, special_positions
from ptmlab.objectives.lm import PAD_ID, CausalLM, check_blocks


class BiLM(CausalLM):
    """The causal LM's forward targets (inherited), plus the mirror image: position t also predicts token t - 1."""

    name = "bilm"
    paper = "Peters et al. 2018, ELMo"
    idea = "Train a left-to-right and a right-to-left LM side by side; downstream, mix their layers."

    def corrupt(
        self,
        token_ids: torch.Tensor,
        generator: torch.Generator | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> Corruption:
        """Forward targets (token t + 1) in `targets` / `loss_mask`, exactly as CausalLM; backward targets (token
        t - 1) in extra["backward_targets"] / extra["backward_mask"]. Deterministic: nothing is corrupted."""
        batch = super().corrupt(token_ids, generator, attention_mask)
        ids, real = batch.input_ids, batch.attention_mask.bool()
        backward_targets = torch.full_like(ids, PAD_ID)
        backward_targets[:, 1:] = ids[:, :-1]
        backward_mask = torch.zeros_like(batch.loss_mask)
        # position t (itself real) predicts token t - 1 when that token is real and may be predicted ([CLS] may not)
        backward_mask[:, 1:] = real[:, :-1] & real[:, 1:] & ~special_positions(ids[:, :-1], self.never_predicted)
        # The record marks a token PREDICTED when either direction predicts it; CausalLM already marked the forward ones.
        batch.record[:, :-1][backward_mask[:, 1:]] = int(Op.PREDICTED)
        batch.extra = {"backward_targets": backward_targets, "backward_mask": backward_mask}
        return batch

    def loss(self, model: torch.nn.Module, batch: Corruption) -> LossOutput:
        forward_nll, backward_nll, n_forward, n_backward = _direction_nlls(model, batch, reduction="mean")
        if n_forward == 0 or n_backward == 0:
            zero = forward_nll * 0.0 + backward_nll * 0.0
            return LossOutput(zero, {"forward_perplexity": float("nan"), "backward_perplexity": float("nan")})
        loss = (forward_nll + backward_nll) / 2  # the two log-likelihoods, jointly maximised (Peters et al. Eq. 2)
        return LossOutput(
            loss,
            {
                "forward_perplexity": math.exp(min(forward_nll.item(), 50.0)),
                "backward_perplexity": math.exp(min(backward_nll.item(), 50.0)),
                "perplexity": math.exp(min(loss.item(), 50.0)),
                "n_predicted": n_forward + n_backward,
            },
        )

    def build_model(self, config):
        """A BiLanguageModel from a BiLMConfig (or any config with vocab_size, max_len, d_model, n_layers, dropout)."""
        from ptmlab.models.bilm import BiLanguageModel, BiLMConfig

        if not isinstance(config, BiLMConfig):
            keys = ("vocab_size", "max_len", "d_model", "n_layers", "dropout", "pad_id")
            config = BiLMConfig(**{k: getattr(config, k) for k in keys if hasattr(config, k)})
        return BiLanguageModel(config)


def _direction_nlls(model, batch: Corruption, reduction: str) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Negative log-likelihood of the forward and of the backward targets (mean or sum), and how many of each."""
    backward_mask = batch.extra["backward_mask"]
    out = model(
        batch.input_ids, batch.attention_mask, forward_positions=batch.loss_mask, backward_positions=backward_mask
    )
    forward_targets = batch.targets[batch.loss_mask]
    backward_targets = batch.extra["backward_targets"][backward_mask]
    nlls = [
        F.cross_entropy(logits.float(), targets, reduction=reduction) if targets.numel() else logits.sum() * 0.0
        for logits, targets in (
            (out.extras["forward_logits"], forward_targets),
            (out.extras["backward_logits"], backward_targets),
        )
    ]
    return nlls[0], nlls[1], forward_targets.numel(), backward_targets.numel()


@torch.no_grad()
def bilm_perplexities(model: torch.nn.Module, blocks: torch.Tensor, batch_size: int = 32) -> tuple[float, float]:
    """(forward, backward) perplexity of a BiLanguageModel over held-out blocks [n, seq], token-weighted."""
    check_blocks(blocks)
    objective = BiLM()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll, counts = [0.0, 0.0], [0, 0]
    for start in range(0, len(blocks), batch_size):
        batch = objective.corrupt(blocks[start : start + batch_size]).to(device)
        forward_nll, backward_nll, n_forward, n_backward = _direction_nlls(model, batch, reduction="sum")
        nll = [nll[0] + forward_nll.item(), nll[1] + backward_nll.item()]
        counts = [counts[0] + n_forward, counts[1] + n_backward]
    model.train(was_training)
    return math.exp(nll[0] / max(1, counts[0])), math.exp(nll[1] / max(1, counts[1]))
