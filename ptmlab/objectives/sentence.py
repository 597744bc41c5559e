"""Sentence-pair objectives: next sentence prediction (BERT) and sentence order prediction (ALBERT), each with MLM.

Devlin et al. 2019, BERT (NSP: is B the sentence after A, or a random one from another document?); Lan et al. 2020,
ALBERT (SOP: are A and B in their original order, or swapped?). Survey Qiu et al. 2020, Section 3.1.5."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.data.tokenizers import SPECIAL_TOKENS, Tokenizer
from ptmlab.errors import InputError
from ptmlab.models.sentence_pair import PairHead, SentencePairModel, segments_from_sep  # noqa: F401  (re-exported)
from ptmlab.objectives.base import Corruption, LossOutput, Objective, Op, special_positions
from ptmlab.objectives.mlm import MaskedLM

PAIR_KINDS = ("none", "nsp", "sop")
# A pair tensor is [n_pairs, 3, max_len]: these rows hold the token ids, the segment ids and what building the pair did.
IDS, SEGMENTS, RECORD = 0, 1, 2
POSITIVE, NEGATIVE = 1, 0  # sentence labels: 1 = B follows A in its document (NSP) / in the original order (SOP)
# How a negative pair is marked in the record: NSP's B comes from another document; SOP's A and B trade places.
NEGATIVE_OPS = {"nsp": Op.INSERTED, "sop": Op.PERMUTED}


# ============================================================================ building sentence pairs
def _document_sentences(documents: Sequence) -> list[list[str]]:
    """World documents (with .sentences of objects with .text) or plain lists of sentence strings."""
    out = []
    for doc in documents:
        sentences = getattr(doc, "sentences", doc)
        out.append([getattr(s, "text", s) for s in sentences])
    return out


def truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """BERT's truncate_seq_pair: drop tokens from the end of the longer sentence until both fit in `budget`."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        (a if len(a) > len(b) else b).pop()
    return a, b


def _pair_lists(a: list[int], b: list[int], tokenizer: Tokenizer, max_len: int, op_a: Op, op_b: Op) -> list[list[int]]:
    a, b = truncate_pair(a, b, max_len - 3)
    ids = [tokenizer.cls_id, *a, tokenizer.sep_id, *b, tokenizer.sep_id]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    special = int(Op.SPECIAL)
    record = [special, *[int(op_a)] * len(a), special, *[int(op_b)] * len(b), special]
    pad = max_len - len(ids)
    return [ids + [tokenizer.pad_id] * pad, segments + [0] * pad, record + [special] * pad]


def pair_row(
    a: list[int], b: list[int], tokenizer: Tokenizer, max_len: int, op_a: Op = Op.KEPT, op_b: Op = Op.KEPT
) -> torch.Tensor:
    """One [3, max_len] pair: [CLS] a [SEP] b [SEP] + padding, segment ids 0 then 1, and the record of each token."""
    return torch.tensor(_pair_lists(a, b, tokenizer, max_len, op_a, op_b))


def make_pairs(
    documents: Sequence, tokenizer: Tokenizer, max_len: int = 64, kind: str = "nsp", seed: int = 0, copies: int = 1
) -> torch.Tensor:
    """Sentence pairs from consecutive sentences of each document, as a [n_pairs, 3, max_len] LongTensor.

    Half the pairs (drawn with `seed`) are negatives: for "nsp" the second sentence is replaced by a random sentence
    from another document (BERT); for "sop" the two sentences are swapped (ALBERT). "none" keeps every pair in order
    (the same inputs for an MLM-only model). `copies` > 1 repeats the corpus with fresh negative draws (BERT's
    dupe_factor).
    The sentence label is read back from the record by `pair_labels`."""
    if kind not in PAIR_KINDS:
        raise InputError(f"Unknown pair kind {kind!r}.", fix=f"Use one of {', '.join(PAIR_KINDS)}.")
    if max_len < 8:
        raise InputError(f"max_len={max_len} is too short for two sentences.", fix="Use at least 32.")
    encoded = [
        [ids for ids in (tokenizer.encode(s, add_special_tokens=False) for s in doc) if ids]
        for doc in _document_sentences(documents)
    ]
    flat = [(d, i) for d, doc in enumerate(encoded) for i in range(len(doc))]
    if len({d for d, _ in flat}) < 2 or not any(len(doc) >= 2 for doc in encoded):
        raise InputError(
            "Sentence pairs need at least two documents, one of them with two sentences or more.",
            fix="Pass world documents (load_corpus('world').documents or make_world().documents()).",
        )
    rng = random.Random(seed)
    rows = []
    for _ in range(copies):
        for d, doc in enumerate(encoded):
            for i in range(len(doc) - 1):
                a, b = doc[i], doc[i + 1]
                if kind == "none" or rng.random() < 0.5:
                    rows.append(_pair_lists(a, b, tokenizer, max_len, Op.KEPT, Op.KEPT))
                elif kind == "sop":
                    rows.append(_pair_lists(b, a, tokenizer, max_len, Op.PERMUTED, Op.PERMUTED))
                else:  # nsp: a random sentence from a random other document
                    other = d
                    while other == d:
                        other, j = flat[rng.randrange(len(flat))]
                    rows.append(_pair_lists(a, encoded[other][j], tokenizer, max_len, Op.KEPT, Op.INSERTED))
    return torch.tensor(rows)


def pair_labels(pair_record: torch.Tensor) -> torch.Tensor:
    """Sentence labels [batch] from a pair record [batch, seq]: NEGATIVE where a sentence was inserted or moved."""
    moved = (pair_record == int(Op.INSERTED)) | (pair_record == int(Op.PERMUTED))
    return torch.where(moved.any(-1), NEGATIVE, POSITIVE).long()


