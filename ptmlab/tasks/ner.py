"""Token classification on a pre-trained encoder: named-entity recognition on the synthetic world, F1 by entity.

The probe of Devlin et al. 2019 (BERT, Section 5.3: a linear layer on frozen or fine-tuned features, CoNLL-2003 NER) and
of Peters et al. 2018 (ELMo: a learned scalar mix of layers); BIO tags (Ramshaw & Marcus 1995) scored per entity as in
conlleval (Tjong Kim Sang & De Meulder 2003)."""

from __future__ import annotations

import copy
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.data.tokenizers import Tokenizer, normalize
from ptmlab.errors import InputError
from ptmlab.models.bilm import ScalarMix
from ptmlab.objectives.masking import encode_with_spans
from ptmlab.tasks.features import encoder_of, token_features
from ptmlab.tasks.finetune import finetune
from ptmlab.tasks.probe import fit_linear_probe

NER_LABELS = ("PER", "LOC", "ORG", "DATE", "MISC")  # the world's gold span labels
IGNORE = -100  # tag id of positions that are not scored ([CLS], [SEP], padding)


def bio_tag_names(labels: Sequence[str] = NER_LABELS) -> list[str]:
    """['O', 'B-PER', 'I-PER', 'B-LOC', ...]: B opens an entity, I continues it, O is outside any entity."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


# ----------------------------------------------------------------------------- from gold spans to BIO per token
@dataclass
class TaggedSentence:
    text: str
    tokens: list[str]  # the model tokenizer's tokens (no [CLS] / [SEP])
    tags: list[str]  # one BIO tag per token

    def entities(self) -> list[tuple[str, str]]:
        """(label, the tokens of the entity joined) for every gold entity: a readable check of the alignment."""
        return [(label, " ".join(self.tokens[s:e])) for s, e, label in bio_spans(self.tags)]


def _marker_free(token: str) -> str:
    return token.removeprefix("##").removesuffix("</w>").replace("▁", "")


def token_offsets(tokenizer: Tokenizer, text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The tokenizer's tokens for `text` and each token's (start, end) character offsets in `text`.

    Subword tokenizers report offsets themselves; otherwise each token is found in the text left to right. Unknown
    tokens of a word tokenizer get the span of the word they replace."""
    backend = getattr(tokenizer, "backend", None)
    normalized = normalize(text, getattr(tokenizer, "lowercase", True))
    if backend is not None and len(normalized) == len(text) and normalized == " ".join(normalized.split()):
        encoding = backend.encode(normalized, add_special_tokens=False)
        return list(encoding.tokens), [tuple(o) for o in encoding.offsets]
    tokens = tokenizer.tokenize(text)
    haystack = text.lower() if getattr(tokenizer, "lowercase", True) else text
    words = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", haystack)]
    offsets, cursor = [], 0
    for token in tokens:
        piece = _marker_free(token)
        found = haystack.find(piece, cursor) if piece and token != tokenizer.unk_token else -1
        if found < 0:  # an unknown token: take the next word
            nxt = next(((s, e) for s, e in words if s >= cursor), (cursor, cursor))
            offsets.append(nxt)
            cursor = nxt[1]
        else:
            offsets.append((found, found + len(piece)))
            cursor = found + len(piece)
    return tokens, offsets


def tag_sentence(
    tokenizer: Tokenizer, text: str, spans: Sequence[Any], labels: Sequence[str] = NER_LABELS
) -> TaggedSentence:
    """BIO tags for every token of `text` from gold character spans (objects with .start, .end, .label).

    The first token inside a span gets B-label, the following ones I-label; tokens outside every span get O. Spans
    whose label is not in `labels` are left out (tagged O)."""
    tokens, offsets = token_offsets(tokenizer, text)
    kept = sorted((s for s in spans if s.label in labels), key=lambda s: s.start)
    tags, previous = [], None
    for start, end in offsets:
        inside = next((i for i, s in enumerate(kept) if end > start and s.start <= start < s.end), None)
        if inside is None:
            tags.append("O")
        else:
            tags.append(("I-" if inside == previous else "B-") + kept[inside].label)
        previous = inside
    return TaggedSentence(text, tokens, tags)


