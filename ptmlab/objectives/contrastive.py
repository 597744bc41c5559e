"""Contrastive learning by mutual information: InfoNCE between a sentence and its own masked n-gram, and the NCE family.

Kong et al. 2020, InfoWord ("A Mutual Information Maximization Perspective of Language Representation Learning", after
Hjelm et al. 2019's Deep InfoMax): a masked sentence (global) scored against n-grams (local), in-batch negatives;
van den Oord et al. 2018 (InfoNCE); Mikolov et al. 2013, Gutmann & Hyvarinen 2010 (negative sampling, NCE).
Survey Section 3.1.5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS
from ptmlab.errors import InputError
from ptmlab.models.contrastive import ContrastiveEncoder  # noqa: F401  (re-exported)
from ptmlab.models.transformer import EncoderOutput
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op, special_positions


# ============================================================================ the losses, as small pure functions
def info_nce_loss(
    queries: torch.Tensor, keys: torch.Tensor, temperature: float = 0.1, normalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE with in-batch negatives: row i of `queries` [n, d] should pick row i of `keys` [n, d] among all n.

    loss = mean_i -log( exp(s_ii / t) / sum_j exp(s_ij / t) ), s = cosine (normalize=True) or dot product.
    Returns (loss, the [n, n] score matrix / t), whose diagonal holds the positives. log(n) - loss lower-bounds the
    mutual information between the two views (van den Oord et al. 2018)."""
    if queries.shape != keys.shape or queries.dim() != 2:
        raise InputError("queries and keys must both be [n, d] with the same shape.", fix="Pair row i with row i.")
    if temperature <= 0:
        raise InputError(f"temperature={temperature} must be positive.", fix="Use e.g. 0.1.")
    if normalize:
        queries, keys = F.normalize(queries.float(), dim=-1), F.normalize(keys.float(), dim=-1)
    logits = queries.float() @ keys.float().T / temperature
    targets = torch.arange(len(queries), device=queries.device)
    return F.cross_entropy(logits, targets), logits


