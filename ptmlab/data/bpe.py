"""Byte-pair encoding from scratch: learn merges from a word-frequency table, then segment words by replaying them.

Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with Subword Units" (ACL), Section 3.2 and Fig. 1.

The algorithm in four lines: split every word into characters (the last one marked with "</w>"); count adjacent symbol
pairs over the corpus, weighted by word frequency; merge the most frequent pair everywhere into a new symbol; repeat.
The ordered list of merges *is* the tokenizer: `encode` replays it on new words.

Conventions (the same as subword-nmt >= 0.2 and Hugging Face `tokenizers`, so the two can be compared merge by merge):

- the end-of-word marker is glued to the last character ("l o w</w>"), so "est</w>" (a word ending) and "est" (inside a
  word) are different symbols. Sennrich et al.'s Fig. 1 uses a separate "</w>" symbol instead; the idea is the same.
- **tie-break rule**: among the most frequent pairs, take the one whose *left* symbol entered the vocabulary first, then
  the one whose *right* symbol did. Symbols enter in this order: characters by code point, then end-of-word characters by
  code point, then merged symbols in the order they were created. Hugging Face uses the same rule (ties go to the
  smallest token ids) except that it numbers the end-of-word characters in hash-map order, so the two can still differ
  on ties that involve those.

Also here: the measurements chapter 02 plots (OOV rate and sequence length of any tokenizer on held-out text). The
chapter's own parts (presets, the vocabulary sweep, the Chinese study, rare words) are in ptmlab.chapters.tokenization."""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ptmlab.data.tokenizers import SPECIAL_TOKENS, UNK, normalize
from ptmlab.errors import DataError, InputError

END_OF_WORD = "</w>"
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)  # the same words as ptmlab's word tokenizer
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")

Pair = tuple[str, str]
Symbols = tuple[str, ...]


# ----------------------------------------------------------------------------- step 1: words and their frequencies
def pretokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into words and punctuation marks (BPE never merges across a word boundary)."""
    return _WORD_RE.findall(normalize(text, lowercase))


def word_frequencies(texts: Iterable[str], lowercase: bool = True) -> Counter:
    """The word frequency table BPE learns from: {"lower": 2, "newest": 6, ...}."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(pretokenize(text, lowercase))
    return counts


def word_to_symbols(word: str) -> Symbols:
    """'low' -> ('l', 'o', 'w</w>'): characters, the last one marked as the end of the word."""
    if not word:
        return ()
    return (*word[:-1], word[-1] + END_OF_WORD)


def symbols_to_word(symbols: Sequence[str]) -> str:
    return "".join(symbols).replace(END_OF_WORD, "")


# ----------------------------------------------------------------------------- step 2: count pairs, merge one
def count_pairs(vocab: Mapping[Symbols, int]) -> Counter:
    """Frequency of every adjacent symbol pair, each occurrence weighted by the frequency of its word."""
    pairs: Counter = Counter()
    for symbols, freq in vocab.items():
        for left, right in zip(symbols, symbols[1:]):
            pairs[left, right] += freq
    return pairs


def merge_pair(symbols: Sequence[str], pair: Pair) -> Symbols:
    """Replace every occurrence of `pair` in `symbols` by one merged symbol, scanning left to right.

    ('a', 'a', 'a') with ('a', 'a') gives ('aa', 'a'): occurrences do not overlap."""
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def initial_alphabet(words: Iterable[str]) -> list[str]:
    """The starting symbols in vocabulary order: characters by code point, then end-of-word characters by code point."""
    inner, final = set(), set()
    for word in words:
        symbols = word_to_symbols(word)
        inner.update(symbols[:-1])
        final.update(symbols[-1:])
    return sorted(inner) + sorted(final, key=lambda s: s[: -len(END_OF_WORD)])


