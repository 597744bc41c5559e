"""Exercises for chapter 02: write BPE's pieces yourself (pair counts, one merge, the learning loop, encoding), then
measure the out-of-vocabulary rate of Chinese characters vs words.

Checked against ptmlab's reference implementation (Sennrich et al. 2016, Fig. 1) by properties, so any correct tie-break
passes."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from ptmlab.chapters import tokenization as chapter
from ptmlab.data import bpe
from ptmlab.exercises.base import Exercise

CLASSIC = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al. 2016's toy dictionary


def _classic_vocab() -> dict[tuple[str, ...], int]:
    return {bpe.word_to_symbols(w): f for w, f in CLASSIC.items()}


def _random_vocab(seed: int = 0, n_words: int = 40) -> dict[tuple[str, ...], int]:
    rng = random.Random(seed)
    words = {"".join(rng.choice("abcde") for _ in range(rng.randint(1, 7))) for _ in range(n_words)}
    return {bpe.word_to_symbols(w): rng.randint(1, 9) for w in sorted(words)}


def _small_corpus_freqs() -> Counter:
    text = (
        "the lowest newer wider lower newest widest low slow slower slowest new news renew fewer fewest "
        "the tokenizer learns to merge the most frequent pairs of symbols into new symbols"
    )
    rng = random.Random(1)
    words = text.split()
    return Counter(rng.choice(words) for _ in range(600))


class CountPairs(Exercise):
    title = "Count the pairs"
    task = (
        "Write count_pairs(vocab) -> dict: vocab maps a word's symbols (a tuple like ('l', 'o', 'w</w>')) to its "
        "frequency; return how often each adjacent pair of symbols occurs, weighted by the word's frequency."
    )
    hints = (
        "Loop over vocab.items(); for each word, zip(symbols, symbols[1:]) gives its adjacent pairs.",
        "Add the word's frequency (not 1) for each occurrence; a word with the same pair twice counts it twice.",
    )
    solution_code = """from collections import Counter

def count_pairs(vocab):
    pairs = Counter()
    for symbols, freq in vocab.items():
        for left, right in zip(symbols, symbols[1:]):
            pairs[left, right] += freq
    return pairs"""

    def test(self, answer: Any) -> None:
        got = dict(answer(_classic_vocab()))
        self.expect(
            got.get(("e", "s")) == 9,
            f"('e', 's') occurs 6 times in newest + 3 in widest = 9; you have {got.get(('e', 's'))}.",
        )
        self.expect(got.get(("l", "o")) == 7, f"('l', 'o') should be 5 + 2 = 7; you have {got.get(('l', 'o'))}.")
        repeated = dict(answer({("a", "a", "a"): 4}))
        self.expect(repeated.get(("a", "a")) == 8, "In ('a', 'a', 'a') the pair ('a', 'a') occurs twice: 2 x 4 = 8.")
        vocab = _random_vocab()
        expected = {p: c for p, c in bpe.count_pairs(vocab).items() if c}
        got = {p: c for p, c in dict(answer(vocab)).items() if c}
        self.expect(got == expected, "Your counts differ from the reference on a random vocabulary.")


class MergePair(Exercise):
    title = "Merge one pair"
    task = (
        "Write merge_pair(symbols, pair) -> tuple: replace every occurrence of the two adjacent symbols `pair` by "
        "their concatenation, scanning left to right (occurrences do not overlap)."
    )
    hints = (
        "Walk with an index i; if symbols[i], symbols[i + 1] equal the pair, append the merged symbol and jump by 2.",
        "('a', 'a', 'a') merged with ('a', 'a') gives ('aa', 'a'), not ('aa', 'aa').",
    )
    solution_code = """def merge_pair(symbols, pair):
    merged, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == tuple(pair):
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)"""

    def test(self, answer: Any) -> None:
        cases = [
            (("n", "e", "w", "e", "s", "t</w>"), ("e", "s"), ("n", "e", "w", "es", "t</w>")),
            (("a", "a", "a"), ("a", "a"), ("aa", "a")),
            (("a", "b", "a", "b"), ("a", "b"), ("ab", "ab")),
            (("l", "o", "w</w>"), ("o", "x"), ("l", "o", "w</w>")),
            (("x",), ("x", "x"), ("x",)),
        ]
        for symbols, pair, expected in cases:
            got = tuple(answer(symbols, pair))
            self.expect(got == expected, f"merge_pair({symbols}, {pair}) should be {expected}, got {got}.")


class LearnMerges(Exercise):
    title = "Learn BPE merges"
    task = (
        "Write learn(word_freqs, num_merges) -> list of pairs: start from word_to_symbols(word) for each word, then "
        "repeat: count pairs, take a most frequent one, merge it everywhere, record it. (Use your two functions, or "
        "ptmlab.data.bpe.count_pairs / merge_pair.)"
    )
    hints = (
        "vocab = {bpe.word_to_symbols(w): f for w, f in word_freqs.items()}; then loop num_merges times.",
        "best = max(pairs, key=pairs.get); vocab = {merge_pair(s, best): f for s, f in vocab.items()}.",
        "Stop early when no pair is left (every word is one symbol).",
    )
    solution_code = """from ptmlab.data import bpe