def negative_sampling_loss(
    center: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    positive_log_noise: torch.Tensor | None = None,
    negative_log_noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """word2vec's negative sampling, or NCE when the noise log-probabilities are given; mean over the batch.

    center, positive: [batch, d]; negatives: [batch, k, d] (k words drawn from the noise distribution q).
    Negative sampling (Mikolov et al. 2013): -log s(u_o . v_c) - sum_k log s(-u_k . v_c), s = sigmoid.
    NCE (Gutmann & Hyvarinen 2010; Mnih & Teh 2012): the same logistic loss on the score minus log(k q(w)), which makes
    the model's exp(score) a self-normalised probability. Negative sampling is NCE with k q(w) = 1 for every word."""
    if center.dim() == 1:
        center, positive, negatives = center[None], positive[None], negatives[None]
    if negatives.dim() != 3 or negatives.shape[0] != center.shape[0] or positive.shape != center.shape:
        raise InputError("Shapes: center and positive [batch, d], negatives [batch, k, d].", fix="Check the shapes.")
    k = negatives.shape[1]
    positive_score = (center * positive).sum(-1)  # [batch]
    negative_scores = torch.einsum("bd,bkd->bk", center, negatives)  # [batch, k]
    if (positive_log_noise is None) != (negative_log_noise is None):
        raise InputError("Give both noise log-probabilities (NCE) or neither (negative sampling).", fix="Pass both.")
    if positive_log_noise is not None:
        positive_score = positive_score - (math.log(k) + positive_log_noise)
        negative_scores = negative_scores - (math.log(k) + negative_log_noise)
    loss = -F.logsigmoid(positive_score) - F.logsigmoid(-negative_scores).sum(-1)
    return loss.mean()


# ============================================================================ the objective
class InfoNCEObjective(Objective):
    """Deep InfoMax for text (InfoWord): a sentence with one n-gram masked must recognise that n-gram among the n-grams
    masked out of the other sentences of the batch (in-batch negatives, temperature t)."""

    name = "infonce"
    section = "3.1.5"
    paper = "Kong et al. 2020, InfoWord (Deep InfoMax, Hjelm et al. 2019; InfoNCE, van den Oord et al. 2018)"
    idea = "Mask an n-gram; the masked sentence's vector must pick out that n-gram's vector among the batch's n-grams."

    def __init__(
        self,
        vocab_size: int,
        min_n: int = 2,
        max_n: int = 4,
        temperature: float = 0.1,
        mlm_weight: float = 0.0,
        mask_id: int = SPECIAL_TOKENS.index("[MASK]"),
        cls_id: int = SPECIAL_TOKENS.index("[CLS]"),
        sep_id: int = SPECIAL_TOKENS.index("[SEP]"),
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
    ):
        if not 1 <= min_n <= max_n:
            raise InputError(f"Need 1 <= min_n <= max_n, got {min_n}, {max_n}.", fix="Use e.g. min_n=2, max_n=4.")
        if temperature <= 0 or mlm_weight < 0:
            raise InputError("temperature must be > 0 and mlm_weight >= 0.", fix="Use temperature=0.1, mlm_weight=0.")
        self.vocab_size, self.min_n, self.max_n = vocab_size, min_n, max_n
        self.temperature, self.mlm_weight = temperature, mlm_weight
        self.mask_id, self.cls_id, self.sep_id, self.special_ids = mask_id, cls_id, sep_id, special_ids

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        """Per row: one n-gram (n uniform in [min_n, max_n], inside a run of non-special tokens) becomes [MASK]s;
        extra["ngram_ids"] [batch, max_n + 2] holds "[CLS] n-gram [SEP]", the local view."""
        token_ids = token_ids.long()
        if token_ids.dim() != 2:
            raise InputError(f"Expected ids [batch, seq], got {tuple(token_ids.shape)}.", fix="Pass packed blocks.")
        if attention_mask is None:
            attention_mask = (token_ids != 0).long()
        special = special_positions(token_ids, self.special_ids)
        batch_size, seq = token_ids.shape
        lengths = torch.randint(self.min_n, self.max_n + 1, (batch_size,), generator=generator)
        draws = torch.rand(batch_size, generator=generator)
        chosen = torch.zeros_like(token_ids, dtype=torch.bool)
        ngrams = torch.zeros(batch_size, self.max_n + 2, dtype=torch.long)
        for row in range(batch_size):
            starts = self._valid_starts(special[row], int(lengths[row]))
            n = int(lengths[row])
            while not starts and n > 1:  # a short row: fall back to a shorter n-gram
                n -= 1
                starts = self._valid_starts(special[row], n)
            if not starts:
                ngrams[row, :2] = torch.tensor([self.cls_id, self.sep_id])
                continue
            start = starts[min(int(draws[row] * len(starts)), len(starts) - 1)]
            chosen[row, start : start + n] = True
            ngrams[row, : n + 2] = torch.tensor([self.cls_id, *token_ids[row, start : start + n].tolist(), self.sep_id])
        inputs = torch.where(chosen, torch.full_like(token_ids, self.mask_id), token_ids)
        record = torch.full_like(token_ids, int(Op.KEPT))
        record[special] = int(Op.SPECIAL)
        record[chosen] = int(Op.MASKED)
        return Corruption(inputs, token_ids, chosen, attention_mask, record, token_ids,
                          extra={"ngram_ids": ngrams.to(token_ids.device)})  # fmt: skip

    @staticmethod
    def _valid_starts(special_row: torch.Tensor, n: int) -> list[int]:
        """Start positions of n consecutive non-special tokens."""
        ok = (~special_row).long()
        if n > len(ok):
            return []
        runs = ok.unfold(0, n, 1).sum(-1)  # [seq - n + 1]: how many of the n tokens from here are ordinary
        return (runs == n).nonzero().flatten().tolist()

    def vectors(self, model, batch: Corruption) -> tuple[torch.Tensor, torch.Tensor, EncoderOutput]:
        """(global vectors of the masked sentences, local vectors of their n-grams, the sentence encoder's output)."""
        predict = batch.loss_mask if self.mlm_weight > 0 else None
        sentence_out = model(batch.input_ids, batch.attention_mask, predict_positions=predict)
        ngram_ids = batch.extra["ngram_ids"]
        ngram_out = model(ngram_ids, (ngram_ids != 0).long())
        return sentence_out.extras["vector"], ngram_out.extras["vector"], sentence_out

    def loss(self, model, batch: Corruption) -> LossOutput:
        global_vectors, local_vectors, sentence_out = self.vectors(model, batch)
        loss, logits = info_nce_loss(global_vectors, local_vectors, self.temperature)
        with torch.no_grad():
            targets = torch.arange(len(logits), device=logits.device)
            metrics = {
                "infonce_loss": loss.item(),
                "retrieval_accuracy": (logits.argmax(-1) == targets).float().mean().item(),
                "mi_lower_bound": math.log(len(logits)) - loss.item(),  # nats; at most log(batch size)
            }
        if self.mlm_weight > 0 and batch.n_predicted:
            mlm_loss = F.cross_entropy(sentence_out.extras["logits"].float(), batch.targets[batch.loss_mask])
            metrics["mlm_loss"] = mlm_loss.item()
            loss = loss + self.mlm_weight * mlm_loss
        return LossOutput(loss, metrics)

    @torch.no_grad()
    def score_matrix(self, model, batch: Corruption) -> torch.Tensor:
        """The [batch, batch] scores (cosine / temperature) of every masked sentence against every n-gram."""
        was_training = model.training
        model.eval()
        global_vectors, local_vectors, _ = self.vectors(model, batch)
        model.train(was_training)
        return info_nce_loss(global_vectors, local_vectors, self.temperature)[1].cpu()

    def build_model(self, config):
        return ContrastiveEncoder(config)
