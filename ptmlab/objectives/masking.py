"""MLM's enhancements (survey 3.1.2): BERT's loss and 80/10/10 are kept, only the choice of what to hide changes.

Whole words (Cui et al. 2019), geometric spans (Joshi et al. 2020, SpanBERT), entities (Sun et al. 2019, ERNIE), static
vs dynamic masks (Liu et al. 2019, RoBERTa), and translation LM on sentence pairs (Lample & Conneau 2019, XLM).

Every strategy subclasses `MaskedLM` and overrides only `select()` (which positions to predict); MaskedLM.corrupt then
applies BERT's 80/10/10 per token. (SpanBERT makes the 80/10/10 choice once per span; that needs a hook in MaskedLM
for the replacement draw, which MaskedLM does not offer, so here it stays per token as in BERT's whole-word masking.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict

import torch

from ptmlab.data.tokenizers import SPECIAL_TOKENS, Tokenizer
from ptmlab.errors import InputError
from ptmlab.models.translation import TLMConfig, TranslationLanguageModel, language_and_positions  # noqa: F401  (re-exported)
from ptmlab.objectives.base import Corruption, special_positions
from ptmlab.objectives.mlm import MaskedLM

STRATEGY_NAMES = ("subword", "whole_word", "span", "entity")
SEP_ID = SPECIAL_TOKENS.index("[SEP]")
Unit = tuple[int, int]  # token positions [start, end) of one masked unit (a word, a span of words, an entity)


# ============================================================================ words from word pieces
def word_boundary_tables(tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Two bool tables over the vocabulary: (starts_word, ends_word), read from each tokenizer's piece convention.

    WordPiece marks continuations ('##ing'), BPE here marks word ends ('ing</w>'), Unigram marks word starts ('▁the');
    a word tokenizer's tokens are all whole words. Special tokens are words of their own."""
    size = max(tokenizer.vocab.values()) + 1
    starts, ends = torch.zeros(size, dtype=torch.bool), torch.zeros(size, dtype=torch.bool)
    for token, index in tokenizer.vocab.items():
        if token in SPECIAL_TOKENS or tokenizer.kind == "word":
            starts[index] = ends[index] = True
        elif tokenizer.kind == "bpe":
            ends[index] = token.endswith("</w>")
        elif tokenizer.kind == "unigram":
            starts[index] = token.startswith("▁")
        elif tokenizer.kind == "char":
            starts[index] = ends[index] = token == "▁"  # the space is a word of its own; the next char starts one
        else:  # WordPiece and anything that follows its '##' convention
            starts[index] = not token.startswith("##")
    return starts, ends


def word_starts(
    token_ids: torch.Tensor, starts_word: torch.Tensor, ends_word: torch.Tensor, special_ids: Sequence[int]
) -> torch.Tensor:
    """Bool [batch, seq]: True at the first piece of every (non-special) word.

    A piece begins a word if it says so itself, or if the piece before it ended a word or was a special token (a packed
    block may begin inside a word: that orphan '##piece' is then treated as a word of its own)."""
    special = special_positions(token_ids, list(special_ids))
    after_end = torch.ones_like(special)
    after_end[:, 1:] = ends_word[token_ids[:, :-1]] | special[:, :-1]
    return (starts_word[token_ids] | after_end) & ~special


def word_groups(tokens: Sequence[str]) -> list[int]:
    """The word index of every WordPiece token ('##' continues a word), -1 for special tokens: a readable reference."""
    groups, word = [], -1
    for i, token in enumerate(tokens):
        if token in SPECIAL_TOKENS:
            groups.append(-1)
            continue
        if not token.startswith("##") or i == 0 or groups[-1] == -1:
            word += 1
        groups.append(word)
    return groups


def _row_words(starts: list[bool], special: list[bool]) -> list[tuple[int, int, int]]:
    """(start, end, segment) of every word in one row; the segment number grows at each special token, so that spans
    never cross a [SEP] into the next sentence."""
    words: list[tuple[int, int, int]] = []
    segment, open_start = 0, None
    for t, (is_start, is_special) in enumerate(zip(starts, special)):
        if is_special or is_start:
            if open_start is not None:
                words.append((open_start, t, segment))
            open_start = None if is_special else t
            segment += int(is_special)
    if open_start is not None:
        words.append((open_start, len(starts), segment))
    return words


