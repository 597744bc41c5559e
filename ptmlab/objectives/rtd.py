"""Replaced-token detection: a small generator fills masked slots, a discriminator finds the replaced tokens everywhere.

Clark et al. 2020, ELECTRA (ICLR), Section 3.1: loss = L_MLM(generator) + lambda * L_Disc(discriminator), lambda 50;
the discriminator learns from every input token, not only the 15% an MLM predicts. Survey Qiu et al. 2020, 3.1.5."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.errors import InputError
from ptmlab.objectives.base import Corruption, LossOutput, Objective
from ptmlab.objectives.mlm import MaskedLM

DISCRIMINATOR_WEIGHT = 50.0  # ELECTRA's lambda: the discriminator's loss is per token and much smaller than the MLM's


def sample_replacements(
    logits: torch.Tensor, uniform: torch.Tensor, banned_ids: tuple[int, ...] = (), temperature: float = 1.0
) -> torch.Tensor:
    """Draw one token per row of `logits` [n, vocab] by inverse-CDF sampling with the given uniform numbers [n].

    Taking the uniforms from `corrupt()` keeps the whole step a function of the seed. `banned_ids` (the special tokens)
    are never drawn, so a [PAD] or [CLS] never appears in the middle of a sentence."""
    if logits.shape[0] != uniform.shape[0]:
        raise InputError("One uniform number is needed per row of logits.", fix="Pass uniform[loss_mask].")
    scores = logits.detach().float() / temperature
    if banned_ids:
        scores[:, list(banned_ids)] = float("-inf")
    cdf = scores.softmax(-1).cumsum(-1)
    cdf = cdf / cdf[:, -1:]  # guard against rounding: the last entry is exactly 1
    picked = torch.searchsorted(cdf, uniform.to(cdf.dtype).unsqueeze(-1).clamp(0, 1 - 1e-7)).squeeze(-1)
    return picked.clamp_max(logits.shape[-1] - 1)


def discriminator_loss(replaced_logits: torch.Tensor, replaced: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of "was this token replaced?" over the real (non-padding) positions."""
    return F.binary_cross_entropy_with_logits(replaced_logits[positions].float(), replaced[positions].float())


def electra_loss(mlm_loss: torch.Tensor, disc_loss: torch.Tensor, weight: float = DISCRIMINATOR_WEIGHT) -> torch.Tensor:
    """ELECTRA's combined objective: L_MLM + lambda * L_Disc."""
    return mlm_loss + weight * disc_loss


