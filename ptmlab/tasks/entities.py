"""Entity types of unseen words: a linear probe on frozen token features must tell PER / LOC / ORG / DATE / MISC / O
for words it never saw in training (split by word), so it reads the type from the representation (Tenney et al. 2019)."""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError
from ptmlab.tasks.features import frozen_features
from ptmlab.tasks.probe import fit_linear_probe
from ptmlab.tasks.stats import balanced_accuracy

ENTITY_CLASSES = ("O", "PER", "LOC", "ORG", "DATE", "MISC")


_WORD_RE = re.compile(r"\w+|[^\w\s]")


@dataclass
class EntityTypeData:
    """Held-out sentences as token ids, each token's entity class (an ENTITY_CLASSES index, -1 for [CLS]/[SEP]) and
    its side (True = the probe trains on it). The split is by word: a word or name used to train the probe never
    appears among the test tokens, so the probe must read the type from how the encoder represents an unseen word."""

    rows: list[list[int]]
    labels: list[list[int]]
    train_side: list[list[bool]]
    keys: list[list[str]]  # the word or entity name each token belongs to ("" for [CLS]/[SEP]): it decides the side

    def counts(self) -> dict[str, list[int]]:
        out = {"train": [0] * len(ENTITY_CLASSES), "test": [0] * len(ENTITY_CLASSES)}
        for labels, sides in zip(self.labels, self.train_side):
            for label, side in zip(labels, sides):
                if label >= 0:
                    out["train" if side else "test"][label] += 1
        return out


def entity_type_data(tokenizer: Tokenizer, documents: Sequence, max_len: int, n_sentences: int | None = None,
                     seed: int = 0) -> EntityTypeData:  # fmt: skip
    """Token-level entity classes from the world's gold spans; sentences longer than max_len are left out."""
    sentences = [s for doc in documents for s in doc.sentences]
    if n_sentences is not None and len(sentences) > n_sentences:
        sentences = random.Random(seed).sample(sentences, n_sentences)
    data = EntityTypeData([], [], [], [])
    for sentence in sentences:
        ids, labels, sides, keys = [tokenizer.cls_id], [-1], [False], [""]
        for match in _WORD_RE.finditer(sentence.text):
            span = next((s for s in sentence.entities if s.start <= match.start() < s.end), None)
            label = ENTITY_CLASSES.index(span.label) if span is not None and span.label in ENTITY_CLASSES else 0
            key = (sentence.text[span.start : span.end] if span is not None else match.group()).lower()
            pieces = tokenizer.encode(match.group(), add_special_tokens=False)
            ids += pieces
            labels += [label] * len(pieces)
            sides += [zlib.crc32(key.encode()) % 2 == 0] * len(pieces)  # a stable hash: the same word, the same side
            keys += [key] * len(pieces)
        if len(ids) + 1 <= max_len:
            data.rows.append(ids + [tokenizer.sep_id])
            data.labels.append(labels + [-1])
            data.train_side.append(sides + [False])
            data.keys.append(keys + [""])
    if not data.rows:
        raise InputError("No sentences fit the probe.", fix="Pass world documents and a max_len of at least 32.")
    return data


def entity_type_probe(
    model,
    data: EntityTypeData,
    steps: int = 150,
    layer: int = -1,
    seed: int = 0,
    *,
    features: torch.Tensor | None = None,
    per_class: int | None = None,
    sample_seed: int | None = None,
) -> dict[str, float]:
    """A linear probe on frozen features (the body is not tuned), trained on class-balanced tokens of the train side.

    Returns balanced accuracy (the mean of per-class recalls; chance 1/6) and plain accuracy on the test side.
    features: frozen_features(model, data.rows, layer), when several probes share them. per_class: train on at most
    this many tokens per class (a sample-efficiency curve), drawn with `sample_seed` (default `seed`)."""
    x = frozen_features(model, data.rows, layer) if features is None else features
    y = torch.tensor([label for labels in data.labels for label in labels])
    side = torch.tensor([s for sides in data.train_side for s in sides])
    train, test = (y >= 0) & side, (y >= 0) & ~side
    # Balance the classes by down-sampling: most tokens are "O", and a probe trained on all of them predicts "O".
    generator = torch.Generator().manual_seed(seed if sample_seed is None else sample_seed)
    counts = torch.bincount(y[train], minlength=len(ENTITY_CLASSES))
    cap = per_class if per_class is not None else max(1, int(counts[1:].max()))
    keep = []
    for c in range(len(ENTITY_CLASSES)):
        members = train.nonzero().flatten()[y[train] == c]
        keep.append(members[torch.randperm(len(members), generator=generator)[:cap]])
    keep = torch.cat(keep)
    probe = fit_linear_probe(x[keep], y[keep], len(ENTITY_CLASSES), steps=steps, seed=seed)
    guess, truth = probe.predict(x[test]), y[test]
    return {"balanced_accuracy": balanced_accuracy(guess, truth), "accuracy": float((guess == truth).float().mean())}