def world_ner_sentences(
    documents: Sequence[Any], tokenizer: Tokenizer, labels: Sequence[str] = NER_LABELS
) -> list[TaggedSentence]:
    """Every sentence of the world's documents (ptmlab.data.world.Document), tagged with its gold entity spans."""
    return [tag_sentence(tokenizer, s.text, s.entities, labels) for doc in documents for s in doc.sentences]


@dataclass
class NERData:
    """Padded tensors for a tagging task: [CLS] tokens [SEP], with tag ids (IGNORE where nothing is scored)."""

    input_ids: torch.Tensor  # [n, seq]
    attention_mask: torch.Tensor  # [n, seq]
    tag_ids: torch.Tensor  # [n, seq]
    tag_names: list[str]
    sentences: list[TaggedSentence]

    def __len__(self) -> int:
        return len(self.sentences)


def ner_data(
    sentences: Sequence[TaggedSentence], tokenizer: Tokenizer, max_len: int, labels: Sequence[str] = NER_LABELS
) -> NERData:
    """Tensors for `sentences`; a sentence longer than max_len - 2 tokens is cut (its tail is not scored)."""
    if not sentences:
        raise InputError("No sentences to tag.", fix="Pass the tagged sentences of at least one document.")
    names = bio_tag_names(labels)
    index = {name: i for i, name in enumerate(names)}
    kept = [TaggedSentence(s.text, s.tokens[: max_len - 2], s.tags[: max_len - 2]) for s in sentences]
    longest = max(len(s.tokens) for s in kept) + 2
    ids = torch.zeros(len(kept), longest, dtype=torch.long)
    tags = torch.full((len(kept), longest), IGNORE, dtype=torch.long)
    for row, s in enumerate(kept):
        token_ids = [tokenizer.cls_id, *tokenizer.convert_tokens_to_ids(s.tokens), tokenizer.sep_id]
        ids[row, : len(token_ids)] = torch.tensor(token_ids)
        tags[row, 1 : 1 + len(s.tags)] = torch.tensor([index[t] for t in s.tags])
    return NERData(ids, (ids != tokenizer.pad_id).long(), tags, names, kept)


# ----------------------------------------------------------------------------- scoring by entity
def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities as (start, end, label) token ranges, conlleval style: an I- tag that does not continue an entity of
    its own label starts a new one."""
    spans, start, label = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == label and start is not None
        if start is not None and not continues:
            spans.append((start, i, label))
            start, label = None, None
        if prefix in ("B", "I") and not continues:
            start, label = i, kind
    return spans


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Precision, recall and F1 over entities (exact start, end and label), micro-averaged, and F1 per label."""
    if len(gold) != len(predicted):
        raise InputError(
            f"{len(gold)} gold sentences but {len(predicted)} predicted.", fix="Pass one tag list per sentence."
        )
    counts: dict[str, list[int]] = {}  # label -> [true positives, predicted, gold]
    for g, p in zip(gold, predicted):
        gold_spans, pred_spans = set(bio_spans(g)), set(bio_spans(p))
        for spans, slot in ((pred_spans, 1), (gold_spans, 2)):
            for *_, label in spans:
                counts.setdefault(label, [0, 0, 0])[slot] += 1
        for *_, label in gold_spans & pred_spans:
            counts[label][0] += 1

    def score(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)

    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    precision, recall, f1 = score(*totals)
    per_label = {label: score(*c)[2] for label, c in sorted(counts.items()) if c[2]}
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "per_label": per_label,
        "n_gold": totals[2],
        "n_predicted": totals[1],
    }


# ----------------------------------------------------------------------------- the tagger


