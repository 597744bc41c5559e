"""Extractive question answering on the synthetic world: questions about a document's own facts, answered by a span.

Rajpurkar et al. 2016, SQuAD (exact match and token F1); Devlin et al. 2019, BERT (a start/end head on the encoder)."""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError
from ptmlab.models.qa import SpanQAModel


@lru_cache(maxsize=8)
def _world(seed: int):
    from ptmlab.data.world import make_world

    return make_world(seed)


def cloze_question(world, fact) -> str:
    """The relation's cloze statement about `fact` with the object asked for: 'Otto Blackwood was born in what ?'.

    'what' instead of [MASK]: a [MASK] would favour the objectives that saw [MASK] in pre-training."""
    template = world.relations[fact.relation]["cloze"][0]
    subject = world.entities[fact.subject]
    name = f"{subject.attrs['article']} {subject.name}" if subject.attrs.get("article") else subject.name
    possessive = name + ("'" if name.endswith("s") else "'s")
    text = re.sub(r"\{O(?::\w+)?\}", "what", template)
    text = re.sub(r"\{S:poss\}", possessive, text)
    text = re.sub(r"\{S(?::\w+)?\}", name, text)
    return text[:1].upper() + text[1:].rstrip(". ") + " ?"


@dataclass
class FactQA:
    """Extractive question answering on held-out world documents: '[CLS] question [SEP] document' and the answer span.

    starts/ends index the answer's first/last token in input_ids; answers are the gold token strings."""

    input_ids: torch.Tensor  # [n, seq]
    attention_mask: torch.Tensor
    starts: torch.Tensor  # [n]
    ends: torch.Tensor
    context_starts: torch.Tensor  # [n] first document position (answers are searched from there)
    questions: list[str]
    answers: list[str]

    def __len__(self) -> int:
        return len(self.questions)

    def trimmed(self) -> FactQA:
        """The same examples without the padding columns every row has (saves compute on short batches)."""
        width = int(self.attention_mask.sum(1).max())
        return replace(self, input_ids=self.input_ids[:, :width], attention_mask=self.attention_mask[:, :width])

    def take(self, index) -> FactQA:
        index = torch.as_tensor(index)
        pick = index.tolist()
        return FactQA(
            self.input_ids[index],
            self.attention_mask[index],
            self.starts[index],
            self.ends[index],
            self.context_starts[index],
            [self.questions[i] for i in pick],
            [self.answers[i] for i in pick],
        )


def _find(haystack: list[int], needle: list[int]) -> int:
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


def _document_questions(tokenizer: Tokenizer, world, document, max_len: int) -> list[tuple]:
    """(ids, answer start, answer end, question length, question, answer) for each usable fact of one document."""
    out = []
    sentence_ids = [tokenizer.encode(s.text, add_special_tokens=False) for s in document.sentences]
    for k, sentence in enumerate(document.sentences):
        fact = sentence.fact
        if fact is None or fact.subject != document.subject or not world.relations[fact.relation].get("cloze"):
            continue
        if re.search(rf"\b{re.escape(world.name(fact.object))}\b", world.name(fact.subject)):
            continue  # 'the University of Ysmere is located in what ?': copying the name is not reading
        answer = tokenizer.encode(world.name(fact.object), add_special_tokens=False)
        offset = _find(sentence_ids[k], answer)
        if offset < 0 or tokenizer.unk_id in answer:
            continue
        question = cloze_question(world, fact)
        q_ids = tokenizer.encode(question)  # [CLS] question [SEP]
        # A long document is cut to fit: sentences after the answer's go first, then those before it (the other
        # sentences stay as distractors). Pre-training blocks have the same length, so every position was trained.
        keep = list(range(len(sentence_ids)))
        while len(q_ids) + sum(len(sentence_ids[j]) + 1 for j in keep) > max_len and len(keep) > 1:
            keep.remove(keep[-1] if keep[-1] != k else keep[0])
        ids, start = list(q_ids), -1
        for j in keep:
            if j == k:
                start = len(ids) + offset
            ids += sentence_ids[j] + [tokenizer.sep_id]
        if len(ids) <= max_len:
            out.append((ids, start, start + len(answer) - 1, len(q_ids), question, world.name(fact.object)))
    return out


def fact_qa(
    tokenizer: Tokenizer, world_seeds: int | tuple[int, ...], n: int, max_len: int = 128, seed: int = 0
) -> FactQA:
    """Questions about a document's own facts ('otto blackwood was born in what ?'), answered by a span of it.

    Facts whose object is not written out verbatim in its sentence (a birth date given as a year) are skipped, as are
    documents too long for max_len. n examples are drawn at random (seeded) from the worlds' questions."""
    examples = []
    for world_seed in (world_seeds,) if isinstance(world_seeds, int) else world_seeds:
        world = _world(world_seed)
        for document in world.documents():
            examples += _document_questions(tokenizer, world, document, max_len)
    if len(examples) < n:
        raise InputError(f"Worlds {world_seeds} give {len(examples)} questions; {n} were asked for.", fix="Ask fewer.")
    random.Random(f"fact_qa:{world_seeds}:{seed}").shuffle(examples)
    examples = examples[:n]
    width = max(len(e[0]) for e in examples)
    ids = torch.zeros((n, width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e[0])] = torch.tensor(e[0])
    return FactQA(
        ids,
        (ids != 0).long(),
        torch.tensor([e[1] for e in examples]),
        torch.tensor([e[2] for e in examples]),
        torch.tensor([e[3] for e in examples]),
        [e[4] for e in examples],
        [e[5] for e in examples],
    )


def span_logits_masked(start, end, data: FactQA):
    """Answers live in the document: mask the question and the padding."""
    positions = torch.arange(start.shape[1], device=start.device)[None]
    allowed = (positions >= data.context_starts.to(start.device)[:, None]) & data.attention_mask.to(start.device).bool()
    return start.masked_fill(~allowed, -1e4), end.masked_fill(~allowed, -1e4)


@torch.no_grad()
def evaluate_qa(model: SpanQAModel, data: FactQA, max_answer_len: int = 8, batch_size: int = 128) -> dict[str, float]:
    """SQuAD-style exact match and token F1 (in %) of the best span (start <= end < start + max_answer_len)."""
    model.eval()
    device = next(model.parameters()).device
    f1s, exact = [], []
    for i in range(0, len(data), batch_size):
        chunk = data.take(range(i, min(i + batch_size, len(data)))).trimmed()
        start, end = span_logits_masked(*model(chunk.input_ids.to(device), chunk.attention_mask.to(device)), chunk)
        scores = start[:, :, None] + end[:, None, :]
        T = scores.shape[1]
        valid = torch.ones(T, T, dtype=torch.bool, device=device).triu().tril(max_answer_len - 1)
        best = scores.masked_fill(~valid, -1e9).flatten(1).argmax(-1)
        for row, flat in enumerate(best.tolist()):
            s, e = divmod(flat, T)
            predicted = chunk.input_ids[row, s : e + 1].tolist()
            gold = chunk.input_ids[row, int(chunk.starts[row]) : int(chunk.ends[row]) + 1].tolist()
            exact.append(float(predicted == gold))
            f1s.append(token_f1(predicted, gold))
    return {"f1": 100 * statistics.mean(f1s), "exact_match": 100 * statistics.mean(exact)}


def token_f1(predicted: list[int], gold: list[int]) -> float:
    """SQuAD's token F1 between a predicted and a gold answer (bags of token ids)."""
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
