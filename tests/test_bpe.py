"""BPE from scratch (ptmlab.data.bpe): hand-worked merges, encode vs merges, agreement with Hugging Face, and the
chapter-02 views built on it (ptmlab.viz.tokens, ptmlab.widgets.tokenization, ptmlab.exercises.tokenization)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ptmlab.chapters import tokenization as chapter
from ptmlab.data import bpe
from ptmlab.errors import DataError, InputError

# Sennrich et al. 2016, Fig. 1: the toy dictionary.
CLASSIC = {"low": 5, "lower": 2, "newest": 6, "widest": 3}

# Worked by hand with the end-of-word marker glued to the last character and the tie-break rule "most frequent pair;
# on a tie, the pair whose left (then right) symbol entered the vocabulary first; characters enter in code-point order,
# end-of-word characters after them, merged symbols when created":
#   counts: e+s 9, s+t</w> 9  -> e < s, so e+s first; es+t</w> 9; l+o 7 (l+o and o+w? o+w is 2, o+w</w> 5);
#   then three 6s: n+e, e+w, w+est</w> -> e first: e+w; then n+ew, new+est</w>; lo+w</w> 5;
#   three 3s: w+i, i+d, d+est</w> -> d first, then i+dest</w>, w+idest</w>;
#   three 2s: lo+w, w+e (in lower), e+r</w> -> e+r</w>; then lo+w vs w+er</w>: w is a character, lo a merge -> w+er</w>.
CLASSIC_MERGES = [
    ("e", "s"),
    ("es", "t</w>"),
    ("l", "o"),
    ("e", "w"),
    ("n", "ew"),
    ("new", "est</w>"),
    ("lo", "w</w>"),
    ("d", "est</w>"),
    ("i", "dest</w>"),
    ("w", "idest</w>"),
    ("e", "r</w>"),
    ("w", "er</w>"),
    ("lo", "wer</w>"),
]
CLASSIC_COUNTS = [9, 9, 7, 6, 6, 6, 5, 3, 3, 3, 2, 2, 2]


def random_freqs(seed: int, n_words: int = 150, letters: str = "abcdeé") -> Counter:
    rng = random.Random(seed)
    return Counter(
        {"".join(rng.choice(letters) for _ in range(rng.randint(1, 8))): rng.randint(1, 20) for _ in range(n_words)}
    )


def sequential_encode(word: str, merges) -> tuple[str, ...]:
    """The definition of encoding: apply every merge, in learned order."""
    symbols = bpe.word_to_symbols(word)
    for pair in merges:
        symbols = bpe.merge_pair(symbols, pair)
    return symbols


SENTENCES = [
    "The lower river flows slowly past the newest bridge.",
    "Newer bridges are wider and lower than the old ones.",
    "She walked slowly along the widest road in the town.",
    "The tokenizer learns the most frequent pairs of symbols.",
    "Frequent pairs become new symbols, and new symbols form words.",
    "Rare words are split into smaller, more frequent pieces.",
] * 5


# ----------------------------------------------------------------------------- hand-worked example
def test_word_to_symbols_marks_the_last_character():
    assert bpe.word_to_symbols("low") == ("l", "o", "w</w>")
    assert bpe.word_to_symbols("a") == ("a</w>",)
    assert bpe.symbols_to_word(("lo", "w</w>")) == "low"


def test_pair_counts_on_the_classic_dictionary():
    pairs = bpe.count_pairs({bpe.word_to_symbols(w): f for w, f in CLASSIC.items()})
    assert pairs["e", "s"] == 9 and pairs["s", "t</w>"] == 9
    assert pairs["l", "o"] == 7 and pairs["o", "w</w>"] == 5 and pairs["o", "w"] == 2
    assert pairs["w", "e"] == 8  # lower (2) + newest (6)
    assert pairs["a", "a"] == 0


def test_merge_pair_scans_left_to_right_without_overlap():
    assert bpe.merge_pair(("a", "a", "a"), ("a", "a")) == ("aa", "a")
    assert bpe.merge_pair(("a", "b", "a", "b"), ("a", "b")) == ("ab", "ab")
    assert bpe.merge_pair(("n", "e", "w"), ("x", "y")) == ("n", "e", "w")


def test_initial_alphabet_order():
    assert bpe.initial_alphabet(["ba", "ab"]) == ["a", "b", "a</w>", "b</w>"]


@pytest.mark.parametrize("learner", ["simple", "incremental"])
def test_classic_merges_equal_the_hand_worked_list(learner):
    if learner == "simple":
        merges = bpe.learn_bpe_simple(CLASSIC, 20)
    else:
        model = bpe.learn_bpe(CLASSIC, 20, min_frequency=1)
        merges = model.merges
        assert model.counts == CLASSIC_COUNTS
    assert merges[:2] == [("e", "s"), ("es", "t</w>")]
    assert merges == CLASSIC_MERGES  # 13 merges, then every word is one symbol and learning stops


def test_hugging_face_learns_the_same_classic_merges():
    assert bpe.hf_bpe_merges(CLASSIC, 20, min_frequency=1) == CLASSIC_MERGES


def test_min_frequency_stops_learning():
    model = bpe.learn_bpe(CLASSIC, 20, min_frequency=3)
    assert all(c >= 3 for c in model.counts)
    assert model.merges == CLASSIC_MERGES[:10]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_frequency", [1, 2])
def test_incremental_learner_equals_the_textbook_loop(seed, min_frequency):
    freqs = random_freqs(seed)
    expected = bpe.learn_bpe_simple(freqs, 120, min_frequency=min_frequency)
    assert bpe.learn_bpe(freqs, 120, min_frequency=min_frequency).merges == expected


def test_counts_are_non_increasing_and_compress_the_corpus():
    model = bpe.learn_bpe(random_freqs(3), 100, min_frequency=1)
    assert all(a >= b for a, b in zip(model.counts, model.counts[1:]))
    assert len(model.corpus_symbols) == len(model.merges) + 1
    for i, count in enumerate(model.counts):
        saved = model.corpus_symbols[i] - model.corpus_symbols[i + 1]
        assert 0 < saved <= count  # equal unless the pair overlapped itself ("a a a")


# ----------------------------------------------------------------------------- encoding
def test_encode_is_consistent_with_the_merges():
    freqs = random_freqs(4)
    model = bpe.learn_bpe(freqs, 150, min_frequency=1)
    rng = random.Random(5)
    unseen = ["".join(rng.choice("abcdeé") for _ in range(rng.randint(1, 12))) for _ in range(200)]
    for word in list(freqs) + unseen:
        assert model.encode_word(word) == sequential_encode(word, model.merges)
        for n in (0, 1, 7, 60):
            assert model.encode_word(word, n) == sequential_encode(word, model.merges[:n])
        assert bpe.symbols_to_word(model.encode_word(word)) == word


def test_encoding_training_words_gives_their_final_training_segmentation():
    freqs = random_freqs(6)
    model = bpe.learn_bpe(freqs, 80, min_frequency=1)
    vocab = {w: bpe.word_to_symbols(w) for w in freqs}
    for pair in model.merges:
        vocab = {w: bpe.merge_pair(s, pair) for w, s in vocab.items()}
    assert all(model.encode_word(w) == s for w, s in vocab.items())


def test_recorded_snapshots_match_encode_at_every_step():
    words = ["lower", "newest", "lowest"]
    model = bpe.learn_bpe(CLASSIC, 20, min_frequency=1, track=words)
    for word in words:
        history = model.snapshots[word]
        assert history[0] == (0, bpe.word_to_symbols(word))
        for step in range(len(model.merges) + 1):
            assert bpe.segmentation_at(model, word, step) == model.encode_word(word, step)
    assert [step for step, _ in model.snapshots["newest"]] == [0, 1, 2, 4, 5, 6]


def test_tokenize_detokenize_round_trip_and_unknowns():
    model = bpe.learn_bpe(SENTENCES, 200)
    text = "Rare words are split into smaller pieces, slowly."
    tokens = model.tokenize(text)
    assert "[UNK]" not in tokens
    assert model.detokenize(tokens) == " ".join(bpe.pretokenize(text))
    assert model.tokenize("the [MASK] flows")[1] == "[MASK]"
    assert "[UNK]" in model.tokenize("the Ωmega")  # Ω never occurred in training
    assert model.detokenize(model.tokenize("the [MASK] flows")) == "the [MASK] flows"


def test_vocabulary_grows_by_one_per_new_symbol():
    model = bpe.learn_bpe(SENTENCES, 50)
    assert model.vocabulary(0) == model.alphabet
    sizes = [model.vocab_size(n) for n in range(len(model.merges) + 1)]
    assert all(b - a in (0, 1) for a, b in zip(sizes, sizes[1:]))
    assert sizes[-1] == len(model.alphabet) + len({a + b for a, b in model.merges})


def test_save_and_load_round_trip():
    model = bpe.learn_bpe(SENTENCES, 40)
    again = bpe.BPE.from_dict(model.to_dict())
    assert again.merges == model.merges
    assert again.tokenize(SENTENCES[0]) == model.tokenize(SENTENCES[0])
    with pytest.raises(DataError):
        bpe.BPE.from_dict({"merges": [["a"]]})


def test_bad_input_gives_clear_errors():
    with pytest.raises(InputError):
        bpe.learn_bpe([], 10)
    with pytest.raises(InputError):
        bpe.learn_bpe(["   "], 10)
    with pytest.raises(InputError):
        bpe.learn_bpe(SENTENCES, -1)
    with pytest.raises(InputError):
        bpe.compare_merges([], [])


# ----------------------------------------------------------------------------- against Hugging Face
def test_agreement_with_hugging_face_on_real_text():
    from ptmlab.data.corpora import load_corpus

    texts = load_corpus("lee").sentences[:1500]
    model = bpe.learn_bpe(texts, 300)
    theirs = bpe.hf_bpe_merges(texts, 300)
    agreement = bpe.compare_merges(model, theirs)
    # same data, same pre-tokenization, same rule up to how HF numbers end-of-word characters (ties only)
    assert agreement.shared >= 0.95
    assert agreement.common_prefix >= 50
    assert bpe.segmentation_agreement(model, theirs, bpe.word_frequencies(texts)) >= 0.95


def test_compare_merges_reports_the_first_difference():
    ours = bpe.learn_bpe(CLASSIC, 20, min_frequency=1)
    swapped = list(CLASSIC_MERGES)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    result = bpe.compare_merges(ours, swapped)
    assert result.common_prefix == 3 and result.shared == 1.0
    assert result.same_position == pytest.approx(11 / 13)
    assert result.first_difference == (3, ("e", "w"), ("n", "ew")) and result.theirs_later_at == 4
    assert "step 3" in result.summary()
    assert bpe.compare_merges(ours, CLASSIC_MERGES).first_difference is None


# ----------------------------------------------------------------------------- measurements
def test_oov_rate_and_sequence_length_on_a_hand_counted_case():
    from ptmlab.data.tokenizers import train_tokenizer

    word = train_tokenizer(["a b c", "a b"], kind="word", vocab_size=7)  # 5 specials + 'a', 'b'
    assert bpe.oov_rate(word, ["a c d", "b"]) == pytest.approx(2 / 4)
    assert bpe.mean_sequence_length(word, ["a c d", "b"]) == pytest.approx(2.0)
    char = train_tokenizer(["ab"], kind="char")
    assert bpe.mean_sequence_length(char, ["ab ab"]) == 5  # a b ▁ a b
    with pytest.raises(InputError):
        bpe.oov_rate(word, [" "])


def test_sweep_shows_the_trade_off():
    heldout = ["The widest bridges become rarer in towns.", "Symbols of smaller rivers flow past."]
    sweep = chapter.sweep_vocab_sizes(SENTENCES, heldout, (40, 80), kinds=("word", "char", "bpe"), progress=False)
    records = {(r["kind"], r["requested"]): r for r in sweep.records}
    assert set(records) == {("word", 40), ("word", 80), ("char", None), ("bpe", 40), ("bpe", 80)}
    assert records["word", 80]["oov_rate"] <= records["word", 40]["oov_rate"]
    assert records["bpe", 80]["mean_length"] < records["bpe", 40]["mean_length"]
    assert records["char", None]["mean_length"] > records["bpe", 80]["mean_length"] > records["word", 80]["mean_length"]
    assert records["bpe", 40]["oov_rate"] < records["word", 80]["oov_rate"]
    assert sweep.best("bpe", 70).vocab_size == records["bpe", 80]["vocab_size"]


def test_chinese_sample_characters_vs_words():
    samples = chapter.chinese_samples()
    assert len(samples) >= 30
    assert all("".join(words) == sentence for sentence, words in samples)
    chars, words = chapter.chinese_characters_vs_words(samples, n_test=10)
    assert chars["oov_rate"] < words["oov_rate"]  # new words are built from known characters
    assert chars["mean_length"] > words["mean_length"]


def test_chinese_sample_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("我喜欢书。\t我 喜欢 看 书 。\n", encoding="utf-8")
    with pytest.raises(DataError):
        chapter.chinese_samples(bad)
    with pytest.raises(DataError):
        chapter.chinese_samples(tmp_path / "missing.tsv")


def test_rare_words_are_rare():
    picked = chapter.rare_words(SENTENCES[:6], ["Photosynthesis and tokenization are unbelievably long words"], n=3)
    assert picked and all(w not in bpe.word_frequencies(SENTENCES[:6]) for w in picked)


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(tmp_path, monkeypatch):
    """EXPERIMENT.run on a tiny preset: one row per tokenizer, held-out scores, and the second run from the cache."""
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    preset = chapter.EXPERIMENT.preset("smoke", train_sentences=800, bpe_merges=40, compare_vocab_size=300)
    first = chapter.EXPERIMENT.run(preset, arms=["word", "char", "bpe_ours", "bpe"], progress=None)
    assert [r["arm"] for r in first.rows] == ["word", "char", "bpe_ours", "bpe"]
    scores = {r["arm"]: r for r in first.rows}
    assert scores["word"]["oov_rate"] > scores["bpe"]["oov_rate"]  # subwords leave (almost) nothing unknown
    assert scores["char"]["mean_length"] > scores["bpe"]["mean_length"] > scores["word"]["mean_length"]
    assert scores["bpe_ours"]["vocab_size"] <= 40 + 200  # the alphabet plus at most 40 merges
    lines = []
    second = chapter.EXPERIMENT.run(preset, arms=["word", "char", "bpe_ours", "bpe"], progress=lines.append)
    assert all("cached scores" in line for line in lines) and len(lines) == 4
    assert [{k: r[k] for k in chapter.METRICS} for r in second.rows] == [
        {k: r[k] for k in chapter.METRICS} for r in first.rows
    ]
    header, rows = second.table()
    assert header[0] == "arm" and [r[0] for r in rows] == ["word", "char", "BPE (ours)", "BPE (Hugging Face)"]


# ----------------------------------------------------------------------------- views, widgets, exercises
def test_tokens_html_colours_and_escapes():
    from ptmlab.viz.tokens import comparison_html, tokens_html

    page = tokens_html(["<b>", "lo", "w</w>", "[UNK]"])
    assert page.count('class="ptm-token"') == 4
    assert "&lt;b&gt;" in page and "<b>" not in page
    assert "#c0392b" in page  # the unknown token is red
    table = comparison_html({"word": ["a", "[UNK]"]}, errors={"bpe": "boom"})
    assert "1 unk" in table and "boom" in table


def test_figures_have_one_trace_per_kind_and_panel():
    from ptmlab.viz.tokens import curve_svg, units_figure, vocab_sweep_figure

    records = [
        {"kind": "word", "vocab_size": v, "oov_rate": 0.1, "mean_length": 20.0, "tokens_per_word": 1.0} for v in (1, 2)
    ] + [{"kind": "char", "vocab_size": 50, "oov_rate": 0.0, "mean_length": 90.0, "tokens_per_word": 5.0}]
    ref = {"kind": "MiniLM", "vocab_size": 30522, "oov_rate": 0.0, "mean_length": 25.0, "tokens_per_word": 1.1}
    figure = vocab_sweep_figure(records, [ref])
    assert len(figure.data) == 6 and figure.layout.xaxis.type == "log"
    svg = curve_svg([3.0, 2.0, 1.5], marker=1, x_label="merges")
    assert svg.startswith("<svg") and svg.count("ptm-marker") == 1 and ">2<" in svg
    with pytest.raises(InputError):
        curve_svg([1.0])
    assert len(units_figure([{"units": "a", "vocab_size": 3, "oov_rate": 0.1, "mean_length": 2}]).data) == 3
    with pytest.raises(InputError):
        vocab_sweep_figure([])


def test_merge_explorer_steps_through_merges():
    pytest.importorskip("ipywidgets")
    from ptmlab.widgets.tokenization import MergeExplorer

    model = bpe.learn_bpe(CLASSIC, 20, min_frequency=1, track=["newest"])
    explorer = MergeExplorer(model, ["newest", "lowest"], step=0)
    assert explorer.show(2) == {"newest": ("n", "e", "w", "est</w>"), "lowest": ("l", "o", "w", "est</w>")}
    assert "es" in explorer.header.value and "changed" in explorer.table.value
    explorer.slider.value = 13
    assert "lower" in explorer.header.value and "ptm-marker" in explorer.curve.value
    assert explorer.show(99)["newest"] == ("newest</w>",)


def test_tokenizer_comparison_widget():
    pytest.importorskip("ipywidgets")
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.widgets.tokenization import TokenizerComparison

    ours = bpe.learn_bpe(SENTENCES, 60)
    app = TokenizerComparison({"word": train_tokenizer(SENTENCES, "word", 60), "BPE (ours)": ours}, text="the rare")
    assert app.last["word"] == ["the", "rare"] and app.last["BPE (ours)"] == ours.tokenize("the rare")
    assert app.compare("rare words")["BPE (ours)"] == ours.tokenize("rare words")
    assert "ptm-token" in app.output.value
    app.compare("   ")
    assert "Type a sentence" in app.output.value


@pytest.mark.parametrize(
    "name, function",
    [
        ("CountPairs", "count_pairs"),
        ("MergePair", "merge_pair"),
        ("LearnMerges", "learn"),
        ("EncodeWord", "encode"),
        ("ChineseOOV", "oov_rate"),
    ],
)
def test_exercise_solutions_pass_and_wrong_answers_fail(name, function):
    from ptmlab.exercises import tokenization as exercises

    exercise = getattr(exercises, name)()
    namespace: dict = {}
    exec(exercise.solution_code, namespace)
    assert exercise.check(namespace[function])
    assert exercise.passed
    assert not getattr(exercises, name)().check(lambda *args: [])


def test_bare_hugging_face_tokenizer_is_measured_without_padding():
    from ptmlab.data.tokenizers import train_tokenizer

    backend = train_tokenizer(SENTENCES, kind="wordpiece", vocab_size=200).backend
    unpadded = bpe.mean_sequence_length(backend, SENTENCES[:3])
    backend.enable_padding(length=64)
    assert backend.encode(SENTENCES[0]).tokens.count("[PAD]") > 0  # the trap: padded to 64
    assert bpe.mean_sequence_length(backend, SENTENCES[:3]) == unpadded < 64
    assert backend.padding is not None  # the caller's tokenizer is left as it was
