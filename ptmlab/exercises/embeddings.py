"""Exercises for chapter 01 (word embeddings): the noise distribution, subsampling, character n-grams, 3CosAdd.

Each checks properties of the learner's function (Mikolov et al. 2013; Bojanowski et al. 2017), never a stochastic
reference value."""

from __future__ import annotations

from typing import Any

import numpy as np

from ptmlab.exercises.base import Exercise


class NoiseDistributionExercise(Exercise):
    title = "Exercise 1: the negative-sampling noise distribution"
    task = (
        "Write noise_distribution(counts) that returns P_n(w) ∝ count(w)^0.75 as a numpy array summing to 1 "
        "(counts is a numpy array of word counts)."
    )
    hints = (
        "Raise the counts to the power 0.75, then divide by the sum.",
        "Use floats: np.asarray(counts, dtype=float) ** 0.75.",
    )
    solution_code = (
        "def noise_distribution(counts):\n"
        "    weights = np.asarray(counts, dtype=float) ** 0.75\n"
        "    return weights / weights.sum()"
    )

    def test(self, answer: Any) -> None:
        self.expect(callable(answer), "Pass your function itself, e.g. check(noise_distribution).")
        counts = np.array([1000, 100, 10, 1])
        p = np.asarray(answer(counts), dtype=float)
        self.expect(p.shape == (4,), f"Expected one probability per word (shape (4,)), got shape {p.shape}.")
        self.expect_close(p.sum(), 1.0, 1e-6, "The sum of your probabilities")
        unigram = counts / counts.sum()
        self.expect(
            p[-1] > unigram[-1],
            "The rarest word should get MORE mass than its plain frequency: the 3/4 power flattens the distribution.",
        )
        self.expect_close(p[0] / p[1], 10**0.75, 1e-3, "The ratio P(most frequent) / P(second)")


class SubsamplingExercise(Exercise):
    title = "Exercise 2: subsampling frequent words"
    task = (
        "Write keep_probability(counts, t=1e-3) returning, for each word, the probability of keeping one of its "
        "occurrences: sqrt(t / f) with f = count / total (the paper's 1 - P(discard)), capped at 1. "
        "word2vec.c's variant (sqrt(f / t) + 1) * t / f is accepted too."
    )
    hints = (
        "f = counts / counts.sum(); frequent words have large f and should be kept rarely.",
        "np.minimum(1.0, np.sqrt(t / f)) caps rare words at 1.",
    )
    solution_code = (
        "def keep_probability(counts, t=1e-3):\n"
        "    f = np.asarray(counts, dtype=float) / np.sum(counts)\n"
        "    return np.minimum(1.0, np.sqrt(t / f))"
    )

    def test(self, answer: Any) -> None:
        self.expect(callable(answer), "Pass your function itself, e.g. check(keep_probability).")
        # word 0 has frequency 0.1 (100 * t), the last words are rarer than t
        counts = np.array([100_000, 10_000, 1_000, 10, 1] + [177_778] * 4 + [1] * 10)
        keep = np.asarray(answer(counts, 1e-3), dtype=float)
        self.expect(keep.shape == counts.shape, f"Expected shape {counts.shape}, got {keep.shape}.")
        self.expect(bool(np.all((keep >= 0) & (keep <= 1 + 1e-9))), "Probabilities must lie in [0, 1].")
        self.expect(np.allclose(keep[[3, 4]], 1.0), "Words rarer than t must always be kept (probability 1).")
        order = np.argsort(-counts, kind="stable")
        self.expect(bool(np.all(np.diff(keep[order]) >= -1e-12)), "A more frequent word must never be kept more often.")
        f0 = counts[0] / counts.sum()
        paper, c_code = np.sqrt(1e-3 / f0), (np.sqrt(f0 / 1e-3) + 1) * 1e-3 / f0
        self.expect(
            min(abs(keep[0] - paper), abs(keep[0] - c_code)) < 1e-3,
            f"For f = {f0:.3f} and t = 0.001 expected {paper:.4f} (paper) or {c_code:.4f} (word2vec.c), "
            f"got {keep[0]:.4f}.",
        )


class CharNgramExercise(Exercise):
    title = "Exercise 3: fastText's character n-grams"
    task = (
        "Write ngrams(word, n) returning the character n-grams of '<' + word + '>' in order, e.g. "
        "ngrams('where', 3) == ['<wh', 'whe', 'her', 'ere', 're>'] (Bojanowski et al. 2017)."
    )
    hints = (
        "Add the boundary markers first: marked = '<' + word + '>'.",
        "Slide a window of width n: [marked[i:i + n] for i in range(len(marked) - n + 1)].",
    )
    solution_code = (
        "def ngrams(word, n):\n"
        "    marked = '<' + word + '>'\n"
        "    return [marked[i:i + n] for i in range(len(marked) - n + 1)]"
    )

    def test(self, answer: Any) -> None:
        self.expect(callable(answer), "Pass your function itself, e.g. check(ngrams).")
        got = list(answer("where", 3))
        self.expect(got == ["<wh", "whe", "her", "ere", "re>"], f"ngrams('where', 3) gave {got}.")
        self.expect(
            list(answer("her", 3)) == ["<he", "her", "er>"],
            "The n-gram 'her' of 'where' and the word '<her>' differ thanks to the markers: "
            f"ngrams('her', 3) gave {list(answer('her', 3))}.",
        )
        self.expect(list(answer("a", 3)) == ["<a>"], "A one-letter word has exactly one 3-gram: '<a>'.")
        self.expect(list(answer("go", 5)) == [], "No 5-gram fits in '<go>': expected an empty list.")


