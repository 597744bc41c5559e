"""Intrinsic evaluation of word vectors: Spearman correlation with human similarity judgements, and analogies.

WordSim353 (Finkelstein et al. 2002), SimLex-999 (Hill et al. 2015), 3CosAdd analogies (Mikolov et al. 2013) split into
semantic and syntactic, on the most frequent words as in the word2vec paper; every score comes with its COVERAGE."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptmlab.errors import InputError
from ptmlab.models.static import WordVectors

# word2vec paper, Table 3 (640 dims, 320M words): semantic / syntactic analogy accuracy in percent
PAPER_ANALOGY = {"skip-gram": {"semantic": 55.0, "syntactic": 59.0}, "CBOW": {"semantic": 24.0, "syntactic": 64.0}}


# ============================================================================ word similarity
@dataclass
class SimilarityResult:
    """Spearman's rho between cosine similarities and human scores, on the pairs the vectors could answer."""

    dataset: str
    spearman: float
    n_pairs: int  # pairs in the dataset
    n_used: int  # pairs answered (both words in the vocabulary, or built from subwords)
    n_in_vocab: int  # pairs with both words in the vocabulary
    missing: list[str] = field(default_factory=list, repr=False)  # words that were not in the vocabulary

    @property
    def coverage(self) -> float:
        return self.n_used / self.n_pairs if self.n_pairs else 0.0

    def __str__(self) -> str:
        return f"{self.dataset}: rho = {self.spearman:.3f} on {self.n_used}/{self.n_pairs} pairs ({self.coverage:.0%})"


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank); nan for fewer than 3 points or a constant input."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(np.round(x, 12))) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y)[0])


def word_similarity_score(
    vectors: WordVectors, pairs: Iterable[tuple[str, str, float]], *, dataset: str = "", use_subwords: bool = False
) -> SimilarityResult:
    """Correlate cosine similarity with the human scores of `pairs` (word1, word2, score).

    Pairs with a word outside the vocabulary are skipped and counted as not covered, unless the vectors have
    subwords and `use_subwords` is on: then they are answered from character n-grams (and still counted in
    `n_in_vocab` as not in vocabulary)."""
    pairs = list(pairs)
    used, missing = [], []
    n_in_vocab = 0
    for first, second, score in pairs:
        known = first in vectors and second in vectors
        n_in_vocab += known
        if not known:
            missing += [w for w in (first, second) if w not in vectors]
            if not (use_subwords and vectors.has_subwords):
                continue
        used.append((first, second, score))
    # one lookup for all the words (subword vectors are built in one batch, not pair by pair)
    words = list(dict.fromkeys(w for first, second, _ in used for w in (first, second)))
    table = vectors.vectors_for(words) if words else np.zeros((0, vectors.dim), dtype=np.float32)
    table = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-9)
    row = {w: i for i, w in enumerate(words)}
    predicted = [float(table[row[first]] @ table[row[second]]) for first, second, _ in used]
    human = [score for _, _, score in used]
    return SimilarityResult(
        dataset, spearman(predicted, human), len(pairs), len(used), n_in_vocab, sorted(set(missing))
    )


# ============================================================================ analogies
@dataclass
class AnalogyResult:
    """3CosAdd accuracy on the questions whose four words are all among the searched vocabulary."""

    name: str
    n_questions: int
    n_covered: int
    n_correct: int

    @property
    def coverage(self) -> float:
        return self.n_covered / self.n_questions if self.n_questions else 0.0

    @property
    def accuracy(self) -> float:
        """Correct / covered (gensim's and the paper's convention); nan when nothing was covered."""
        return self.n_correct / self.n_covered if self.n_covered else float("nan")

    @property
    def accuracy_all(self) -> float:
        """Correct / all questions: uncovered questions count as wrong."""
        return self.n_correct / self.n_questions if self.n_questions else float("nan")

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.accuracy:.1%} of {self.n_covered} covered questions "
            f"({self.coverage:.0%} of {self.n_questions})"
        )