class ReplacedTokenDetection(Objective):
    name = "rtd"
    section = "3.1.5"
    paper = "Clark et al. 2020, ELECTRA"
    idea = (
        "A small MLM generator fills 15% masked slots with plausible tokens; the discriminator says, for every token, "
        "whether it is original or replaced."
    )

    def __init__(
        self,
        vocab_size: int,
        mask_prob: float = 0.15,
        discriminator_weight: float = DISCRIMINATOR_WEIGHT,
        generator_fraction: float = 0.25,
        temperature: float = 1.0,
        mask_id: int = SPECIAL_TOKENS.index("[MASK]"),
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
        discriminate: str = "all",
    ):
        """discriminate: "all" (ELECTRA) scores the discriminator on every token; "masked" only on the 15% the generator
        filled (ELECTRA Table 5's "ELECTRA 15%", the ablation that shows how much the all-token loss is worth)."""
        if discriminate not in ("all", "masked"):
            raise InputError(f"discriminate={discriminate!r}.", fix="Use 'all' (ELECTRA) or 'masked' (ELECTRA 15%).")
        self.discriminate = discriminate
        if discriminator_weight < 0 or temperature <= 0:
            raise InputError("discriminator_weight must be >= 0 and temperature > 0.", fix="Use ELECTRA's 50 and 1.0.")
        # The generator's input: every chosen token becomes [MASK] (ELECTRA Section 3.1), no 80/10/10.
        self.masker = MaskedLM(vocab_size, mask_prob, 1.0, 0.0, mask_id, special_ids)
        self.vocab_size, self.mask_prob = vocab_size, mask_prob
        self.discriminator_weight, self.generator_fraction = discriminator_weight, generator_fraction
        self.temperature, self.special_ids = temperature, special_ids

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        """Mask 15% for the generator, and draw the uniform numbers its samples will use (so `loss` is seeded too).

        The record marks what the generator sees ([MASK]); which of those slots end up replaced is decided in `loss`,
        by the generator's own samples, and is shown by `ptmlab.widgets.contrastive`."""
        batch = self.masker.corrupt(token_ids, generator, attention_mask)
        batch.extra["sample_uniform"] = torch.rand(token_ids.shape, generator=generator, device=token_ids.device)
        return batch

    def generate(self, model, batch: Corruption) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the generator: returns (its logits at the masked positions, the discriminator's input, replaced mask).

        Sampling is discrete and done without gradient: the discriminator's loss does not flow into the generator
        (ELECTRA trains the generator by maximum likelihood, not adversarially)."""
        logits = model.generator_logits(batch.input_ids, batch.attention_mask, batch.loss_mask)
        with torch.no_grad():
            sampled = sample_replacements(
                logits, batch.extra["sample_uniform"][batch.loss_mask], self.special_ids, self.temperature
            )
            discriminator_input = batch.original_ids.clone()
            discriminator_input[batch.loss_mask] = sampled
            # A sample equal to the original counts as original (ELECTRA's labels), so "replaced" means "changed".
            replaced = discriminator_input != batch.original_ids
        return logits, discriminator_input, replaced

    def loss(self, model, batch: Corruption) -> LossOutput:
        logits, discriminator_input, replaced = self.generate(model, batch)
        targets = batch.targets[batch.loss_mask]
        if targets.numel():
            mlm_loss = F.cross_entropy(logits.float(), targets)
            gen_accuracy = (logits.argmax(-1) == targets).float().mean().item()
        else:  # nothing masked in this batch: the discriminator still learns ("nothing was replaced")
            mlm_loss, gen_accuracy = logits.sum() * 0.0, float("nan")
        out = model(discriminator_input, batch.attention_mask)
        replaced_logits = out.extras["replaced_logits"]
        positions = batch.attention_mask.bool()
        if self.discriminate == "masked":
            positions = positions & batch.loss_mask
        if positions.any():
            disc_loss = discriminator_loss(replaced_logits, replaced, positions)
        else:  # ELECTRA 15% on a batch where nothing was masked: a zero loss that still has a graph
            disc_loss = replaced_logits.sum() * 0.0
        with torch.no_grad():
            guess = replaced_logits[positions] > 0
            truth = replaced[positions]
            n_replaced = int(truth.sum())
            metrics = {
                "mlm_loss": mlm_loss.item(),
                "disc_loss": disc_loss.item(),
                "gen_accuracy": gen_accuracy,
                "disc_accuracy": (guess == truth).float().mean().item(),
                "replaced_recall": (guess & truth).sum().item() / n_replaced if n_replaced else float("nan"),
                "replaced_fraction": n_replaced / max(1, truth.numel()),
            }
        return LossOutput(electra_loss(mlm_loss, disc_loss, self.discriminator_weight), metrics)

    def build_model(self, config):
        from ptmlab.models.electra import ElectraModel, electra_config

        return ElectraModel(electra_config(config, self.generator_fraction))


# ============================================================================ compute: FLOPs of one training step
def encoder_flops_per_token(d_model: int, d_ff: int, n_layers: int, seq_len: int) -> float:
    """Forward FLOPs per token of a Transformer body: weight matmuls (2 per multiply-add) + attention scores/values."""
    weights = 2 * (4 * d_model * d_model + 2 * d_model * d_ff) * n_layers  # qkv + output projection, the MLP
    attention = 2 * 2 * seq_len * d_model * n_layers  # q.k over seq_len keys, then the weighted sum of values
    return float(weights + attention)


def training_step_flops(
    kind: str, config, batch_size: int, seq_len: int, mask_prob: float = 0.15, generator_fraction: float = 0.25
) -> float:
    """Estimated FLOPs of one training step (forward + backward = 3x forward, Kaplan et al. 2020's rule).

    kind "mlm": the body on every token plus the MLM head on the masked 15%. kind "rtd": the discriminator body and its
    one-logit head on every token, plus the generator's narrow body on every token and its MLM head on the masked 15%.
    Embedding lookups, layer norms and softmaxes are left out (small at these sizes)."""
    d, vocab = config.d_model, config.vocab_size
    tokens = batch_size * seq_len
    predicted = mask_prob * tokens
    body = encoder_flops_per_token(d, config.d_ff, config.n_layers, seq_len) * tokens
    mlm_head = 2 * (d * d + d * vocab) * predicted
    if kind == "mlm":
        return 3 * (body + mlm_head)
    if kind == "rtd":
        from ptmlab.models.electra import electra_config

        small = electra_config(config, generator_fraction).generator_config()
        g = small.d_model
        generator_body = (encoder_flops_per_token(g, small.d_ff, small.n_layers, seq_len) + 2 * d * g) * tokens
        generator_head = 2 * (g * d + d * vocab) * predicted
        discriminator_head = 2 * (d * d + d) * tokens
        return 3 * (body + discriminator_head + generator_body + generator_head)
    raise InputError(f"Unknown kind {kind!r}.", fix="Use 'mlm' or 'rtd'.")