class AnalogyExercise(Exercise):
    title = "Exercise 4: analogies by vector arithmetic (3CosAdd)"
    task = (
        "Write analogy(vectors, words, a, b, c) that answers 'a is to b as c is to ?': the word whose vector has "
        "the highest cosine with b - a + c, excluding a, b and c. vectors is a [n, d] array, words its labels."
    )
    hints = (
        "Normalise the rows first: unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).",
        "Build query = unit[b] - unit[a] + unit[c]; scores = unit @ query; set the scores of a, b, c to -inf.",
    )
    solution_code = (
        "def analogy(vectors, words, a, b, c):\n"
        "    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)\n"
        "    idx = {w: i for i, w in enumerate(words)}\n"
        "    scores = unit @ (unit[idx[b]] - unit[idx[a]] + unit[idx[c]])\n"
        "    for w in (a, b, c):\n"
        "        scores[idx[w]] = -np.inf\n"
        "    return words[int(np.argmax(scores))]"
    )

    def test(self, answer: Any) -> None:
        self.expect(callable(answer), "Pass your function itself, e.g. check(analogy).")
        # a toy space with one axis per feature: royal, male, female, city, country, italy, france, fruit
        rng = np.random.default_rng(0)
        words = ["man", "woman", "king", "queen", "prince", "paris", "france", "rome", "italy", "apple"]
        base = {
            "man": [0, 1, 0, 0, 0, 0, 0, 0],
            "woman": [0, 0, 1, 0, 0, 0, 0, 0],
            "king": [1, 1, 0, 0, 0, 0, 0, 0],
            "queen": [1, 0, 1, 0, 0, 0, 0, 0],
            "prince": [0.6, 1, 0, 0, 0, 0, 0, 0.3],
            "paris": [0, 0, 0, 1, 0, 0, 1, 0],
            "france": [0, 0, 0, 0, 1, 0, 1, 0],
            "rome": [0, 0, 0, 1, 0, 1, 0, 0],
            "italy": [0, 0, 0, 0, 1, 1, 0, 0],
            "apple": [0, 0, 0, 0, 0, 0, 0, 1],
        }
        vectors = np.array([base[w] for w in words], dtype=float) + 0.05 * rng.standard_normal((len(words), 8))
        got = answer(vectors, list(words), "man", "king", "woman")
        self.expect(got == "queen", f"man : king :: woman : ? should be 'queen', got {got!r}.")
        got = answer(vectors, list(words), "france", "paris", "italy")
        self.expect(got == "rome", f"france : paris :: italy : ? should be 'rome', got {got!r}.")
        scaled = vectors.copy()
        scaled[words.index("queen")] *= 0.1  # a short vector: only cosine (not the raw dot product) still finds it
        got = answer(scaled, list(words), "man", "king", "woman")
        self.expect(
            got == "queen",
            f"With a shorter 'queen' vector you answered {got!r}: compare by cosine "
            "(normalise the vectors), not by raw dot products.",
        )
        # here b - a + c points straight at c: only excluding the question words gives 'd'
        toy = np.array([[1.0, 0, 0], [1.0, 0.1, 0], [0, 1.0, 0], [0.5, 0.5, 0.6]])
        got = answer(toy, ["a", "b", "c", "d"], "a", "b", "c")
        self.expect(got == "d", f"Got {got!r}: exclude the three question words from the answers.")


class FindAnAnalogyExercise(Exercise):
    """Open-ended: find a new analogy the trained model solves. Pass the WordVectors to the constructor."""

    title = "Exercise 5: find an analogy your skip-gram model solves"
    task = (
        "Pass a tuple (a, b, c, d) of four different in-vocabulary words, not from the examples above, such that "
        "the model's top answer to a : b :: c : ? is d."
    )
    hints = (
        "Frequent words work best on a small corpus: try countries, capitals, months, numbers, family words.",
        "Use the analogy widget above to try candidates quickly, then check the one that works.",
    )
    solution_code = (
        "# one that often works on the Wikipedia extract (not guaranteed for every seed):\n"
        "ex.check(('january', 'february', 'march', 'april'))"
    )

    def __init__(self, vectors: Any = None):
        super().__init__()
        self.vectors = vectors

    def test(self, answer: Any) -> None:
        self.expect(self.vectors is not None, "Create the exercise with the model: FindAnAnalogyExercise(vectors).")
        self.expect(isinstance(answer, (tuple, list)) and len(answer) == 4, "Pass four words: (a, b, c, d).")
        words = [str(w).lower() for w in answer]
        self.expect(len(set(words)) == 4, "Use four different words.")
        self.expect({tuple(words[:3])} != {("man", "king", "woman")}, "Find one of your own, not king/queen.")
        missing = [w for w in words if w not in self.vectors]
        self.expect(not missing, f"Not in the vocabulary: {', '.join(missing)}.")
        top = self.vectors.analogy(words[0], words[1], words[2], k=1)[0][0]
        self.expect(top == words[3], f"The model answers {top!r}, not {words[3]!r}. Try another one.")
