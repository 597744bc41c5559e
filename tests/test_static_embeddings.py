"""Static word embeddings: noise table, subsampling, windows, GloVe weighting, n-grams, training, caching, widgets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ptmlab.chapters import word_embeddings as chapter
from ptmlab.errors import InputError
from ptmlab.models import static as S
from ptmlab.train import static_embeddings as T

pytestmark = pytest.mark.usefixtures("one_thread")


def toy_corpus(n_sentences: int = 600, seed: int = 0) -> list[list[str]]:
    """Sentences from templates: animals share contexts with animals, foods with foods."""
    rng = np.random.default_rng(seed)
    animals, foods = ["cat", "dog", "horse", "cow"], ["bread", "rice", "cheese", "apple"]
    verbs_a, verbs_f = ["runs", "sleeps", "barks", "jumps"], ["tastes", "cooks", "bakes", "smells"]
    out = []
    for _ in range(n_sentences):
        if rng.random() < 0.5:
            out.append(["the", rng.choice(animals), rng.choice(verbs_a), "in", "the", "field"])
        else:
            out.append(["the", rng.choice(foods), rng.choice(verbs_f), "good", "in", "the", "kitchen"])
    return out


# ============================================================================ vocabulary and sampling
def test_vocab_sorted_by_count_and_encode_drops_oov():
    vocab = S.Vocab.build([["a", "b", "a"], ["c", "a", "b", "zzz"]], min_count=2)
    assert vocab.words == ["a", "b"] and vocab.counts.tolist() == [3, 2]
    ids, sentence_ids = vocab.encode([["a", "zzz", "b"], ["b"]])
    assert ids.tolist() == [0, 1, 1] and sentence_ids.tolist() == [0, 0, 1]
    with pytest.raises(InputError):
        S.Vocab.build([["a"]], min_count=5)


def test_unigram_table_has_power_075_proportions():
    counts = np.array([10_000, 2_000, 500, 50, 5])
    table = S.unigram_table(counts, size=1_000_000)
    share = np.bincount(table, minlength=len(counts)) / len(table)
    expected = counts**0.75 / (counts**0.75).sum()
    assert np.allclose(share, expected, atol=1e-5)
    # drawing uniform slots samples the noise distribution; rare words beat their plain frequency
    rng = np.random.default_rng(0)
    draws = np.bincount(table[rng.integers(0, len(table), 200_000)], minlength=len(counts)) / 200_000
    assert np.allclose(draws, expected, atol=0.005)
    assert expected[-1] > counts[-1] / counts.sum() * 2
    assert np.isclose(S.noise_distribution(counts, power=1.0)[0], counts[0] / counts.sum())


def test_keep_probability_values():
    counts = np.array([900, 99, 1])  # frequencies 0.9, 0.099, 0.001
    keep = S.keep_probability(counts, sample=0.01)
    f = counts / counts.sum()
    assert np.isclose(keep[0], (math.sqrt(0.9 / 0.01) + 1) * 0.01 / 0.9)  # word2vec.c's formula: 0.1165
    assert np.isclose(keep[0], 0.11652, atol=1e-4)
    assert keep[2] == 1.0  # rarer than the threshold: always kept
    assert keep[0] < keep[1] <= 1.0
    assert np.all(S.keep_probability(counts, sample=0) == 1.0)
    # the empirical keep rate of subsample() matches
    rng = np.random.default_rng(0)
    ids = np.zeros(100_000, dtype=np.int64)
    kept, _ = S.subsample(ids, np.zeros_like(ids), keep, rng)
    assert abs(len(kept) / len(ids) - keep[0]) < 0.01
    assert np.all(f > 0)


def test_context_windows_stay_inside_sentences_and_shrink():
    sentence_ids = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    rng = np.random.default_rng(0)
    positions = S.context_windows(sentence_ids, window=3, rng=rng, shrink=False)
    assert positions.shape == (10, 6)
    assert sorted(positions[0][positions[0] >= 0].tolist()) == [1, 2]  # never into sentence 1
    assert sorted(positions[5][positions[5] >= 0].tolist()) == [3, 4, 6, 7, 8]
    # with shrinking windows, offset 1 is used more often than offset 3 (b uniform in 1..3)
    many = S.context_windows(np.zeros(20_000, dtype=np.int64), window=3, rng=rng)
    near, far = (many[:, 3] >= 0).mean(), (many[:, 5] >= 0).mean()
    assert near > 0.99 and abs(far - 1 / 3) < 0.02


def test_skipgram_pairs_and_cbow_examples_by_hand():
    ids, sentence_ids = np.array([7, 8, 9]), np.zeros(3, dtype=np.int64)
    rng = np.random.default_rng(0)
    centres, contexts = S.skipgram_pairs(ids, sentence_ids, window=1, rng=rng)
    # window 1 always keeps offset 1 (b is drawn in 1..1)
    assert sorted(zip(centres.tolist(), contexts.tolist())) == [(7, 8), (8, 7), (8, 9), (9, 8)]
    centres, contexts = S.cbow_examples(ids, sentence_ids, window=1, rng=rng, shuffle=False)
    assert centres.tolist() == [7, 8, 9]
    assert contexts.tolist() == [[-1, 8], [7, 9], [8, -1]]


# ============================================================================ subwords
def test_char_ngrams_hand_worked_example():
    assert S.char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]  # Bojanowski et al. 2017
    grams = S.char_ngrams("where", 3, 6)
    assert len(grams) == 5 + 4 + 3 + 2  # '<where>' has 7 characters
    assert "<whe" in grams and "where>" in grams and "<where>" not in grams  # 7 > maxn
    assert S.char_ngrams("her", 3, 6)[:2] == ["<he", "<her"]
    assert "<her>" in S.char_ngrams("her", 3, 6)
    assert S.char_ngrams("a", 3, 6) == ["<a>"]
    with pytest.raises(InputError):
        S.char_ngrams("x", 4, 3)


def test_fnv1a_and_buckets():
    # reference values of 32-bit FNV-1a
    assert S.fnv1a_hash("") == 0x811C9DC5
    assert S.fnv1a_hash("a") == 0xE40C292C
    assert S.fnv1a_hash("foobar") == 0xBF9CF968
    buckets = S.ngram_buckets("where", 1000)
    assert len(buckets) == 14 and all(0 <= b < 1000 for b in buckets)
    rows = S.subword_rows(["where", "unseen"], vocab_size=50, buckets=1000, word_ids=[3, -1])
    assert rows[0, 0] == 3 and np.all(rows[0, 1:15] >= 50)  # own row first, then buckets after the vocabulary
    assert np.all(rows[1][rows[1] >= 0] >= 50)  # an unseen word has n-grams only


# ============================================================================ GloVe
def test_glove_weight_values():
    x = np.array([0.0, 1.0, 50.0, 100.0, 250.0])
    f = S.glove_weight(x, x_max=100, alpha=0.75)
    assert np.allclose(f, [0.0, 0.01**0.75, 0.5**0.75, 1.0, 1.0])
    assert np.isclose(0.5**0.75, 0.5946, atol=1e-4)
    t = S.glove_weight(torch.tensor(x), x_max=100, alpha=0.75)
    assert np.allclose(t.numpy(), f)
    assert np.allclose(S.glove_weight(x, x_max=10, alpha=1.0), [0, 0.1, 1, 1, 1])


def test_cooccurrence_by_hand():
    ids = np.array([0, 1, 2, 0, 1])
    sentence_ids = np.array([0, 0, 0, 1, 1])
    rows, cols, values = S.cooccurrence(ids, sentence_ids, vocab_size=3, window=2)
    table = {(r, c): v for r, c, v in zip(rows.tolist(), cols.tolist(), values.tolist())}
    assert table[(0, 1)] == pytest.approx(2.0)  # distance 1 in both sentences
    assert table[(0, 2)] == pytest.approx(0.5)  # distance 2, sentence 0 only (no crossing into sentence 1)
    assert table[(1, 2)] == pytest.approx(1.0)
    assert all(table[(c, r)] == v for (r, c), v in table.items())  # symmetric
    assert (0, 0) not in table


# ============================================================================ training steps lower the loss
def _examples(seed: int = 0):
    tokens = toy_corpus(300, seed)
    vocab = S.Vocab.build(tokens, min_count=1)
    ids, sentence_ids = vocab.encode(tokens)
    return vocab, ids, sentence_ids


@pytest.mark.parametrize("kind", ["skipgram", "cbow", "fasttext"])
def test_sgd_steps_lower_the_negative_sampling_loss(kind):
    vocab, ids, sentence_ids = _examples()
    rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)
    config = S.StaticConfig(kind, len(vocab), 16, buckets=500 if kind == "fasttext" else 0)
    model = S.FastText(config, generator, vocab.words) if kind == "fasttext" else S.Word2Vec(config, generator)
    make = S.cbow_examples if kind == "cbow" else S.skipgram_pairs
    centres, contexts = (torch.from_numpy(a) for a in make(ids, sentence_ids, 2, rng))
    table = torch.from_numpy(S.unigram_table(vocab.counts, 10_000))
    held_negatives = table[torch.randint(len(table), (256, 5), generator=generator)]
    inputs, targets = (contexts[:256], centres[:256]) if kind == "cbow" else (centres[:256], contexts[:256])
    with torch.no_grad():
        before = float(model.loss(inputs, targets, held_negatives))
    step = model.cbow_step if kind == "cbow" else model.skipgram_step
    for start in range(0, 30 * 64, 64):  # 30 steps of 64 examples, negatives shared by groups of 32
        noise = table[torch.randint(len(table), (2, 8), generator=generator)]
        step(centres[start : start + 64], contexts[start : start + 64], noise, lr=0.025)
    with torch.no_grad():
        after = float(model.loss(inputs, targets, held_negatives))
    assert before == pytest.approx(6 * math.log(2), abs=0.05)  # zero output vectors: every score is 0
    assert after < before - 0.5


def test_glove_steps_lower_the_weighted_least_squares():
    vocab, ids, sentence_ids = _examples()
    rows, cols, values = (torch.from_numpy(a) for a in S.cooccurrence(ids, sentence_ids, len(vocab), 3))
    values = values.float()
    model = S.GloVe(S.StaticConfig("glove", len(vocab), 16), torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = float(model.loss(rows, cols, values, x_max=10))
        for _ in range(100):
            model.adagrad_step(rows, cols, values, lr=0.1, x_max=10)
        after = float(model.loss(rows, cols, values, x_max=10))
    assert after < 0.3 * before


# ============================================================================ end-to-end trainers, cache, vectors
@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    return tmp_path


def test_skipgram_learns_toy_categories_and_is_cached(home):
    tokens = toy_corpus(1500)
    # a 20-word vocabulary: every row is hit often in a batch, so batches stay small (summed updates)
    kwargs = dict(
        kind="skipgram", dim=16, window=2, min_count=1, epochs=4, batch_size=128, group=32, sample=0, progress=False
    )
    run = T.train_word2vec(tokens, **kwargs)
    assert not run.from_cache and run.history[-1] < run.history[0]
    wv = run.vectors
    animal = np.mean([wv.similarity("cat", w) for w in ("dog", "horse", "cow")])
    cross = np.mean([wv.similarity("cat", w) for w in ("bread", "rice", "cheese")])
    assert animal > cross + 0.1
    assert wv.most_similar("cat", k=3)[0][0] in {"dog", "horse", "cow"}
    again = T.train_word2vec(tokens, **kwargs)
    assert again.from_cache and np.allclose(again.vectors.vectors, wv.vectors)
    with pytest.raises(InputError):
        wv.vector("unicorn")


def test_fasttext_answers_unseen_words_and_reloads(home):
    tokens = toy_corpus(800)
    kwargs = dict(
        kind="fasttext", dim=16, window=2, min_count=1, epochs=2, batch_size=128, group=32, buckets=2000, progress=False
    )
    run = T.train_word2vec(tokens, **kwargs)
    wv = run.vectors
    assert wv.has_subwords and "cats" not in wv and wv.can_embed("cats")
    assert wv.vector("cats").shape == (16,)
    # an unseen word built from n-grams lies nearer to the word it shares most n-grams with
    assert wv.similarity("cats", "cat") > wv.similarity("cats", "rice")
    # a known word's vector from the subword path equals its stored vector
    assert np.allclose(run.model.vectors_for(["dog"])[0], wv.vector("dog"), atol=1e-6)
    again = T.train_word2vec(tokens, **kwargs)
    assert again.from_cache
    assert np.allclose(again.vectors.vector("cats"), wv.vector("cats"), atol=1e-6)


def test_cbow_and_glove_trainers_run(home):
    tokens = toy_corpus(400)
    cbow = T.train_word2vec(
        tokens, kind="cbow", dim=8, min_count=1, epochs=1, batch_size=128, group=32, progress=False, cache=False
    )
    glove = T.train_glove(tokens, dim=8, min_count=1, epochs=3, batch_size=256, progress=False, cache=False)
    assert len(cbow.vectors) == len(glove.vectors) == len(S.Vocab.build(tokens, 1))
    assert glove.history[-1] < glove.history[0]
    with pytest.raises(InputError):
        T.train_word2vec(tokens, kind="lstm")
    with pytest.raises(InputError):
        T.train_word2vec(tokens, batch_size=100, group=64)


def test_train_embeddings_uses_preset(home):
    preset = chapter.PRESETS["smoke"]
    run = chapter.train_embeddings(
        "skipgram", toy_corpus(300), preset, min_count=1, batch_size=128, group=32, progress=False
    )
    assert run.vectors.dim == preset.dim
    assert set(chapter.PRESETS) == {"smoke", "cpu", "gpu"}


def test_word_vectors_analogy_and_errors():
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.array([[0, 1, 0], [0, -1, 0], [1, 1, 0], [1, -1, 0], [-1, 0, 1]], dtype=float)
    wv = S.WordVectors(words, vectors, name="toy")
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    assert wv.most_similar(["king", "woman"], ["man"], k=1)[0][0] == "queen"
    assert wv.similarity("king", "king") == pytest.approx(1.0)
    assert "apple" in wv and "pear" not in wv and not wv.can_embed("pear")
    with pytest.raises(InputError):
        S.WordVectors(words, vectors[:3])


def test_gensim_reference_wraps_word2vec_and_fasttext():
    tokens = toy_corpus(300)
    sg = T.train_gensim("skipgram", tokens, dim=8, min_count=1, epochs=1, workers=1)
    ft = T.train_gensim("fasttext", tokens, dim=8, min_count=1, epochs=1, workers=1, buckets=1000)
    assert sg.vectors.words[0] == "the" and not sg.vectors.has_subwords
    assert ft.vectors.has_subwords and ft.vectors.vector("unicorns").shape == (8,)


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(home):
    experiment = chapter.EXPERIMENT
    preset = experiment.preset("smoke", max_sentences=300, min_count=2, batch_size=512, buckets=2000)
    arms = (*chapter.KINDS, "gensim_skipgram")
    lines = []
    comparison = experiment.run(preset, arms=arms, progress=lines.append)
    assert [(r["arm"], r["seed"]) for r in comparison.rows] == [(arm, 0) for arm in arms]
    for r in comparison.rows:
        assert -1.0 <= r["wordsim353"] <= 1.0 and r["vocab_size"] > 50
        assert (r["learned"] is None) == r["arm"].startswith("gensim")  # gensim reports no loss to check
    assert len(lines) == len(arms) and not any("cached scores" in line for line in lines)
    again = experiment.run(preset, arms=("skipgram", "gensim_skipgram"), progress=lines.append)
    assert again.rows[0]["from_cache"] and again.rows[0]["wordsim353"] == comparison.rows[0]["wordsim353"]
    assert "cached scores" in lines[-2] and "cached scores" not in lines[-1]  # gensim's scores are never cached
    header, rows = comparison.paper_table()
    assert rows[0][:2] == ["ptmlab skip-gram", "55 / 59"] and rows[1][1] == "24 / 64"
    assert comparison.direction()["a"] == "skipgram" and comparison.direction()["b"] == "cbow"


# ============================================================================ widgets and exercises
def _toy_models():
    words = ["king", "queen", "man", "woman", "paris", "france", "rome", "italy"]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(words), 6))
    plain = S.WordVectors(words, vectors, counts=list(range(80, 0, -10)), name="word2vec")
    sub = S.WordVectors(words, vectors, name="fastText", oov=lambda batch: rng.standard_normal((len(batch), 6)))
    return plain, sub


def test_neighbour_and_analogy_tables_answer_oov_only_with_subwords():
    from ptmlab.viz.embeddings import analogy_html, neighbours_html

    plain, sub = _toy_models()
    known = neighbours_html([plain, sub], "king", k=3)
    assert known.count("<tr><td>") == 6 and "rank 1" in known
    unseen = neighbours_html([plain, sub], "kingdoms", k=3)
    assert "no vector" in unseen and "n-grams" in unseen and unseen.count("<tr><td>") == 3
    table = analogy_html([plain, sub], "king", "man", "woman", k=2)
    assert "cannot answer" not in table and table.count("<tr><td>") == 4
    assert "cannot answer" in analogy_html([plain], "king", "man", "queens")


def test_projector_figure_colours_categories():
    from ptmlab.viz.embeddings import analogy_categories, projector_figure

    plain, _ = _toy_models()
    questions = {
        "capital-common-countries": [("paris", "france", "rome", "italy")],
        "family": [("king", "queen", "man", "woman")],
    }
    categories = analogy_categories(plain, questions)
    assert categories["countries and capitals"] == {"capital": ["paris", "rome"], "country": ["france", "italy"]}
    figure = projector_figure(plain, "countries and capitals", categories=categories, background=4)
    names = [trace.name for trace in figure.data]
    assert names[:2] == ["capital", "country"] and "other frequent words" in names
    assert sum(len(trace.x) for trace in figure.data) == 8
    with pytest.raises(InputError):
        projector_figure(plain, "planets", categories=categories)


def test_widgets_build_headless():
    pytest.importorskip("ipywidgets")
    from ptmlab.widgets.embeddings import AnalogyExplorer, NeighboursExplorer

    plain, sub = _toy_models()
    explorer = NeighboursExplorer([plain, sub], word="queen", k=2)
    assert "queen" in explorer.output.value
    explorer.word.value = "queenly"  # typing a new word redraws through the observer
    assert "no vector" in explorer.output.value
    assert "≈" in AnalogyExplorer([plain, sub]).output.value


def test_exercise_solutions_pass_and_wrong_answers_fail():
    from ptmlab.exercises import embeddings as E

    namespace = {"np": np}
    for exercise in (
        E.NoiseDistributionExercise(),
        E.SubsamplingExercise(),
        E.CharNgramExercise(),
        E.AnalogyExercise(),
    ):
        exec(exercise.solution_code, namespace)  # noqa: S102 - the exercise's own reference solution
        function = namespace[exercise.solution_code.split("def ")[1].split("(")[0]]
        assert exercise.check(function), exercise.title
    assert not E.NoiseDistributionExercise().check(lambda c: np.asarray(c) / np.sum(c))  # plain unigram
    assert not E.SubsamplingExercise().check(lambda c, t=1e-3: np.ones(len(c)))
    assert not E.CharNgramExercise().check(lambda w, n: [w[i : i + n] for i in range(len(w) - n + 1)])  # no markers
    plain, _ = _toy_models()
    hunt = E.FindAnAnalogyExercise(plain)
    a, b, c = "paris", "france", "rome"
    top = plain.analogy(a, b, c)[0][0]
    assert hunt.check((a, b, c, top)) and not hunt.check((a, b, c, "zebra"))