def analogy_scores(
    vectors: WordVectors,
    questions: Mapping[str, Sequence[tuple[str, str, str, str]]],
    *,
    restrict_vocab: int = 30_000,
    section_kind: Any = None,
    batch_size: int = 1024,
) -> dict[str, AnalogyResult]:
    """Answer a : b :: c : ? with argmax cos(d, b - a + c) over the `restrict_vocab` most frequent words (a, b and c
    excluded), as gensim's `evaluate_word_analogies` and the word2vec paper do.

    Returns one AnalogyResult per section plus 'semantic', 'syntactic' and 'all'."""
    if section_kind is None:
        from ptmlab.data.corpora import analogy_section_kind as section_kind
    if restrict_vocab < 1:
        raise InputError(f"restrict_vocab must be positive, got {restrict_vocab}.", fix="Use e.g. 30000.")
    unit = vectors.unit[:restrict_vocab]
    index = {w: i for i, w in enumerate(vectors.words[:restrict_vocab])}
    results: dict[str, AnalogyResult] = {}
    totals = {kind: [0, 0, 0] for kind in ("semantic", "syntactic", "all")}
    for section, items in questions.items():
        covered = np.array([[index[w] for w in q] for q in items if all(w in index for w in q)], dtype=np.int64)
        n_correct = 0
        for start in range(0, len(covered), batch_size):
            chunk = covered[start : start + batch_size]
            query = unit[chunk[:, 1]] - unit[chunk[:, 0]] + unit[chunk[:, 2]]
            scores = query @ unit.T
            rows = np.arange(len(chunk))[:, None]
            scores[rows, chunk[:, :3]] = -np.inf  # the question words themselves are never the answer
            n_correct += int((scores.argmax(1) == chunk[:, 3]).sum())
        results[section] = AnalogyResult(section, len(items), len(covered), n_correct)
        for kind in (section_kind(section), "all"):
            totals[kind] = [t + v for t, v in zip(totals[kind], (len(items), len(covered), n_correct))]
    for kind, (n, c, k) in totals.items():
        results[kind] = AnalogyResult(kind, n, c, k)
    return results


# ============================================================================ one report per model
@dataclass
class EmbeddingReport:
    name: str
    similarity: dict[str, SimilarityResult]
    analogies: dict[str, AnalogyResult]
    vocab_size: int
    seconds: float | None = None

    def row(self) -> dict[str, Any]:
        """A flat dict for tables: rho and coverage per dataset, analogy accuracy and coverage per kind."""
        out: dict[str, Any] = {"model": self.name, "vocab": self.vocab_size}
        for name, sim in self.similarity.items():
            out[f"{name} rho"], out[f"{name} coverage"] = sim.spearman, sim.coverage
        for kind in ("semantic", "syntactic", "all"):
            if kind in self.analogies:
                out[f"{kind} acc"], out[f"{kind} coverage"] = (
                    self.analogies[kind].accuracy,
                    self.analogies[kind].coverage,
                )
        if self.seconds is not None:
            out["seconds"] = self.seconds
        return out


def evaluate(
    vectors: WordVectors,
    *,
    restrict_vocab: int = 30_000,
    similarity_sets: Sequence[str] = ("wordsim353", "simlex999"),
    questions: Mapping[str, Sequence[tuple[str, str, str, str]]] | None = None,
    use_subwords: bool = False,
    seconds: float | None = None,
) -> EmbeddingReport:
    """WordSim353 and SimLex-999 Spearman (with coverage) and semantic/syntactic analogy accuracy (with coverage).

    `use_subwords=False` (the default) scores every model on in-vocabulary words only, so models are compared on
    the same pairs; pass True to let a subword model answer the rest."""
    from ptmlab.data.corpora import analogies, word_similarity

    similarity = {
        name: word_similarity_score(vectors, word_similarity(name), dataset=name, use_subwords=use_subwords)
        for name in similarity_sets
    }
    scores = analogy_scores(vectors, questions if questions is not None else analogies(), restrict_vocab=restrict_vocab)
    return EmbeddingReport(vectors.name, similarity, scores, len(vectors), seconds)


def evaluate_gensim(keyed_vectors: Any, name: str = "gensim", **kwargs: Any) -> EmbeddingReport:
    """Evaluate gensim KeyedVectors exactly as ptmlab's vectors (same pairs, same coverage rules, same search)."""
    return evaluate(WordVectors.from_gensim(keyed_vectors, name), **kwargs)


def evaluate_run(run: Any, **kwargs: Any) -> EmbeddingReport:
    """Evaluate an EmbeddingRun (ptmlab's or gensim's), recording its training time."""
    return evaluate(run.vectors, seconds=run.seconds, **kwargs)


