"""Word-similarity and analogy evaluation: coverage counting, Spearman, 3CosAdd, and agreement with gensim's own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ptmlab.models.static import WordVectors
from ptmlab.tasks import similarity as W


def toy_vectors(oov: bool = False) -> WordVectors:
    words = ["cat", "dog", "car", "truck", "apple"]
    vectors = np.array([[1, 0.1, 0], [0.9, 0.2, 0], [0, 1, 0.1], [0.1, 0.9, 0.2], [0, 0, 1]], dtype=float)
    subwords = (lambda batch: np.ones((len(batch), 3))) if oov else None
    return WordVectors(words, vectors, name="toy subwords" if oov else "toy", oov=subwords)


def test_similarity_counts_coverage_on_a_toy_vocabulary():
    pairs = [
        ("cat", "dog", 9.0),
        ("car", "truck", 8.5),
        ("cat", "car", 2.0),
        ("dog", "apple", 1.0),
        ("cat", "tiger", 7.0),
        ("unicorn", "horse", 5.0),
    ]
    result = W.word_similarity_score(toy_vectors(), pairs, dataset="toy")
    assert (result.n_pairs, result.n_used, result.n_in_vocab) == (6, 4, 4)
    assert result.coverage == pytest.approx(4 / 6)
    assert result.missing == ["horse", "tiger", "unicorn"]
    assert result.spearman == pytest.approx(1.0)  # cosines order the four covered pairs as the humans do
    assert "4/6 pairs" in str(result)


def test_subword_vectors_answer_oov_pairs_only_when_asked():
    pairs = [("cat", "dog", 9.0), ("car", "truck", 8.5), ("cat", "car", 2.0), ("cat", "tiger", 7.0)]
    answered = W.word_similarity_score(toy_vectors(oov=True), pairs, use_subwords=True)
    assert (answered.n_used, answered.n_in_vocab) == (4, 3) and answered.coverage == 1.0
    vocab_only = W.word_similarity_score(toy_vectors(oov=True), pairs, use_subwords=False)
    assert vocab_only.n_used == 3


def test_spearman_handles_ties_and_degenerate_input():
    assert W.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert W.spearman([1, 2, 2, 3], [3, 2, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(W.spearman([1, 2], [1, 2]))
    assert math.isnan(W.spearman([1, 1, 1], [1, 2, 3]))


def analogy_space(seed: int = 0):
    """Capitals = country + a shared offset (+ noise): analogies between them are solvable by construction."""
    rng = np.random.default_rng(seed)
    countries = ["france", "italy", "spain", "germany", "japan"]
    capitals = ["paris", "rome", "madrid", "berlin", "tokyo"]
    offset = rng.standard_normal(20)
    country_vectors = rng.standard_normal((5, 20))
    capital_vectors = country_vectors + offset + 0.05 * rng.standard_normal((5, 20))
    words = countries + capitals + ["run", "running", "rare"]
    vectors = np.vstack([country_vectors, capital_vectors, rng.standard_normal((3, 20))])
    return words, vectors


def test_analogy_coverage_restriction_and_semantic_syntactic_split():
    words, vectors = analogy_space()
    wv = WordVectors(words, vectors, name="toy")
    questions = {
        "capital-common-countries": [
            ("paris", "france", "rome", "italy"),
            ("madrid", "spain", "berlin", "germany"),
            ("tokyo", "japan", "atlantis", "atlantis"),
        ],
        "gram5-present-participle": [("run", "running", "walk", "walking")],
    }
    scores = W.analogy_scores(wv, questions, restrict_vocab=len(words))
    semantic, syntactic = scores["semantic"], scores["syntactic"]
    assert (semantic.n_questions, semantic.n_covered, semantic.n_correct) == (3, 2, 2)
    assert semantic.accuracy == 1.0 and semantic.coverage == pytest.approx(2 / 3)
    assert semantic.accuracy_all == pytest.approx(2 / 3)
    assert (syntactic.n_questions, syntactic.n_covered) == (1, 0) and math.isnan(syntactic.accuracy)
    assert scores["all"].n_questions == 4
    # restricting the search to the 8 most frequent words drops the questions that use 'berlin' or 'tokyo'
    restricted = W.analogy_scores(wv, questions, restrict_vocab=8)
    assert (restricted["semantic"].n_covered, restricted["semantic"].n_correct) == (1, 1)


def test_analogies_and_similarity_agree_with_gensim():
    from gensim.models import KeyedVectors

    from ptmlab.data.corpora import analogies, word_similarity

    # vectors for every word of the analogy set and WordSim353, with capital = country + offset for one section
    questions = analogies()
    vocabulary = sorted(
        {w for items in questions.values() for q in items for w in q}
        | {w for a, b, _ in word_similarity("wordsim353") for w in (a, b)}
    )
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(vocabulary), 50)).astype(np.float32)
    index = {w: i for i, w in enumerate(vocabulary)}
    offset = rng.standard_normal(50).astype(np.float32)
    for capital, country, _, _ in questions["capital-common-countries"]:
        vectors[index[capital]] = vectors[index[country]] + offset + 0.3 * rng.standard_normal(50)
    drop = set(vocabulary[::7])  # leave some words out so coverage is below 100%
    kept = [w for w in vocabulary if w not in drop]
    kv = KeyedVectors(50)
    kv.add_vectors(kept, vectors[[index[w] for w in kept]])

    ours = W.evaluate_gensim(kv, "random", restrict_vocab=len(kept), questions=questions)
    _, sections = kv.evaluate_word_analogies(_questions_file(), restrict_vocab=len(kept), case_insensitive=True)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for name, result in ours.analogies.items():
        if name in theirs:
            assert (result.n_correct, result.n_covered) == theirs[name], name
    assert ours.analogies["capital-common-countries"].n_correct > 50  # the planted offset is found
    assert ours.analogies["all"].n_covered == theirs["Total accuracy"][1]

    pearson_spearman = kv.evaluate_word_pairs(_wordsim_file(), case_insensitive=True)
    assert ours.similarity["wordsim353"].spearman == pytest.approx(pearson_spearman[1][0], abs=1e-6)
    assert 1 - ours.similarity["wordsim353"].coverage == pytest.approx(pearson_spearman[2] / 100, abs=1e-3)


def _questions_file():
    from ptmlab.data.manifest import gensim_test_file

    return str(gensim_test_file("questions_words"))


def _wordsim_file():
    from ptmlab.data.manifest import gensim_test_file

    return str(gensim_test_file("wordsim353"))


def test_frequency_buckets_and_rare_word_comparison():
    counts = {"cat": 100, "dog": 80, "lynx": 7, "ocelot": 1}
    pairs = [("cat", "dog", 9.0), ("cat", "lynx", 7.0), ("cat", "ocelot", 6.0), ("dog", "unicorn", 1.0)]
    buckets = W.frequency_buckets(pairs, counts, min_count=5, frequent=50)
    assert [len(buckets[k]) for k in ("frequent", "rare", "unseen")] == [1, 1, 2]

    tokens = [["cat"] * 60 + ["dog"] * 60 + ["car"] * 60 + ["truck"] * 60 + ["apple"] * 60]
    rows = W.rare_word_comparison([toy_vectors(), toy_vectors(oov=True)], tokens, datasets=("wordsim353",))
    by = {(r.model, r.bucket): r for r in rows}
    assert {r.bucket for r in rows} == {"frequent", "rare", "unseen"}
    # nearly every WordSim353 pair has a word this toy vocabulary lacks: only subwords can answer those
    assert by[("toy", "unseen")].n_used == 0 and by[("toy", "unseen")].n_pairs > 300
    assert by[("toy subwords", "unseen")].coverage == 1.0
    assert W.rare_word_table(rows).count("toy") == 2


def test_report_table_prints_coverage_and_the_paper():
    words, vectors = analogy_space()
    report = W.evaluate(
        WordVectors(words, vectors, name="toy"),
        questions={"capital-common-countries": [("paris", "france", "rome", "italy")]},
        seconds=1.5,
    )
    table = W.report_table([report], paper=W.PAPER_ANALOGY)
    assert "paper: skip-gram" in table and "55" in table and "24" in table
    assert "(100%)" in table  # the one question is covered
    row = report.row()
    assert row["semantic acc"] == 1.0 and row["wordsim353 coverage"] < 0.05