# ============================================================================ the objective
class SentencePairObjective(Objective):
    """MLM on the pair's tokens plus the pair task: loss = L_MLM + L_NSP (BERT) or L_MLM + L_SOP (ALBERT).

    kind "none" trains MLM alone on the same pairs (ALBERT Table 5's "None" row); its pair head is never trained."""

    section = "3.1.5"

    def __init__(
        self,
        vocab_size: int,
        kind: str = "nsp",
        mlm: bool = True,
        mask_prob: float = 0.15,
        special_ids: tuple[int, ...] = tuple(range(len(SPECIAL_TOKENS))),
    ):
        if kind not in PAIR_KINDS:
            raise InputError(f"Unknown pair kind {kind!r}.", fix=f"Use one of {', '.join(PAIR_KINDS)}.")
        if kind == "none" and not mlm:
            raise InputError("kind='none' without MLM has nothing to learn.", fix="Keep mlm=True or pick nsp/sop.")
        self.kind, self.mlm, self.vocab_size = kind, mlm, vocab_size
        self.masker = MaskedLM(vocab_size, mask_prob, special_ids=special_ids)
        self.special_ids = special_ids
        self.name = {"none": "mlm (pairs)", "nsp": "mlm+nsp", "sop": "mlm+sop"}[kind] if mlm else kind
        self.paper = {"none": "Lan et al. 2020, ALBERT (Table 5, 'None')", "nsp": "Devlin et al. 2019, BERT",
                      "sop": "Lan et al. 2020, ALBERT"}[kind]  # fmt: skip
        self.idea = {
            "none": "Masked LM on sentence pairs, with no sentence-level task.",
            "nsp": "Is B the sentence after A, or a random sentence from another document? (plus MLM)",
            "sop": "Are A and B in their original order, or swapped? (plus MLM)",
        }[kind]

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        """Accepts pair tensors [batch, 3, seq] from `make_pairs`, or plain [batch, seq] ids ([CLS] A [SEP] B [SEP],
        segments read from the first [SEP], sentence label unknown = -1 and ignored by the loss)."""
        token_ids = token_ids.long()
        if token_ids.dim() == 3:
            ids, segments, pair_record = token_ids[:, IDS], token_ids[:, SEGMENTS], token_ids[:, RECORD]
            labels = pair_labels(pair_record)
        elif token_ids.dim() == 2:
            ids, segments = token_ids, segments_from_sep(token_ids)
            pair_record = torch.where(special_positions(ids, self.special_ids), int(Op.SPECIAL), int(Op.KEPT))
            labels = torch.full((ids.shape[0],), -1, dtype=torch.long)
        else:
            raise InputError(
                f"Expected pairs [batch, 3, seq] or ids [batch, seq], got {tuple(token_ids.shape)}.",
                fix="Build the data with make_pairs(documents, tokenizer, max_len, kind, seed).",
            )
        if attention_mask is None:
            attention_mask = (ids != 0).long()
        if self.mlm:
            batch = self.masker.corrupt(ids, generator, attention_mask)
            predicted = batch.loss_mask
            record = torch.where(predicted, batch.record, pair_record)  # MLM's marks win where it chose a token
        else:
            batch = Corruption(ids, ids, torch.zeros_like(ids, dtype=torch.bool), attention_mask, pair_record, ids)
            record = pair_record
        batch.record = record
        batch.extra = {"token_type_ids": segments, "sentence_labels": labels}
        return batch

    def loss(self, model, batch: Corruption) -> LossOutput:
        out = model(
            batch.input_ids,
            batch.attention_mask,
            token_type_ids=batch.extra["token_type_ids"],
            predict_positions=batch.loss_mask if self.mlm else None,
        )
        metrics: dict[str, float] = {}
        total = out.last_hidden_state.sum() * 0.0
        if self.mlm:
            logits, targets = out.extras["logits"], batch.targets[batch.loss_mask]
            if targets.numel():
                mlm_loss = F.cross_entropy(logits.float(), targets)
                total = total + mlm_loss
                metrics["mlm_loss"] = mlm_loss.item()
                metrics["mlm_accuracy"] = (logits.argmax(-1) == targets).float().mean().item()
        labels = batch.extra["sentence_labels"]
        known = labels >= 0
        if self.kind != "none" and bool(known.any()):
            pair_logits = out.extras["pair_logits"][known].float()
            pair_loss = F.cross_entropy(pair_logits, labels[known])
            total = total + pair_loss
            metrics[f"{self.kind}_loss"] = pair_loss.item()
            metrics[f"{self.kind}_accuracy"] = (pair_logits.argmax(-1) == labels[known]).float().mean().item()
        return LossOutput(total, metrics)

    def build_model(self, config):
        return SentencePairModel(config)


@torch.no_grad()
def pair_accuracy(model: nn.Module, pairs: torch.Tensor, batch_size: int = 256) -> float:
    """Accuracy of the model's pair head on pairs from `make_pairs` (any kind): argmax vs the label in the record."""
    if pairs.dim() != 3 or pairs.shape[1] != 3:
        raise InputError("Expected a pair tensor [n, 3, seq].", fix="Build it with make_pairs(...).")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    for first in range(0, len(pairs), batch_size):
        chunk = pairs[first : first + batch_size].to(device)
        ids, segments = chunk[:, IDS], chunk[:, SEGMENTS]
        logits = model(ids, (ids != 0).long(), token_type_ids=segments).extras["pair_logits"]
        correct += int((logits.argmax(-1) == pair_labels(chunk[:, RECORD])).sum())
    model.train(was_training)
    return correct / len(pairs)
