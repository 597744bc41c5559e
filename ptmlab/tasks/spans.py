"""Span recovery: hide a whole entity mention and predict all of its pieces back (an extractive cloze in context).

Joshi et al. 2020, SpanBERT: masking whole spans helps span-level tasks; scored here by exact match per mention."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError
from ptmlab.objectives.masking import encode_with_spans


@dataclass(frozen=True)
class SpanExample:
    """ids: '[CLS] earlier sentences [SEP] ... target sentence [SEP]'; ids[start:end] is one gold mention to recover."""

    ids: tuple[int, ...]
    start: int
    end: int
    label: str
    in_context: bool = False  # the same pieces occur earlier in ids: the answer can be copied (extractive)


def span_recovery_examples(
    tokenizer: Tokenizer, documents: Sequence, max_len: int = 64, max_examples: int | None = None, seed: int = 0
) -> list[SpanExample]:
    """One example per gold entity mention in `documents`: the sentence that holds it, preceded by as many earlier
    sentences of the same document as fit in max_len (the context may name the entity before)."""
    examples = []
    for doc in documents:
        encoded = [encode_with_spans(tokenizer, s.text, [(e.start, e.end) for e in s.entities]) for s in doc.sentences]
        for i, (ids, labels) in enumerate(encoded):
            if len(ids) + 2 > max_len:
                continue
            context: list[int] = []
            for earlier, _ in reversed(encoded[:i]):
                if len(context) + len(earlier) + len(ids) + 3 > max_len:
                    break
                context = earlier + [tokenizer.sep_id] + context
            row = (tokenizer.cls_id, *context, *ids, tokenizer.sep_id)
            offset = 1 + len(context)
            for k, span in enumerate(doc.sentences[i].entities, start=1):
                positions = [p for p, label in enumerate(labels) if label == k]
                if positions:
                    start, end = offset + positions[0], offset + positions[-1] + 1
                    pieces = row[start:end]
                    seen = any(row[j : j + len(pieces)] == pieces for j in range(1, start - len(pieces) + 1))
                    examples.append(SpanExample(row, start, end, span.label, seen))
    if max_examples is not None and len(examples) > max_examples:
        examples = random.Random(seed).sample(examples, max_examples)
    return examples


def mask_predictor(mask_id: int) -> Callable:
    """MLM's way to recover spans: write [MASK] over every chosen piece and predict them all at once."""

    def predict(model, ids: torch.Tensor, chosen: torch.Tensor, chunk: Sequence[SpanExample]) -> torch.Tensor:
        device = next(model.parameters()).device
        inputs = torch.where(chosen, torch.full_like(ids, mask_id), ids)
        out = model(inputs.to(device), (ids != 0).long().to(device), predict_positions=chosen.to(device))
        return out.extras["logits"].argmax(-1).cpu()

    return predict


@torch.no_grad()
def evaluate_span_recovery(
    model, examples: Sequence[SpanExample], mask_id: int = 4, batch_size: int = 128, predict: Callable | None = None
) -> dict[str, Any]:
    """Hide each whole mention and predict all its pieces. exact_match: every piece right (the span-level score);
    token_accuracy: per piece; by_label: exact match per entity type; in_context_exact_match: on mentions whose pieces
    occur earlier in the row (copyable).

    predict(model, ids [B, T], chosen [B, T] bool, chunk) -> predicted ids of the chosen positions (row-major); by
    default `mask_predictor(mask_id)` (MLM). Chapter 07 passes a permuted-LM predictor."""
    if not examples:
        raise InputError("No span examples to evaluate.", fix="Pass documents with gold entity spans.")
    predict = predict or mask_predictor(mask_id)
    model.eval()
    exact, pieces, right = [], 0, 0
    for first in range(0, len(examples), batch_size):
        chunk = examples[first : first + batch_size]
        width = max(len(e.ids) for e in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        chosen = torch.zeros(len(chunk), width, dtype=torch.bool)
        for row, e in enumerate(chunk):
            ids[row, : len(e.ids)] = torch.tensor(e.ids)
            chosen[row, e.start : e.end] = True
        correct = (predict(model, ids, chosen, chunk) == ids[chosen]).tolist()
        position = 0
        for e in chunk:
            n = e.end - e.start
            exact.append(all(correct[position : position + n]))
            right += sum(correct[position : position + n])
            pieces += n
            position += n
    by_label: dict[str, list[bool]] = {}
    for e, hit in zip(examples, exact):
        by_label.setdefault(e.label, []).append(hit)
    copyable = [hit for e, hit in zip(examples, exact) if e.in_context]
    return {
        "exact_match": sum(exact) / len(exact),
        "token_accuracy": right / pieces,
        "n": len(exact),
        "in_context_exact_match": sum(copyable) / len(copyable) if copyable else float("nan"),
        "n_in_context": len(copyable),
        "by_label": {k: sum(v) / len(v) for k, v in sorted(by_label.items())},
    }
