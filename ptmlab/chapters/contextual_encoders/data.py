"""The agreement task's data: sentences from the synthetic world with the verb masked, at controlled distances.

Linzen et al. 2016 (number agreement with attractors as a probe of long-range syntax); the sentences come from
`ptmlab.data.world.agreement_examples`. Used by `ptmlab.chapters.contextual_encoders.agreement` (chapter 03)."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ptmlab.chapters.contextual_encoders.presets import CONDITIONS  # noqa: F401  (the task's two conditions)
from ptmlab.errors import InputError

if TYPE_CHECKING:
    from ptmlab.chapters.contextual_encoders.presets import AgreementPreset

LABEL_NAMES = {0: "singular", 1: "plural"}  # the world's AgreementExample.label


@dataclass
class EncodedSet:
    """Agreement examples as tensors: ids [n, T] padded, the verb position, the label and each example's cell."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    positions: torch.Tensor  # [n] index of the (masked) verb
    labels: torch.Tensor  # [n] class ids
    distances: torch.Tensor  # [n]
    n_attractors: torch.Tensor  # [n]
    sentence_start: torch.Tensor  # [n] where the example's own sentence begins (after [CLS] and any context)
    tokens: list[list[str]] = field(default_factory=list)  # what the model reads, [MASK] at the verb

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: torch.Tensor | Sequence[int]) -> EncodedSet:
        """The chosen rows, with the padding cut to the longest of them."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        width = max(1, int(self.attention_mask[rows].sum(1).max())) if len(rows) else 1
        tensors = [getattr(self, name)[rows] for name in _TENSOR_FIELDS]
        tensors[0], tensors[1] = tensors[0][:, :width], tensors[1][:, :width]
        return EncodedSet(*tensors, [self.tokens[int(i)] for i in rows] if self.tokens else [])

    def to(self, device: torch.device | str) -> EncodedSet:
        return EncodedSet(*(getattr(self, name).to(device) for name in _TENSOR_FIELDS), tokens=self.tokens)


_TENSOR_FIELDS = ("input_ids", "attention_mask", "positions", "labels", "distances", "n_attractors", "sentence_start")


@dataclass
class AgreementData:
    train: EncodedSet
    test: EncodedSet
    tokenizer: Any  # a ptmlab WordTokenizer whose vocabulary was built from the examples
    label_names: list[str]
    max_len: int
    fingerprint: str  # a hash of every example: part of the cache key, so a changed generator retrains

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def describe(self, per_cell: int = 1, distances: Sequence[int] | None = None) -> str:
        """A few test sentences per (distance, attractors) cell, as the models read them, with the gold label."""
        test = self.test
        lines = [
            f"{len(self.train)} training and {len(test)} test sentences, a vocabulary of {self.vocab_size} words, "
            f"labels {self.label_names}"
        ]
        for distance in distances or sorted(set(test.distances.tolist())):
            for has_attractors in (False, True):
                rows = torch.nonzero((test.distances == distance) & ((test.n_attractors > 0) == has_attractors))
                for i in rows.flatten()[:per_cell].tolist():
                    label, words = self.label_names[int(test.labels[i])], " ".join(test.tokens[i][1:-1])
                    lines.append(f"  d={distance:<2} attractors={int(test.n_attractors[i])}  {label:<9} {words}")
        return "\n".join(lines)


def generate_examples(preset: AgreementPreset, split: str, world: Any = None) -> list:
    """Draw agreement examples from the synthetic world for every (distance, attractors) cell of the preset."""
    from ptmlab.data.world import agreement_examples, make_world

    world = world if world is not None else make_world(seed=preset.world_seed)
    n = preset.n_train_per_cell if split == "train" else preset.n_test_per_cell
    offset = 0 if split == "train" else 500_000  # disjoint seeds for the two splits
    examples = []
    for i, distance in enumerate(preset.distances):
        for j, attractors in enumerate(preset.attractors):
            if attractors and distance < 3:  # an attractor needs room: "near the bridges" is 3 words
                continue
            seed = offset + 1000 * preset.world_seed + 37 * i + j
            examples.extend(agreement_examples(world, n, distance=distance, attractors=bool(attractors), seed=seed))
    return examples


def build_vocab(examples: Sequence) -> Any:
    """A word-level vocabulary (ptmlab's special tokens first, then words by frequency) over the examples' tokens."""
    from ptmlab.data.tokenizers import SPECIAL_TOKENS, WordTokenizer

    counts = Counter(token for example in examples for token in example.tokens)
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for token, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        vocab.setdefault(token, len(vocab))
    return WordTokenizer(vocab, lowercase=False)


def encode_examples(
    examples: Sequence, tokenizer: Any, label_names: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
) -> EncodedSet:
    """[CLS] context tokens [SEP], with the verb replaced by [MASK] so its form cannot give the answer away.

    The model must find the verb's number from the rest of the sentence: the subject noun `distance` words to its left,
    perhaps with attractor nouns of the other number in between. `contexts` (one token list per example, may be empty)
    is prepended: a preceding sentence moves the subject to a varying position."""
    from ptmlab.data.batching import pad_batch

    if not examples:
        raise InputError("No agreement examples to encode.", fix="Generate some with agreement_examples(world, n).")
    contexts = contexts if contexts is not None else [[] for _ in examples]
    if len(contexts) != len(examples):
        raise InputError(f"{len(contexts)} contexts for {len(examples)} examples.", fix="Give one context each.")
    index = {name: i for i, name in enumerate(label_names)}
    index.update({label: index[name] for label, name in LABEL_NAMES.items() if name in index})
    rows, shown, columns = [], [], {name: [] for name in _TENSOR_FIELDS[2:]}
    for example, context in zip(examples, contexts):
        tokens = list(example.tokens)
        if not 0 <= example.verb_index < len(tokens):
            raise InputError(
                f"verb_index {example.verb_index} is outside the example's {len(tokens)} tokens.",
                fix="Check the generator: verb_index must point at the verb.",
            )
        tokens[example.verb_index] = tokenizer.mask_token
        tokens = [tokenizer.cls_token, *context, *tokens, tokenizer.sep_token]
        rows.append(tokenizer.convert_tokens_to_ids(tokens))
        shown.append(tokens)
        start = 1 + len(context)  # after [CLS] and the context
        columns["positions"].append(start + example.verb_index)
        columns["labels"].append(index[example.label] if example.label in index else index[str(example.label)])
        columns["distances"].append(int(example.distance))
        columns["n_attractors"].append(int(example.n_attractors))
        columns["sentence_start"].append(start)
    ids, mask = pad_batch(rows, tokenizer.pad_id)
    return EncodedSet(ids, mask, *(torch.tensor(values) for values in columns.values()), shown)


def draw_contexts(examples: Sequence, probability: float, seed: int) -> list[list[str]]:
    """For each example, with `probability`, the tokens of another example of the same split as a preceding sentence.

    Without it every subject sits at position 2 ("The chefs ..."), and a Transformer with absolute positions solves
    the task by always attending there, whatever the distance: a shortcut, not long-range agreement."""
    rng = random.Random(seed)
    contexts: list[list[str]] = []
    for i in range(len(examples)):
        if len(examples) > 1 and rng.random() < probability:
            j = rng.randrange(len(examples) - 1)
            contexts.append(list(examples[j if j < i else j + 1].tokens))  # any example but this one
        else:
            contexts.append([])
    return contexts


def _fingerprint(data: EncodedSet) -> str:
    digest = hashlib.sha256()
    for tokens, position, label in zip(data.tokens, data.positions.tolist(), data.labels.tolist()):
        digest.update(("\x1f".join(tokens) + f"|{position}|{label}\n").encode())
    return digest.hexdigest()[:16]


def make_agreement_data(preset: AgreementPreset) -> AgreementData:
    """Train and test examples for every cell, a vocabulary from the training examples, tensors for both splits.

    Test sentences that also occur in the training set are dropped, so test accuracy measures generalisation. Each
    sentence gets a preceding sentence with probability `preset.context_probability` (see `draw_contexts`)."""
    from ptmlab.data.world import make_world

    world = make_world(seed=preset.world_seed)
    train_examples = generate_examples(preset, "train", world)
    seen = {tuple(e.tokens) for e in train_examples}
    test_examples = [e for e in generate_examples(preset, "test", world) if tuple(e.tokens) not in seen]
    if not test_examples:
        raise InputError(
            "Every test example also occurs in the training set.",
            fix="Use more distances or a larger world, or fewer training examples per cell.",
        )
    tokenizer = build_vocab(train_examples)
    label_names = [LABEL_NAMES.get(label, str(label)) for label in sorted({e.label for e in train_examples})]
    p, seed = preset.context_probability, preset.world_seed
    train = encode_examples(train_examples, tokenizer, label_names, draw_contexts(train_examples, p, seed))
    test = encode_examples(test_examples, tokenizer, label_names, draw_contexts(test_examples, p, seed + 1))
    max_len = max(train.input_ids.shape[1], test.input_ids.shape[1])
    return AgreementData(train, test, tokenizer, label_names, max_len, _fingerprint(train) + _fingerprint(test))