# ============================================================================ rare and unseen words
@dataclass
class RareWordRow:
    model: str
    bucket: str
    n_pairs: int
    n_used: int
    spearman: float

    @property
    def coverage(self) -> float:
        return self.n_used / self.n_pairs if self.n_pairs else 0.0


def frequency_buckets(
    pairs: Iterable[tuple[str, str, float]], counts: Mapping[str, int], min_count: int = 5, frequent: int = 50
) -> dict[str, list[tuple[str, str, float]]]:
    """Split pairs by the corpus count of their rarer word: 'frequent' (>= `frequent`), 'rare' (`min_count` to
    `frequent` - 1: in a word2vec vocabulary, but seen few times) and 'unseen' (< `min_count`: no word2vec vector)."""
    buckets: dict[str, list[tuple[str, str, float]]] = {"frequent": [], "rare": [], "unseen": []}
    for pair in pairs:
        rarest = min(counts.get(pair[0], 0), counts.get(pair[1], 0))
        key = "frequent" if rarest >= frequent else "rare" if rarest >= min_count else "unseen"
        buckets[key].append(pair)
    return buckets


def rare_word_comparison(
    models: Sequence[WordVectors],
    token_lists: Sequence[Sequence[str]],
    *,
    datasets: Sequence[str] = ("wordsim353", "simlex999"),
    min_count: int = 5,
    frequent: int = 50,
) -> list[RareWordRow]:
    """Spearman and coverage per frequency bucket of the pooled similarity pairs, for each model.

    Word-level models answer only in-vocabulary pairs; subword models answer every pair (from n-grams when unseen)."""
    from ptmlab.data.corpora import word_similarity

    counts = Counter(w for sentence in token_lists for w in sentence)
    pooled = [pair for name in datasets for pair in word_similarity(name)]
    rows = []
    for bucket, pairs in frequency_buckets(pooled, counts, min_count, frequent).items():
        for vectors in models:
            result = word_similarity_score(vectors, pairs, dataset=bucket, use_subwords=True)
            rows.append(RareWordRow(vectors.name, bucket, len(pairs), result.n_used, result.spearman))
    return rows


# ============================================================================ tables
def _fmt(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}" if percent else f"{value:.3f}"
    return str(value)


def report_table(reports: Sequence[EmbeddingReport], paper: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """A plain-text table: one row per model; coverage beside every score; the paper's numbers when given
    (paper = {model name: {'semantic': %, 'syntactic': %}})."""
    header = [
        "model",
        "WordSim353 rho (cov)",
        "SimLex-999 rho (cov)",
        "semantic % (cov)",
        "syntactic % (cov)",
        "seconds",
    ]
    lines = []
    for report in reports:
        sims = [report.similarity.get(name) for name in ("wordsim353", "simlex999")]
        cells = [report.name]
        cells += [f"{_fmt(s.spearman)} ({s.coverage:.0%})" if s else "-" for s in sims]
        for kind in ("semantic", "syntactic"):
            a = report.analogies.get(kind)
            cells.append(f"{_fmt(a.accuracy, True)} ({a.coverage:.0%})" if a else "-")
        cells.append(_fmt(report.seconds) if report.seconds is None else f"{report.seconds:.1f}")
        lines.append(cells)
    for name, numbers in (paper or {}).items():
        lines.append([f"paper: {name}", "-", "-", f"{numbers['semantic']:.0f}", f"{numbers['syntactic']:.0f}", "-"])
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    render = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [header, *lines]]
    render.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(render)


def rare_word_table(rows: Sequence[RareWordRow]) -> str:
    """Plain-text table of `rare_word_comparison`: rho and coverage per bucket (columns) and model (rows)."""
    buckets = list(dict.fromkeys(r.bucket for r in rows))
    models = list(dict.fromkeys(r.model for r in rows))
    sizes = {r.bucket: r.n_pairs for r in rows}
    header = ["model"] + [f"{b} ({sizes[b]} pairs): rho (cov)" for b in buckets]
    lines = []
    for model in models:
        cells = [model]
        for bucket in buckets:
            row = next(r for r in rows if r.model == model and r.bucket == bucket)
            cells.append(f"{_fmt(row.spearman)} ({row.coverage:.0%})")
        lines.append(cells)
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    render = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [header, *lines]]
    render.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(render)