def learn(word_freqs, num_merges):
    vocab = {bpe.word_to_symbols(w): f for w, f in word_freqs.items()}
    merges = []
    for _ in range(num_merges):
        pairs = bpe.count_pairs(vocab)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        merges.append(best)
        vocab = {bpe.merge_pair(s, best): f for s, f in vocab.items()}
    return merges"""

    def test(self, answer: Any) -> None:
        for freqs, n in ((CLASSIC, 20), (_small_corpus_freqs(), 40)):
            merges = [tuple(m) for m in answer(dict(freqs), n)]
            self.expect(len(merges) <= n, f"Asked for {n} merges, got {len(merges)}.")
            # replay: each merge must be a most frequent pair at its step (any tie-break is fine)
            vocab = {bpe.word_to_symbols(w): f for w, f in freqs.items()}
            for step, pair in enumerate(merges):
                pairs = bpe.count_pairs(vocab)
                self.expect(pair in pairs, f"Merge {step} {pair} is not a pair present in the data at that point.")
                top = max(pairs.values())
                self.expect(
                    pairs[pair] == top,
                    f"Merge {step} {pair} occurs {pairs[pair]} times, but a pair occurring {top} times exists.",
                )
                vocab = {bpe.merge_pair(s, pair): f for s, f in vocab.items()}
            self.expect(
                len(merges) == n or not bpe.count_pairs(vocab),
                f"You stopped after {len(merges)} merges although pairs were left to merge.",
            )
        first = [tuple(m) for m in answer(dict(CLASSIC), 1)]
        self.expect(
            first[0] in {("e", "s"), ("s", "t</w>")},
            f"On the classic example the first merge is e+s or s+t</w> (both 9), not {first[0]}.",
        )


class EncodeWord(Exercise):
    title = "Encode a new word"
    task = (
        "Write encode(word, merges) -> list of symbols: start from word_to_symbols(word) and apply the learned merges "
        "in the order they were learned."
    )
    hints = (
        "The simplest correct version: for pair in merges: symbols = merge_pair(symbols, pair).",
        "Faster (optional): repeatedly merge the adjacent pair with the lowest rank in the merge list.",
    )
    solution_code = """from ptmlab.data import bpe

def encode(word, merges):
    symbols = bpe.word_to_symbols(word)
    for pair in merges:
        symbols = bpe.merge_pair(symbols, pair)
    return list(symbols)"""

    def test(self, answer: Any) -> None:
        model = bpe.learn_bpe(_small_corpus_freqs(), 60, min_frequency=1)
        words = ["lowest", "slowly", "renewer", "tokenizers", "newest", "x", "merge", "frequently"]
        for word in words:
            got = list(answer(word, list(model.merges)))
            expected = list(model.encode_word(word))
            self.expect(got == expected, f"encode({word!r}) should be {expected}, got {got}.")
            self.expect("".join(got).replace("</w>", "") == word, f"The symbols of {word!r} must spell the word again.")


class ChineseOOV(Exercise):
    title = "Characters vs words in Chinese"
    task = (
        "Write oov_rate(train_units, test_units) -> float: train_units and test_units are lists of sentences, each a "
        "list of units (characters or words). Return the share of test units never seen in training."
    )
    hints = (
        "Build a set of every unit in train_units, then count test units outside it.",
        "Divide by the number of test units (running units, not distinct ones).",
    )
    solution_code = """def oov_rate(train_units, test_units):
    seen = {u for sentence in train_units for u in sentence}
    units = [u for sentence in test_units for u in sentence]
    return sum(u not in seen for u in units) / len(units)"""

    def test(self, answer: Any) -> None:
        self.expect_close(answer([["a", "b"]], [["a", "c"], ["b", "b"]]), 0.25, 1e-9, "OOV rate on a toy case")
        samples = chapter.chinese_samples()
        train, test = samples[:-10], samples[-10:]
        for name, units in (
            ("characters", lambda rows: [list(s) for s, _ in rows]),
            ("words", lambda rows: [w for _, w in rows]),
        ):
            expected = chapter.unit_vocabulary_study(units(train), units(test))["oov_rate"]
            self.expect_close(answer(units(train), units(test)), expected, 1e-9, f"OOV rate of {name}")