class TaggingHead(nn.Module):
    """Every layer's states [..., n_layers, d] -> tag scores: ELMo's ScalarMix of the layers (or one layer), then a
    linear layer. `layers`: "mix", "last", or a layer index (0 = embeddings)."""

    def __init__(self, n_layers: int, d_features: int, n_tags: int, layers: str | int = "mix"):
        super().__init__()
        if layers not in ("mix", "last") and not (isinstance(layers, int) and -n_layers <= layers < n_layers):
            raise InputError(f"layers={layers!r}.", fix=f"Use 'mix', 'last' or a layer index below {n_layers}.")
        self.layers = layers
        self.mix = ScalarMix(n_layers) if layers == "mix" else None
        self.classifier = nn.Linear(d_features, n_tags)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        if self.mix is not None:
            features = self.mix(stacked, dim=-2)
        else:
            features = stacked[..., -1 if self.layers == "last" else self.layers, :]
        return self.classifier(features)


class SequenceLabeler(nn.Module):
    """A pretrained encoder and a TaggingHead on all its layers: `labeler(ids, mask)` -> [batch, seq, n_tags]."""

    def __init__(self, encoder: nn.Module, head: TaggingHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(torch.stack(self.encoder(input_ids, attention_mask).hidden_states, dim=-2))


@dataclass
class LabelingResult:
    f1: float
    precision: float
    recall: float
    per_label: dict[str, float]
    mode: str  # "probe" (frozen encoder) or "finetune"
    seconds: float
    layer_weights: list[float] | None = None  # the learned s_j of the scalar mix
    gamma: float | None = None
    predictions: list[list[str]] = field(default_factory=list, repr=False)  # predicted tags per test sentence


@torch.no_grad()
def tagging_features(encoder: nn.Module, data: NERData, device: torch.device, batch_size: int = 64):
    """(every layer's states of every scored token [n_tokens, n_layers, d], their tag ids [n_tokens])."""
    encoder.eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        ids, mask = data.input_ids[start : start + batch_size], data.attention_mask[start : start + batch_size]
        hidden = torch.stack(encoder(ids.to(device), mask.to(device)).hidden_states, dim=-2)  # [b, seq, layers, d]
        chunks.append(hidden[data.tag_ids[start : start + batch_size].to(device) != IGNORE].float())
    return torch.cat(chunks), data.tag_ids[data.tag_ids != IGNORE].to(device)


@torch.no_grad()
def predict_tags(labeler: SequenceLabeler, data: NERData, batch_size: int = 64) -> list[list[str]]:
    """The labeler's BIO tag for every token of every sentence of `data`."""
    device = next(labeler.parameters()).device
    labeler.eval()
    out = []
    for start in range(0, len(data), batch_size):
        ids, mask = data.input_ids[start : start + batch_size], data.attention_mask[start : start + batch_size]
        best = labeler(ids.to(device), mask.to(device)).argmax(-1).cpu()
        for row, sentence in enumerate(data.sentences[start : start + batch_size]):
            out.append([data.tag_names[int(i)] for i in best[row, 1 : 1 + len(sentence.tags)]])
    return out


def train_sequence_labeler(
    model: nn.Module,
    train: NERData,
    test: NERData,
    *,
    mode: str = "probe",
    layers: str | int = "mix",
    steps: int = 300,
    batch_size: int = 32,
    lr: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> LabelingResult:
    """Train a tagger on `train` and score it by entity F1 on `test`. `model` itself is never changed.

    mode="probe": the pretrained encoder is frozen; only the scalar mix and the linear layer learn, on features
    computed once (what the encoder already knows). mode="finetune": a copy of the encoder learns too, every weight
    at one learning rate (BERT's recipe, shortened). Both use the shared loop ptmlab.tasks.finetune."""
    from ptmlab.runtime import get_device

    if mode not in ("probe", "finetune"):
        raise InputError(f"mode={mode!r}.", fix="Use 'probe' (frozen encoder) or 'finetune'.")
    if steps < 1:
        raise InputError(f"steps={steps}.", fix="Train for at least one step.")
    device = torch.device(device) if device else get_device()
    encoder = encoder_of(model)
    encoder = (copy.deepcopy(encoder) if mode == "finetune" else encoder).to(device)
    start_time = time.perf_counter()
    with torch.no_grad():  # one forward to read the number of layers and their width
        encoder.eval()
        hidden = encoder(train.input_ids[:1].to(device), train.attention_mask[:1].to(device)).hidden_states
    torch.manual_seed(seed)
    head = TaggingHead(len(hidden), hidden[0].shape[-1], len(train.tag_names), layers).to(device)
    labeler = SequenceLabeler(encoder, head)
    if mode == "probe":
        features, targets = tagging_features(encoder, train, device)
        n_tokens = min(len(features), batch_size * 16)  # about as many tokens per step as batch_size sentences

        def probe_loss(head: TaggingHead, generator: torch.Generator) -> torch.Tensor:
            rows = torch.randint(0, len(features), (n_tokens,), generator=generator).to(device)
            return F.cross_entropy(head(features[rows]), targets[rows])

        finetune(head, probe_loss, steps=steps, lr=lr or 1e-2, seed=seed, progress=False)
    else:

        def tagging_loss(labeler: SequenceLabeler, generator: torch.Generator) -> torch.Tensor:
            rows = torch.randint(0, len(train), (min(batch_size, len(train)),), generator=generator)
            logits = labeler(train.input_ids[rows].to(device), train.attention_mask[rows].to(device))
            return F.cross_entropy(logits.flatten(0, 1), train.tag_ids[rows].to(device).flatten(), ignore_index=IGNORE)

        finetune(labeler, tagging_loss, steps=steps, lr=lr or 1e-3, seed=seed, progress=False)
    predictions = predict_tags(labeler, test)
    scores = entity_f1([s.tags for s in test.sentences], predictions)
    mix = head.mix
    return LabelingResult(
        scores["f1"],
        scores["precision"],
        scores["recall"],
        scores["per_label"],
        mode,
        time.perf_counter() - start_time,
        mix.weights.detach().cpu().tolist() if mix is not None else None,
        float(mix.gamma.detach()) if mix is not None else None,
        predictions,
    )


# ----------------------------------------------------------------------------- a linear BIO probe on frozen features
def bio_tags(labels: Sequence[int], spans: Sequence) -> list[str]:
    """BIO tags for tokens whose `labels` give the 1-based index of the span they belong to (0: none)."""
    tags, previous = [], 0
    for label in labels:
        if label == 0:
            tags.append("O")
        else:
            tags.append(("I-" if label == previous else "B-") + spans[label - 1].label)
        previous = label
    return tags


def _ner_set(tokenizer: Tokenizer, documents: Sequence, max_len: int, limit: int | None, seed: int):
    sentences = [s for doc in documents for s in doc.sentences]
    if limit is not None and len(sentences) > limit:
        sentences = random.Random(seed).sample(sentences, limit)
    rows, tags = [], []
    for s in sentences:
        ids, labels = encode_with_spans(tokenizer, s.text, [(e.start, e.end) for e in s.entities])
        if len(ids) + 2 <= max_len:
            rows.append([tokenizer.cls_id, *ids, tokenizer.sep_id])
            tags.append(bio_tags(labels, s.entities))
    return rows, tags


def ner_probe(
    model,
    tokenizer: Tokenizer,
    train_documents: Sequence,
    test_documents: Sequence,
    *,
    max_len: int = 64,
    train_sentences: int | None = 600,
    test_sentences: int | None = 400,
    steps: int = 150,
    seed: int = 0,
) -> dict[str, float]:
    """NER span F1 of a linear BIO tagger trained on frozen final-layer features (the body is not fine-tuned).

    A probe of how readily entity spans can be read off the representations; scored by exact span match."""
    train_rows, train_tags = _ner_set(tokenizer, train_documents, max_len, train_sentences, seed)
    test_rows, test_tags = _ner_set(tokenizer, test_documents, max_len, test_sentences, seed + 1)
    if not train_rows or not test_rows:
        raise InputError("No sentences for the NER probe.", fix="Pass world documents (with gold entity spans).")
    tags = bio_tag_names(NER_LABELS)
    x_train = torch.cat(token_features(model, train_rows))
    y_train = torch.tensor([tags.index(t) for sentence in train_tags for t in sentence])
    probe = fit_linear_probe(x_train, y_train, len(tags), steps=steps, seed=seed)
    predicted = [[tags[g] for g in probe.predict(features).tolist()] for features in token_features(model, test_rows)]
    return entity_f1(test_tags, predicted)