def _row_entities(span_ids: list[int], special: list[bool]) -> list[Unit]:
    """[start, end) of every run of one non-zero span id (an entity mention) in one row."""
    runs: list[Unit] = []
    start, current = 0, 0
    for t, (span_id, is_special) in enumerate([*zip(span_ids, special), (0, True)]):
        span_id = 0 if is_special else span_id
        if span_id != current:
            if current != 0:
                runs.append((start, t))
            start, current = t, span_id
    return runs


# ============================================================================ entity spans riding with the tokens
def split_spans(
    token_ids: torch.Tensor, span_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Accept token ids [B, T] (with an optional span_ids [B, T]) or both stacked as [B, 2, T]: see `with_spans`."""
    if token_ids.dim() == 3:
        if token_ids.shape[1] != 2 or span_ids is not None:
            raise InputError(
                f"Expected [batch, 2, seq] (token ids and span ids), got {tuple(token_ids.shape)}.",
                fix="Stack them with with_spans(token_ids, span_ids), or pass span_ids= separately.",
            )
        return token_ids[:, 0].long(), token_ids[:, 1].long()
    if token_ids.dim() != 2:
        raise InputError(f"Expected token ids [batch, seq], got {tuple(token_ids.shape)}.", fix="Add a batch dim.")
    if span_ids is not None and span_ids.shape != token_ids.shape:
        raise InputError("span_ids must have the shape of token_ids.", fix="Build both with pack_with_spans().")
    return token_ids.long(), None if span_ids is None else span_ids.long()


def with_spans(token_ids: torch.Tensor, span_ids: torch.Tensor) -> torch.Tensor:
    """Stack token ids and span ids [B, T] into one [B, 2, T] tensor.

    This is how entity spans ride through the Trainer untouched: it only indexes rows (`data[rows]`) and hands the rows
    to `corrupt()`, which splits them again. Span id 0 means 'no entity'; each mention has its own id."""
    if token_ids.shape != span_ids.shape:
        raise InputError("token_ids and span_ids must have the same shape.", fix="Build both with pack_with_spans().")
    return torch.stack([token_ids.long(), span_ids.long()], dim=1)


def encode_with_spans(tokenizer: Tokenizer, text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Token ids of `text` (no [CLS]/[SEP]) and, per token, 0 or k for the k-th character span (1-based).

    The text is cut at the span edges and each piece tokenized alone; for WordPiece and BPE, whose pre-tokenizer splits
    at spaces and punctuation, this gives the same tokens as tokenizing the whole text (tested on the world)."""
    ids: list[int] = []
    labels: list[int] = []
    position = 0
    pieces = []
    for k, (start, end) in enumerate(sorted(spans), start=1):
        if start < position or end <= start or end > len(text):
            raise InputError(
                f"Span ({start}, {end}) overlaps another or lies outside the text.",
                fix="Pass sorted, non-overlapping (start, end) character offsets.",
            )
        pieces += [(text[position:start], 0), (text[start:end], k)]
        position = end
    for piece, label in [*pieces, (text[position:], 0)]:
        piece_ids = tokenizer.encode(piece, add_special_tokens=False) if piece.strip() else []
        ids += piece_ids
        labels += [label] * len(piece_ids)
    return ids, labels


def pack_with_spans(
    tokenizer: Tokenizer, sentences: Sequence[tuple[str, Sequence[tuple[int, int]]]], block_len: int
) -> torch.Tensor:
    """Like `ptmlab.data.batching.pack_sentences` (the same token rows), plus the span ids: a [n_blocks, 2, block_len]
    tensor. `sentences` holds (text, [(start, end) character spans]); every mention gets its own id across the corpus."""
    if block_len < 4:
        raise InputError(f"block_len={block_len} is too short.", fix="Use at least 8 tokens per block.")
    stream: list[int] = []
    span_stream: list[int] = []
    next_id = 0
    for text, spans in sentences:
        ids, labels = encode_with_spans(tokenizer, text, spans)
        if ids:
            stream += ids + [tokenizer.sep_id]
            span_stream += [0 if label == 0 else next_id + label for label in labels] + [0]
            next_id += len(spans)
    body = block_len - 2
    n_blocks = len(stream) // body
    if n_blocks == 0:
        raise InputError(
            f"The text has {len(stream)} tokens: not enough for one block of {block_len}.",
            fix="Give more text, or use a shorter block length.",
        )

    def frame(values: list[int], first: int, last: int) -> torch.Tensor:
        rows = torch.tensor(values[: n_blocks * body]).view(n_blocks, body)
        return torch.cat([torch.full((n_blocks, 1), first), rows, torch.full((n_blocks, 1), last)], 1)

    return with_spans(frame(stream, tokenizer.cls_id, tokenizer.sep_id), frame(span_stream, 0, 0))


_SENTENCE_OPENERS = set(
    "The A An In On At By He She It They We I This His Her Its Their After Before According Born As From When".split()
)


def guess_entity_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of runs of capitalised words ('Otto Blackwood', 'University of Zenmarch'): a crude stand-in for
    the NER tagger ERNIE used, for sentences without gold spans (your own). A capitalised word that only starts a
    sentence is skipped, and so is a leading 'The', 'In', 'He', ... before a name."""
    spans = []
    for match in re.finditer(r"[A-Z][\w-]*(?:\s+(?:(?:of|the|de|van)\s+)*[A-Z][\w-]*)*", text):
        start, end = match.span()
        words = match.group().split()
        sentence_start = not text[:start].strip() or text[:start].rstrip().endswith((".", "!", "?", ":"))
        if sentence_start and words[0] in _SENTENCE_OPENERS:
            words = words[1:]
            start = end - len(" ".join(words)) if words else end
        elif sentence_start and len(words) == 1:
            continue
        if words and words[0] not in ("of", "the"):
            spans.append((start, end))
    return spans


# ============================================================================ masking strategies
class _UnitMasking(MaskedLM):
    """Shared machinery: choose whole units (words, spans, entities) until about mask_prob of the tokens are chosen.

    As in BERT's code (Google's create_pretraining_data.py): the budget per row is max(1, round(mask_prob * n)) tokens
    for n maskable tokens; a unit that would overflow the budget is skipped, unless nothing is chosen yet (so a short
    sentence still gets one whole word). Subclasses implement `pick(words, entities, budget, generator)`."""

    def __init__(
        self, vocab_size: int, starts_word: torch.Tensor | None = None, ends_word: torch.Tensor | None = None, **kwargs
    ):
        super().__init__(vocab_size, **kwargs)
        if starts_word is None:  # no tables: every token is a word (a word-level vocabulary)
            starts_word = torch.ones(vocab_size, dtype=torch.bool)
        self.starts_word = starts_word.bool()
        self.ends_word = torch.zeros_like(self.starts_word) if ends_word is None else ends_word.bool()
        if len(self.starts_word) < vocab_size or len(self.ends_word) < vocab_size:
            raise InputError(
                "The word tables are shorter than the vocabulary.", fix="Build them with from_tokenizer()."
            )

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, **kwargs):
        """The strategy for this tokenizer's vocabulary (its word-piece convention, [MASK] id and special ids)."""
        kwargs.setdefault("mask_id", tokenizer.mask_id)
        kwargs.setdefault("special_ids", tuple(tokenizer.special_ids))
        return cls(tokenizer.vocab_size, *word_boundary_tables(tokenizer), **kwargs)

    def pick(self, words: list, entities: list[Unit], budget: int, generator: torch.Generator) -> list[Unit]:
        """The units of one row: words are (start, end, segment), entities (start, end), both in token positions."""
        raise NotImplementedError

    def budget(self, n_maskable: int) -> int:
        return 0 if n_maskable == 0 else max(1, round(self.mask_prob * n_maskable))

    def select_units(
        self, token_ids: torch.Tensor, generator: torch.Generator, span_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """LongTensor [B, T]: for each chosen token the position where its unit starts, -1 for tokens not chosen."""
        token_ids, span_ids = split_spans(token_ids, span_ids)
        special = special_positions(token_ids, self.special_ids)
        starts = word_starts(token_ids, self.starts_word, self.ends_word, self.special_ids)
        unit_start = torch.full(token_ids.shape, -1, dtype=torch.long)
        span_rows = span_ids.tolist() if span_ids is not None else [None] * len(token_ids)
        for row, (row_starts, row_special, row_spans) in enumerate(zip(starts.tolist(), special.tolist(), span_rows)):
            words = _row_words(row_starts, row_special)
            entities = _row_entities(row_spans, row_special) if row_spans is not None else []
            budget = self.budget(len(row_special) - sum(row_special))
            for start, end in self.pick(words, entities, budget, generator) if words else []:
                unit_start[row, start:end] = start
        return unit_start.to(token_ids.device)

    def select(self, token_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.select_units(token_ids, generator) >= 0


def _fits(masked: int, size: int, budget: int) -> bool:
    return masked + size <= budget or masked == 0


class WholeWordMasking(_UnitMasking):
    """Whole-word masking (Cui et al. 2019; BERT's 2019 update): all pieces of a word are masked together.

    Words are taken in a random order and added while they fit the budget, as Google's create_pretraining_data.py does
    with --do_whole_word_mask; the 80/10/10 choice stays per token, as there."""

    name = "whole_word"
    paper = "Cui et al. 2019 (whole-word masking); Devlin et al. 2019, BERT"
    idea = "Mask every piece of a word together, so '##wood' cannot be guessed from 'black' next to it."

    def pick(self, words, entities, budget, generator):
        units, masked = [], 0
        for i in torch.randperm(len(words), generator=generator).tolist():
            size = words[i][1] - words[i][0]
            if masked < budget and _fits(masked, size, budget):
                units.append(words[i][:2])
                masked += size
        return units


def span_length_distribution(p: float = 0.2, max_len: int = 10) -> torch.Tensor:
    """SpanBERT's span lengths in words: Geometric(p) on 1..max_len, renormalised (their code), mean 3.8 for p=0.2."""
    if not 0 < p <= 1 or max_len < 1:
        raise InputError(f"Need 0 < p <= 1 and max_len >= 1, got p={p}, max_len={max_len}.", fix="SpanBERT: 0.2, 10.")
    lengths = torch.arange(1, max_len + 1, dtype=torch.float64)
    weights = p * (1 - p) ** (lengths - 1)
    return weights / weights.sum()


class SpanMasking(_UnitMasking):
    """SpanBERT's span masking (Joshi et al. 2020): contiguous spans of whole words, lengths ~ Geometric(0.2) clipped
    at 10 (mean 3.8 words), each starting at a random word, until 15% of the tokens are chosen.

    A span stops early at a [SEP] (it never crosses into the next sentence), at a word already masked, or when the next
    word would overflow the budget."""

    name = "span"
    paper = "Joshi et al. 2020, SpanBERT"
    idea = "Mask contiguous spans of whole words with geometric lengths (mean 3.8), not scattered tokens."

    def __init__(
        self, vocab_size, starts_word=None, ends_word=None, *, geometric_p: float = 0.2, max_span: int = 10, **kwargs
    ):
        super().__init__(vocab_size, starts_word, ends_word, **kwargs)
        self.length_probs = span_length_distribution(geometric_p, max_span).float()

    def pick(self, words, entities, budget, generator):
        attempts = 2 * budget + 16  # every attempt that lands on a free word adds at least one
        lengths = (torch.multinomial(self.length_probs, attempts, replacement=True, generator=generator) + 1).tolist()
        anchors = torch.randint(len(words), (attempts,), generator=generator).tolist()
        taken = [False] * len(words)
        units, masked = [], 0
        for length, first in zip(lengths, anchors):
            if masked >= budget:
                break
            last = first - 1
            for w in range(first, min(first + length, len(words))):
                size = words[w][1] - words[w][0]
                if taken[w] or words[w][2] != words[first][2] or not _fits(masked, size, budget):
                    break
                taken[w], masked, last = True, masked + size, w
            if last >= first:
                units.append((words[first][0], words[last][1]))
        return units


class EntityMasking(_UnitMasking):
    """Entity-level masking (Sun et al. 2019, ERNIE from Baidu): whole gold entity mentions are masked together.

    Needs per-token span ids (0 = no entity, one id per mention) stacked with the tokens as [B, 2, T] (`with_spans`,
    `pack_with_spans`), which is how they pass through the Trainer. As in SpanBERT's 'named entities' ablation, each
    pick is an entity with probability `entity_share` (0.5) and a random whole word otherwise, until the 15% budget.
    Without span ids it is whole-word masking."""

    name = "entity"
    paper = "Sun et al. 2019, ERNIE (Baidu); Joshi et al. 2020, SpanBERT Table 6"
    idea = "Mask whole named entities ('Otto Blackwood'), so the model must recall them from the context."
    uses_spans = True

    def __init__(self, vocab_size, starts_word=None, ends_word=None, *, entity_share: float = 0.5, **kwargs):
        super().__init__(vocab_size, starts_word, ends_word, **kwargs)
        if not 0 <= entity_share <= 1:
            raise InputError(f"entity_share={entity_share} is not a probability.", fix="Use a value in [0, 1].")
        self.entity_share = entity_share
        self._span_ids: torch.Tensor | None = None

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        # Not a new corruption: it only unstacks the span ids, which MaskedLM.corrupt would not know what to do with.
        tokens, self._span_ids = split_spans(token_ids)
        try:
            return super().corrupt(tokens, generator, attention_mask)
        finally:
            self._span_ids = None

    def select_units(self, token_ids, generator, span_ids=None):
        if span_ids is None and token_ids.dim() == 2 and self._span_ids is not None:
            span_ids = self._span_ids
        return super().select_units(token_ids, generator, span_ids)

    def pick(self, words, entities, budget, generator):
        attempts = 3 * budget + 16
        coins, picks = torch.rand(2, attempts, generator=generator).tolist()
        taken: set[int] = set()
        units, masked = [], 0
        for coin, pick in zip(coins, picks):
            if masked >= budget:
                break
            free = [e for e in entities if not taken.intersection(range(*e))]
            start, end = (
                free[int(pick * len(free))] if coin < self.entity_share and free else words[int(pick * len(words))][:2]
            )
            if not taken.intersection(range(start, end)) and _fits(masked, end - start, budget):
                taken.update(range(start, end))
                units.append((start, end))
                masked += end - start
        return units


class StaticMasking(MaskedLM):
    """Static masking, as in the original BERT: each example's mask is fixed, not redrawn every time it is seen.

    The mask of a row is drawn by `strategy` with a generator seeded from a hash of the row's content (plus `salt`), so
    the same example always gets the same mask, whichever batch it lands in. BERT duplicated its data `n_copies` = 10
    times with different masks; n_copies > 1 picks one of that many fixed masks at random (from the dynamic generator).
    RoBERTa (Liu et al. 2019) redraws the mask every time instead: that is `strategy` used directly (dynamic)."""

    paper = "Devlin et al. 2019, BERT (static); Liu et al. 2019, RoBERTa (dynamic)"
    idea = "Fix each example's mask once: repeated epochs then show the same masked positions again."

    def __init__(self, strategy: MaskedLM, n_copies: int = 1, salt: int = 0):
        s = strategy
        super().__init__(s.vocab_size, s.mask_prob, s.mask_ratio, s.random_ratio, s.mask_id, s.special_ids)
        if n_copies < 1:
            raise InputError(f"n_copies={n_copies}.", fix="Use 1 (fully static) or more (BERT used 10).")
        self.strategy, self.n_copies, self.salt = strategy, n_copies, salt
        self.uses_spans = getattr(strategy, "uses_spans", False)
        self.name = f"static-{strategy.name}" + (f"x{n_copies}" if n_copies > 1 else "")

    def row_seed(self, row: torch.Tensor, copy: int = 0) -> int:
        """The seed of one example's mask: a hash of its token ids (and span ids), the copy number and the salt."""
        key = f"{self.salt}:{copy}".encode()
        digest = hashlib.blake2b(row.detach().cpu().long().numpy().tobytes(), digest_size=8, key=key).digest()
        return int.from_bytes(digest, "little") & (2**63 - 1)

    def corrupt(self, token_ids, generator, attention_mask=None) -> Corruption:
        rows = token_ids.long()
        if rows.dim() == 3 and not self.uses_spans:  # span ids the inner strategy cannot use
            rows = rows[:, 0]
        copies = torch.randint(0, self.n_copies, (len(rows),), generator=generator).tolist()
        parts = [
            self.strategy.corrupt(
                row[None],
                torch.Generator().manual_seed(self.row_seed(row, copy)),
                None if attention_mask is None else attention_mask[i : i + 1],
            )
            for i, (row, copy) in enumerate(zip(rows, copies))
        ]
        return _concat(parts)

    def select(self, token_ids, generator) -> torch.Tensor:
        return self.corrupt(token_ids, generator).loss_mask

    def build_model(self, config):
        return self.strategy.build_model(config)


def _concat(parts: list[Corruption]) -> Corruption:
    """One Corruption from per-row ones (every field concatenated along the batch)."""
    fields = {}
    for name in ("input_ids", "targets", "loss_mask", "attention_mask", "record", "original_ids", "decoder_input_ids"):
        values = [getattr(p, name) for p in parts]
        fields[name] = None if values[0] is None else torch.cat(values)
    return Corruption(**fields, extra={k: torch.cat([p.extra[k] for p in parts]) for k in parts[0].extra})


def make_strategy(name: str, tokenizer: Tokenizer, mask_prob: float = 0.15, **kwargs) -> MaskedLM:
    """One of STRATEGY_NAMES ('subword' is BERT's token-level MaskedLM), or 'static' / 'static-<name>'."""
    if name.startswith("static"):
        inner = name.partition("-")[2] or "subword"
        return StaticMasking(make_strategy(inner, tokenizer, mask_prob), **kwargs)
    if name == "subword":
        ids = {"mask_id": tokenizer.mask_id, "special_ids": tuple(tokenizer.special_ids)}
        return MaskedLM(tokenizer.vocab_size, mask_prob, **ids, **kwargs)
    classes = {"whole_word": WholeWordMasking, "span": SpanMasking, "entity": EntityMasking}
    if name not in classes:
        raise InputError(
            f"Unknown masking strategy {name!r}.", fix=f"Use one of {', '.join(STRATEGY_NAMES)}, 'static'."
        )
    return classes[name].from_tokenizer(tokenizer, mask_prob=mask_prob, **kwargs)


def corrupt_data(objective: MaskedLM, data: torch.Tensor, generator: torch.Generator) -> Corruption:
    """Corrupt rows that may carry span ids ([B, 2, T]): strategies that cannot use them get the tokens alone."""
    if data.dim() == 3 and not getattr(objective, "uses_spans", False):
        data = data[:, 0]
    return objective.corrupt(data, generator)


# ============================================================================ translation language modelling (XLM)
class TranslationLM(MaskedLM):
    """Translation language modelling (Lample & Conneau 2019, XLM): BERT's masking on a sentence and its translation
    side by side, '[CLS] english [SEP] chinese [SEP]', so a masked word can be recovered from the other language.

    The corruption and the loss are MLM's (tokens of both languages are masked); what changes is the model: positions
    restart in the second sentence and each token carries a language embedding (both optional)."""

    name = "tlm"
    paper = "Lample & Conneau 2019, XLM"
    idea = "Mask words in a sentence pair made of a sentence and its translation: the other language is a clue."

    def __init__(self, vocab_size: int, *, reset_positions: bool = True, language_embeddings: bool = True, **kwargs):
        super().__init__(vocab_size, **kwargs)
        self.reset_positions, self.language_embeddings = reset_positions, language_embeddings

    def build_model(self, config):
        settings = asdict(config) | {"reset_positions": self.reset_positions}
        settings["n_segments"] = max(config.n_segments, 2) if self.language_embeddings else 0
        return TranslationLanguageModel(TLMConfig(**settings))