# ----------------------------------------------------------------------------- the learned model
@dataclass
class BPE:
    """A learned BPE model: the ordered merges, their counts at merge time, and what was recorded while learning.

    `tokenize(text)` / `encode_word(word, n_merges)` replay the first `n_merges` merges (all by default)."""

    alphabet: list[str]
    merges: list[Pair]
    counts: list[int] = field(default_factory=list)  # frequency of each pair when it was merged
    corpus_symbols: list[int] = field(default_factory=list)  # total symbols in the corpus after 0, 1, ... merges
    corpus_words: int = 0  # running words in the training corpus
    snapshots: dict[str, list[tuple[int, Symbols]]] = field(default_factory=dict)  # word -> [(step, segmentation)]
    lowercase: bool = True

    def __post_init__(self) -> None:
        self._rank = {}
        for i, pair in enumerate(self.merges):
            self._rank.setdefault(pair, i)  # a pair merged twice counts from its first merge
        # merges only ever combine known symbols, so a character unseen in training stays alone and is unknown
        self._known = set(self.alphabet) | {a + b for a, b in self.merges}
        self._cache: dict[tuple[str, int], Symbols] = {}

    @property
    def kind(self) -> str:
        return "bpe (ours)"

    def vocabulary(self, n_merges: int | None = None) -> list[str]:
        """The symbols after `n_merges` merges: the alphabet, then each merged symbol once, in creation order."""
        n = len(self.merges) if n_merges is None else n_merges
        vocab = dict.fromkeys(self.alphabet)
        for left, right in self.merges[:n]:
            vocab.setdefault(left + right)
        return list(vocab)

    def vocab_size(self, n_merges: int | None = None) -> int:
        return len(self.vocabulary(n_merges))

    # -- encoding -----------------------------------------------------------------------------
    def encode_word(self, word: str, n_merges: int | None = None) -> Symbols:
        """Segment one word with the first `n_merges` merges.

        Applying the merges one by one in learned order is the definition; this loop gives the same result faster:
        it always merges the present pair with the lowest rank. (A merge can only create pairs that contain its new
        symbol, and those were learned later, so no earlier merge is ever skipped.)"""
        n = len(self.merges) if n_merges is None else max(0, min(n_merges, len(self.merges)))
        key = (word, n)
        if key in self._cache:
            return self._cache[key]
        symbols = word_to_symbols(word)
        while len(symbols) > 1:
            ranks = [self._rank.get(pair, n) for pair in zip(symbols, symbols[1:])]
            best = min(ranks)
            if best >= n:
                break
            symbols = merge_pair(symbols, self.merges[best])
        if len(self._cache) < 200_000:
            self._cache[key] = symbols
        return symbols

    def tokenize(self, text: str, n_merges: int | None = None) -> list[str]:
        """Words -> subword symbols; a symbol outside the vocabulary (a character never seen in training) is [UNK]."""
        tokens: list[str] = []
        for piece in _SPECIAL_RE.split(text):  # special tokens typed in the text ("[MASK]") stay whole
            if piece in SPECIAL_TOKENS:
                tokens.append(piece)
                continue
            for word in pretokenize(piece, self.lowercase):
                tokens.extend(s if s in self._known else UNK for s in self.encode_word(word, n_merges))
        return tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join symbols; each end-of-word marker becomes a space (special tokens stand alone)."""
        text = "".join(f" {t} " if t in SPECIAL_TOKENS else t for t in tokens)
        return " ".join(text.replace(END_OF_WORD, " ").split())

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "kind": "bpe-scratch",
            "alphabet": self.alphabet,
            "merges": [list(p) for p in self.merges],
            "counts": self.counts,
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, data: dict) -> BPE:
        try:
            return cls(
                alphabet=list(data["alphabet"]),
                merges=[(a, b) for a, b in data["merges"]],
                counts=list(data.get("counts", [])),
                lowercase=bool(data.get("lowercase", True)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError("This is not a saved ptmlab BPE model.", fix="Learn it again with learn_bpe().") from err

    def __repr__(self) -> str:
        return f"BPE(merges={len(self.merges)}, vocab_size={self.vocab_size()})"


# ----------------------------------------------------------------------------- learning
def _symbol_order(alphabet: Sequence[str]) -> dict[str, int]:
    return {symbol: i for i, symbol in enumerate(alphabet)}


def learn_bpe_simple(word_freqs: Mapping[str, int], num_merges: int, min_frequency: int = 1) -> list[Pair]:
    """The textbook loop (Sennrich et al. 2016, Fig. 1): recount every pair, merge the best one, repeat.

    Clear but slow (each merge touches the whole vocabulary); `learn_bpe` gives the same merges incrementally."""
    vocab = {word_to_symbols(w): f for w, f in word_freqs.items() if w}
    order = _symbol_order(initial_alphabet(word_freqs))
    merges: list[Pair] = []
    for _ in range(num_merges):
        pairs = count_pairs(vocab)
        if not pairs:
            break
        # most frequent first; ties -> the pair whose symbols entered the vocabulary first (see the module docstring)
        best = min(pairs, key=lambda p: (-pairs[p], order[p[0]], order[p[1]]))
        if pairs[best] < min_frequency:
            break
        merges.append(best)
        order.setdefault(best[0] + best[1], len(order))
        vocab = {merge_pair(symbols, best): freq for symbols, freq in vocab.items()}
    return merges


def learn_bpe(
    texts_or_freqs: Iterable[str] | Mapping[str, int],
    num_merges: int,
    *,
    min_frequency: int = 2,
    track: Sequence[str] = (),
    lowercase: bool = True,
    progress: bool = False,
) -> BPE:
    """Learn `num_merges` BPE merges from sentences (or a ready word-frequency table).

    Same merges as `learn_bpe_simple`, but each merge only revisits the words that contain the merged pair: we keep
    the pair counts, an index pair -> words, and a max-heap of (count, tie-break) that is corrected lazily (a popped
    entry whose count is out of date is pushed back with the current count). Learning stops early when the best
    pair is rarer than `min_frequency` (Hugging Face's default for ptmlab is 2).

    `track`: words whose segmentation is recorded after every merge that changes it (for the merge-by-merge view)."""
    if isinstance(texts_or_freqs, Mapping):
        word_freqs = Counter({w: int(f) for w, f in texts_or_freqs.items() if w and f > 0})
    else:
        word_freqs = word_frequencies(texts_or_freqs, lowercase)
    if not word_freqs:
        raise InputError("No words to learn BPE from.", fix="Pass a non-empty list of sentences.")
    if num_merges < 0:
        raise InputError(f"num_merges must be >= 0, got {num_merges}.", fix="Ask for 0 or more merges.")

    alphabet = initial_alphabet(word_freqs)
    order = _symbol_order(alphabet)
    words = [list(word_to_symbols(w)) for w in word_freqs]
    freqs = list(word_freqs.values())

    pair_counts: Counter = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)  # pair -> indices of the words that (may) contain it
    for i, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)
    heap = [(-count, order[a], order[b], (a, b)) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)

    tracked = {w: word_to_symbols(normalize(w, lowercase)) for w in track}
    snapshots = {w: [(0, s)] for w, s in tracked.items()}
    total_symbols = sum(len(s) * f for s, f in zip(words, freqs))
    merges: list[Pair] = []
    counts: list[int] = []
    corpus_symbols = [total_symbols]

    bar = _progress(num_merges, "BPE merges") if progress else None
    while len(merges) < num_merges and heap:
        neg_count, _, _, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if -neg_count != count:  # stale entry: the pair got rarer since it was pushed
            if count > 0:
                heapq.heappush(heap, (-count, order[pair[0]], order[pair[1]], pair))
            continue
        if count < min_frequency:
            break
        new_symbol = pair[0] + pair[1]
        order.setdefault(new_symbol, len(order))
        new_pairs: set[Pair] = set()
        for i in where.pop(pair):
            old = words[i]
            new = merge_pair(old, pair)
            if len(new) == len(old):  # this word no longer contains the pair
                continue
            freq = freqs[i]
            for p in zip(old, old[1:]):
                pair_counts[p] -= freq
            for p in zip(new, new[1:]):
                pair_counts[p] += freq
                where[p].add(i)
                if new_symbol in p:
                    new_pairs.add(p)
            words[i] = list(new)
            total_symbols -= (len(old) - len(new)) * freq
        for p in new_pairs:  # only pairs holding the new symbol can have grown, and they are all new
            heapq.heappush(heap, (-pair_counts[p], order[p[0]], order[p[1]], p))
        pair_counts.pop(pair, None)
        merges.append(pair)
        counts.append(count)
        corpus_symbols.append(total_symbols)
        step = len(merges)
        for w, symbols in tracked.items():
            merged = merge_pair(symbols, pair)
            if merged != symbols:
                tracked[w] = merged
                snapshots[w].append((step, merged))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return BPE(
        alphabet=alphabet,
        merges=merges,
        counts=counts,
        corpus_symbols=corpus_symbols,
        corpus_words=sum(freqs),
        snapshots=snapshots,
        lowercase=lowercase,
    )


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def segmentation_at(model: BPE, word: str, step: int) -> Symbols:
    """A tracked word's segmentation after `step` merges, read from what `learn_bpe` recorded."""
    history = model.snapshots.get(word)
    if history is None:
        return model.encode_word(normalize(word, model.lowercase), step)
    current = history[0][1]
    for at, symbols in history:
        if at > step:
            break
        current = symbols
    return current


# ----------------------------------------------------------------------------- Hugging Face, for comparison
def hf_bpe_merges(
    texts_or_freqs: Iterable[str] | Mapping[str, int],
    num_merges: int,
    *,
    min_frequency: int = 2,
    lowercase: bool = True,
) -> list[Pair]:
    """The first `num_merges` merges Hugging Face `tokenizers` learns from the same words (same pre-tokenization,
    same end-of-word marker, same `min_frequency`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if isinstance(texts_or_freqs, Mapping):
        freqs = {w: int(f) for w, f in texts_or_freqs.items() if w and f > 0}
    else:
        freqs = dict(word_frequencies(texts_or_freqs, lowercase))
    if not freqs:
        raise InputError("No words to learn BPE from.", fix="Pass a non-empty list of sentences.")
    alphabet = initial_alphabet(freqs)
    n_chars = len({c for w in freqs for c in w})
    n_final = sum(s.endswith(END_OF_WORD) for s in alphabet)
    backend = Tokenizer(models.BPE(end_of_word_suffix=END_OF_WORD))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # our words are already split: feed them as they are
    # HF counts vocabulary entries, not merges, and two merges can build the same string: ask for some slack, then cut.
    trainer = trainers.BpeTrainer(
        vocab_size=n_chars + n_final + num_merges + 64,
        min_frequency=min_frequency,
        end_of_word_suffix=END_OF_WORD,
        show_progress=False,
    )
    backend.train_from_iterator(_repeat_words(freqs), trainer=trainer)
    merges = json.loads(backend.to_str())["model"]["merges"]
    pairs = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in merges]
    return [(a, b) for a, b in pairs][:num_merges]


def _repeat_words(freqs: Mapping[str, int], chunk: int = 2000) -> Iterable[str]:
    """Lines of whitespace-separated words in which every word appears exactly as often as in `freqs`."""
    line: list[str] = []
    for word, freq in freqs.items():
        line.extend([word] * freq)
        if len(line) >= chunk:
            yield " ".join(line)
            line = []
    if line:
        yield " ".join(line)


@dataclass
class MergeAgreement:
    """How two merge lists compare over their first `n` merges."""

    n: int
    common_prefix: int  # merges identical, in the same order, before the first difference
    same_position: float  # share of steps i < n where both merged the same pair
    shared: float  # share of our first n merges that are also among theirs (order ignored)
    first_difference: tuple[int, Pair, Pair] | None  # (step, ours, theirs)
    first_difference_count: int | None  # how often our pair occurred when we merged it
    theirs_later_at: int | None  # where their pair at that step appears in our list (None: not in our first n)

    def summary(self) -> str:
        text = (
            f"first {self.n} merges: identical up to merge {self.common_prefix}; same pair at the same step "
            f"{self.same_position:.1%}; same set {self.shared:.1%}"
        )
        if self.first_difference is not None:
            step, ours, theirs = self.first_difference
            later = f"we merge it at step {self.theirs_later_at}" if self.theirs_later_at is not None else "not in ours"
            text += (
                f"\nfirst difference at step {step}: ours {ours[0]}+{ours[1]} (count {self.first_difference_count}),"
                f" theirs {theirs[0]}+{theirs[1]} ({later})"
            )
        return text


def compare_merges(ours: BPE | Sequence[Pair], theirs: Sequence[Pair], n: int | None = None) -> MergeAgreement:
    """Agreement between two merge lists: identical prefix, same pair at the same step, and set overlap."""
    counts = ours.counts if isinstance(ours, BPE) else []
    ours_list = list(ours.merges if isinstance(ours, BPE) else ours)
    n = min(len(ours_list), len(theirs)) if n is None else min(n, len(ours_list), len(theirs))
    if n == 0:
        raise InputError("No merges to compare.", fix="Learn at least one merge with both tokenizers.")
    a, b = ours_list[:n], list(theirs[:n])
    prefix = next((i for i in range(n) if a[i] != b[i]), n)
    difference, diff_count, later = None, None, None
    if prefix < n:
        difference = (prefix, a[prefix], b[prefix])
        diff_count = counts[prefix] if prefix < len(counts) else None
        later = a.index(b[prefix]) if b[prefix] in a else None
    return MergeAgreement(
        n=n,
        common_prefix=prefix,
        same_position=sum(x == y for x, y in zip(a, b)) / n,
        shared=len(set(a) & set(b)) / n,
        first_difference=difference,
        first_difference_count=diff_count,
        theirs_later_at=later,
    )


def segmentation_agreement(ours: BPE, theirs: Sequence[Pair], words: Mapping[str, int] | Iterable[str]) -> float:
    """Share of (running) words that both merge lists segment identically; `words` is a frequency table or a list."""
    other = BPE(alphabet=ours.alphabet, merges=list(theirs), lowercase=ours.lowercase)
    freqs = words if isinstance(words, Mapping) else Counter(words)
    total = sum(freqs.values())
    if total == 0:
        raise InputError("No words to compare segmentations on.", fix="Pass held-out words.")
    same = sum(f for w, f in freqs.items() if ours.encode_word(w) == other.encode_word(w))
    return same / total


# ----------------------------------------------------------------------------- measuring tokenizers
def tokenize_many(tokenizer, texts: Sequence[str], unk: str = UNK) -> list[list[str]]:
    """Tokenize many texts; uses Hugging Face's batch encoder when the tokenizer has one (much faster).

    A token whose id is the unknown id is reported as [UNK] (Hugging Face's Unigram returns the unknown text itself as
    the token string, which would hide it)."""
    backend = getattr(tokenizer, "backend", None)
    if backend is not None and hasattr(backend, "encode_batch") and not any("[" in t for t in texts):
        lowercase = getattr(tokenizer, "lowercase", True)
        encodings = backend.encode_batch([normalize(t, lowercase) for t in texts], add_special_tokens=False)
        return [_mark_unknown(e, backend.token_to_id(unk), unk) for e in encodings]
    if hasattr(tokenizer, "tokenize"):
        vocab = getattr(tokenizer, "vocab", None)
        if isinstance(vocab, Mapping):  # a ptmlab tokenizer: anything outside its vocabulary is [UNK]
            return [[t if t in vocab else unk for t in tokenizer.tokenize(text)] for text in texts]
        return [tokenizer.tokenize(text) for text in texts]
    if hasattr(tokenizer, "encode_batch"):  # a bare Hugging Face tokenizers.Tokenizer (e.g. a pre-trained one)
        if getattr(tokenizer, "padding", None) or getattr(tokenizer, "truncation", None):
            # pre-trained tokenizer.json files often pad / truncate to the model's length: count real tokens only
            tokenizer = type(tokenizer).from_str(tokenizer.to_str())
            tokenizer.no_padding()
            tokenizer.no_truncation()
        unk_id = tokenizer.token_to_id(unk)
        return [_mark_unknown(e, unk_id, unk) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    raise InputError(f"Cannot tokenize with {type(tokenizer).__name__}.", fix="Pass a ptmlab tokenizer or a BPE model.")


def _mark_unknown(encoding, unk_id: int | None, unk: str) -> list[str]:
    if unk_id is None:
        return list(encoding.tokens)
    return [unk if i == unk_id else t for t, i in zip(encoding.tokens, encoding.ids)]


def oov_rate(tokenizer, texts: Sequence[str], unk: str = UNK) -> float:
    """Share of running words in `texts` that the tokenizer cannot spell without [UNK] (the out-of-vocabulary rate)."""
    freqs = word_frequencies(texts, getattr(tokenizer, "lowercase", True))
    if not freqs:
        raise InputError("No words to measure the OOV rate on.", fix="Pass held-out sentences.")
    words = list(freqs)
    unknown = sum(freqs[w] for w, toks in zip(words, tokenize_many(tokenizer, words)) if unk in toks or not toks)
    return unknown / sum(freqs.values())


def mean_sequence_length(tokenizer, texts: Sequence[str]) -> float:
    """Mean number of tokens per sentence (without [CLS] / [SEP])."""
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise InputError("No sentences to measure.", fix="Pass held-out sentences.")
    return sum(len(toks) for toks in tokenize_many(tokenizer, texts)) / len(texts)


def measure(tokenizer, heldout_texts: Sequence[str], name: str | None = None) -> dict:
    """Held-out OOV rate, tokens per sentence and tokens per word of one tokenizer (ours, ptmlab's or a pre-trained)."""
    sentences = [t for t in heldout_texts if t.strip()]
    n_words = sum(len(pretokenize(t)) for t in sentences)
    mean_length = mean_sequence_length(tokenizer, sentences)
    size = getattr(tokenizer, "vocab_size", None)
    if callable(size):  # our BPE: a method; a bare Hugging Face tokenizer has get_vocab_size() instead
        size = size()
    if size is None and hasattr(tokenizer, "get_vocab_size"):
        size = tokenizer.get_vocab_size()
    return {
        "kind": name or getattr(tokenizer, "kind", type(tokenizer).__name__),
        "requested": None,
        "vocab_size": size,
        "oov_rate": oov_rate(tokenizer, sentences),
        "mean_length": mean_length,
        "tokens_per_word": mean_length * len(sentences) / max(n_words, 1),
        "seconds": 0.0,
    }
