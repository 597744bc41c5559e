"""The NER probe: gold spans to BIO tags per token, entity F1, frozen and fine-tuned taggers."""

from types import SimpleNamespace

import pytest
import torch

from ptmlab.data.tokenizers import train_tokenizer
from ptmlab.errors import InputError
from ptmlab.models.heads import CausalLanguageModel, MaskedLanguageModel
from ptmlab.models.transformer import TransformerConfig
from ptmlab.tasks.ner import (
    IGNORE,
    NERData,
    TaggedSentence,
    bio_spans,
    bio_tag_names,
    entity_f1,
    ner_data,
    tag_sentence,
    token_offsets,
    train_sequence_labeler,
    world_ner_sentences,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    from ptmlab.data.world import make_world

    return make_world(seed=3, n_people=40)


@pytest.fixture(scope="module")
def world_tokenizer(world):
    return train_tokenizer(world.sentences(), kind="wordpiece", vocab_size=400)


def test_tag_names():
    assert bio_tag_names(("PER", "LOC")) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_a_sentence_gets_b_then_i_tags(world_tokenizer):
    text = "Otto Blackwood moved to Umbermoor in 1990."
    spans = [
        SimpleNamespace(start=0, end=14, label="PER"),
        SimpleNamespace(start=24, end=33, label="LOC"),
        SimpleNamespace(start=37, end=41, label="DATE"),
    ]
    tagged = tag_sentence(world_tokenizer, text, spans)
    assert len(tagged.tokens) == len(tagged.tags)
    assert [label for label, _ in tagged.entities()] == ["PER", "LOC", "DATE"]
    assert tagged.tags[0] == "B-PER" and tagged.tags[-1] == "O"  # the final full stop
    per_tokens = [t for t, tag in zip(tagged.tokens, tagged.tags) if tag.endswith("PER")]
    assert "".join(t.removeprefix("##") for t in per_tokens) == "ottoblackwood"  # subwords of both names
    assert sum(tag.startswith("B-") for tag in tagged.tags) == 3


def test_every_gold_span_of_the_world_becomes_one_entity(world, world_tokenizer):
    documents = world.documents()[:40]
    tagged = world_ner_sentences(documents, world_tokenizer)
    gold = [s for doc in documents for s in doc.sentences]
    assert len(tagged) == len(gold)
    for sentence, ts in zip(gold, tagged):
        labels = sorted(span.label for span in sentence.entities)
        assert sorted(label for label, _ in ts.entities()) == labels, sentence.text
        for span, (label, tokens) in zip(sorted(sentence.entities, key=lambda s: s.start), ts.entities()):
            surface = sentence.text[span.start : span.end].lower().replace(" ", "")
            assert tokens.replace(" ##", "").replace(" ", "") == surface and label == span.label


def test_offsets_without_a_subword_backend():
    tokenizer = train_tokenizer(["the cat sat on the mat ."] * 3, kind="word", vocab_size=100)
    tokens, offsets = token_offsets(tokenizer, "The dog sat.")
    assert tokens == ["the", "[UNK]", "sat", "."]
    assert offsets == [(0, 3), (4, 7), (8, 11), (11, 12)]
    tagged = tag_sentence(tokenizer, "The dog sat.", [SimpleNamespace(start=4, end=7, label="PER")])
    assert tagged.tags == ["O", "B-PER", "O", "O"]


def test_bio_spans_follow_conlleval():
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [(0, 2, "PER"), (3, 4, "LOC")]
    assert bio_spans(["I-ORG", "I-ORG", "O"]) == [(0, 2, "ORG")]  # I- after O opens an entity
    assert bio_spans(["B-PER", "I-LOC", "I-LOC"]) == [(0, 1, "PER"), (1, 3, "LOC")]  # a change of label too
    assert bio_spans(["B-PER", "B-PER"]) == [(0, 1, "PER"), (1, 2, "PER")]
    assert bio_spans([]) == []


def test_entity_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-DATE"]]
    # gold: 3 entities; predicted: 4; correct: PER and the second sentence's ORG -> P = 2/4, R = 2/3
    scores = entity_f1(gold, predicted)
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["per_label"] == {"LOC": 0.0, "ORG": pytest.approx(2 / 3), "PER": 1.0}
    half = entity_f1([["B-PER", "I-PER"]], [["B-PER", "O"]])  # a boundary error is a miss, not half a hit
    assert half["f1"] == 0.0
    with pytest.raises(InputError):
        entity_f1(gold, predicted[:1])


def test_ner_data_scores_only_real_tokens(world, world_tokenizer):
    tagged = world_ner_sentences(world.documents()[:5], world_tokenizer)
    data = ner_data(tagged, world_tokenizer, max_len=12)
    assert data.input_ids.shape == data.tag_ids.shape and data.input_ids.shape[1] <= 12
    assert (data.input_ids[:, 0] == world_tokenizer.cls_id).all() and (data.tag_ids[:, 0] == IGNORE).all()
    assert (data.tag_ids[data.attention_mask == 0] == IGNORE).all()
    scored = (data.tag_ids != IGNORE).sum(1)
    assert scored.tolist() == [len(s.tags) for s in data.sentences]
    with pytest.raises(InputError):
        ner_data([], world_tokenizer, 12)


def _toy_task(n, seed, right_context):
    """Tokens 5..24; 'names' are 5..9. With right_context the tag of a name depends on the NEXT token: a name followed
    by token 10 is the start of an ORG ('Umbermoor Rovers'), otherwise a LOC; the token after it is then I-ORG."""
    g = torch.Generator().manual_seed(seed)
    sentences = []
    for _ in range(n):
        ids = torch.randint(11, 25, (8,), generator=g).tolist()
        tags = ["O"] * 8
        for pos in torch.randperm(7, generator=g)[:2].tolist():
            if tags[pos] != "O" or (pos > 0 and tags[pos - 1] != "O") or tags[pos + 1] != "O":
                continue
            ids[pos] = 5 + int(torch.randint(0, 5, (1,), generator=g))
            if right_context and torch.rand(1, generator=g) < 0.5:
                ids[pos + 1], tags[pos], tags[pos + 1] = 10, "B-ORG", "I-ORG"
            else:
                tags[pos] = "B-LOC"
        sentences.append((ids, tags))
    names = bio_tag_names(("LOC", "ORG"))
    ids = torch.tensor([[2, *s, 3] for s, _ in sentences])
    tag_ids = torch.tensor([[IGNORE, *[names.index(t) for t in tags], IGNORE] for _, tags in sentences])
    tagged = [TaggedSentence("", [str(i) for i in s], tags) for s, tags in sentences]
    return NERData(ids, torch.ones_like(ids), tag_ids, names, tagged)


def _encoder(causal):
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=30, max_len=16, d_model=32, n_layers=2, n_heads=4, dropout=0.0, causal=causal)
    return (CausalLanguageModel if causal else MaskedLanguageModel)(config)


def test_a_frozen_probe_learns_token_identity_and_leaves_the_encoder_alone():
    train, test = _toy_task(300, 0, right_context=False), _toy_task(100, 1, right_context=False)
    model = _encoder(causal=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_sequence_labeler(model, train, test, mode="probe", steps=150, seed=0, device="cpu")
    assert result.f1 > 0.9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again afterwards
    assert len(result.layer_weights) == 3 and sum(result.layer_weights) == pytest.approx(1.0, abs=1e-5)
    assert len(result.predictions) == len(test)


def test_fine_tuning_a_bidirectional_encoder_uses_the_right_context_a_causal_one_cannot():
    train, test = _toy_task(400, 0, right_context=True), _toy_task(150, 1, right_context=True)
    both = train_sequence_labeler(
        _encoder(causal=False), train, test, mode="finetune", steps=150, lr=5e-3, seed=0, device="cpu"
    )
    left = train_sequence_labeler(
        _encoder(causal=True), train, test, mode="finetune", steps=150, lr=5e-3, seed=0, device="cpu"
    )
    # A left-to-right tagger must guess B-ORG vs B-LOC before it sees the next token: about half of those are wrong.
    assert both.f1 > 0.9
    assert left.f1 < both.f1 - 0.15
    assert left.per_label["ORG"] < both.per_label["ORG"]


def test_bad_settings_are_refused():
    data = _toy_task(10, 0, right_context=False)
    with pytest.raises(InputError, match="mode"):
        train_sequence_labeler(_encoder(False), data, data, mode="zero-shot", device="cpu")
    with pytest.raises(InputError, match="layers"):
        train_sequence_labeler(_encoder(False), data, data, layers=7, device="cpu")


def test_direction_comparison_summarises_seeds_and_modes(monkeypatch):
    from ptmlab.chapters import language_modelling as chapter

    scores = [("mlm", 0, 90.0, 90.0), ("mlm", 1, 80.0, 85.0), ("lm", 0, 70.0, 95.0), ("lm", 1, 75.0, 95.0)]
    rows = [
        {"arm": arm, "seed": seed, "probe": probe, "finetune": tuned, "pretrain_loss": 3.0 + seed, "learned": None}
        for arm, seed, probe, tuned in scores
    ] + [{"arm": "random", "seed": 0, "probe": 2.0, "finetune": 30.0, "learned": None}]  # no pre-training loss
    monkeypatch.setattr(chapter.DirectionComparison, "unigram_loss", 5.25)
    experiment = chapter.EXPERIMENT.for_modes(["probe", "finetune"])
    comparison = chapter.DirectionComparison(experiment, chapter.PRESETS["smoke"], rows)
    assert comparison.modes == ["probe", "finetune"]
    mean, sd, n = comparison.mode_summary("probe")["mlm"]
    assert (mean, n) == (pytest.approx(85.0), 2) and sd == pytest.approx(7.071, abs=1e-3)
    probe = comparison.direction("probe")  # per-seed differences: +20 and +5 points
    assert probe["mean_difference"] == pytest.approx(12.5) and probe["sd_difference"] == pytest.approx(10.607, abs=1e-2)
    assert probe["wins"] == 2 and comparison.direction("finetune")["wins"] == 0
    report = comparison.report()
    assert "87.9" in report and "+12.5" in report and "wins on 0 of 2 seeds" in report
    assert "MLM 3.50 ± 0.71" in report and "scores 5.25" in report
    cells = comparison.paper_figure().data[0].cells.values
    assert any("85.0 ± 7.1 (n=2)" in str(c) for column in cells for c in column)
    assert len(comparison.figure().data) == 2 * 3 * 2  # per mode and arm: a bar and the seeds' dots


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol():
    """EXPERIMENT.run on a tiny preset: a row per arm and seed with the probe F1 and the "did it learn?" check, and a
    second run that loads every run and score from the cache with the same numbers; ELMo's layer ablation too."""
    from ptmlab.chapters import language_modelling as chapter

    preset = chapter.EXPERIMENT.preset("smoke", steps=4, bilm_steps=2, seeds=(0,), ner_steps=3)
    first = chapter.EXPERIMENT.run(preset, progress=None)
    assert [(r["arm"], r["seed"]) for r in first.rows] == [("mlm", 0), ("lm", 0), ("random", 0)]
    assert list(first.experiment.metrics) == ["probe"] and all(0 <= r["probe"] <= 100 for r in first.rows)
    assert first.rows[0]["learned"] is False and first.rows[2]["learned"] is None  # 4 steps: still a unigram guess
    assert len(first.predictions("lm")) == len(chapter.chapter_text(preset).ner_test)
    lines = []
    second = chapter.EXPERIMENT.run(preset, progress=lines.append)
    assert all(r["from_cache"] for r in second.rows[:2]) and all("cached scores" in line for line in lines)
    assert [r["probe"] for r in second.rows] == [r["probe"] for r in first.rows]
    header, rows = first.paper_table()
    assert "87.9" in rows[0] and len(rows) == 2 + 2  # the paper's two rows, then ours and the random encoder's
    layers = chapter.ELMO_LAYERS.run(preset, progress=None)
    by_arm = {r["arm"]: r for r in layers.rows}
    assert set(by_arm) == {"bilm_mix", "bilm_last", "lm_mix"}
    assert len(by_arm["bilm_mix"]["layer_weights"]) == preset.n_layers + 1 and by_arm["bilm_last"]["gamma"] is None


def test_fine_tuning_never_changes_the_pretrained_model():
    data = _toy_task(40, 0, right_context=False)
    model = _encoder(causal=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_sequence_labeler(model, data, data, mode="finetune", steps=5, seed=0, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_tagging_app_shows_only_disagreements():
    from ptmlab.widgets.lm import TaggingComparisonApp

    sentences = [TaggedSentence("a b", ["a", "b"], ["B-PER", "O"]), TaggedSentence("c d", ["c", "d"], ["O", "B-LOC"])]
    app = TaggingComparisonApp(sentences, {"x": [["B-PER", "O"], ["O", "B-LOC"]], "y": [["B-PER", "O"], ["O", "O"]]})
    assert app.shown == [1] and "test sentence 1" in app.view.value
    app.only.value = False
    assert app.shown == [0, 1]


def test_the_tagged_world_may_not_be_a_pretraining_world():
    import dataclasses

    from ptmlab.chapters.language_modelling import PRESETS, chapter_text

    with pytest.raises(InputError, match="also a pre-training world"):
        chapter_text(dataclasses.replace(PRESETS["smoke"], ner_world=1))


def test_unigram_entropy_is_the_loss_of_a_context_free_guess():
    import math

    from ptmlab.chapters.language_modelling import unigram_entropy

    ids = torch.tensor([[2, 5, 6, 7, 8, 3, 0], [2, 5, 6, 7, 8, 3, 0]])  # four words, equally frequent; specials ignored
    assert unigram_entropy(ids, [0, 1, 2, 3, 4]) == pytest.approx(math.log(4))
    assert unigram_entropy(torch.tensor([[5, 5, 5]]), [0]) == pytest.approx(0.0)


def test_mlm_and_lm_runs_differ_only_in_their_objective():
    """The Table 5 comparison is fair: every setting of the two pre-training runs is shared except the kind, and the
    BiLM's own budget does not touch them."""
    import dataclasses

    from ptmlab.chapters.language_modelling import PRESETS, _run_key

    for preset in PRESETS.values():
        mlm, lm = _run_key("mlm", preset, 0), _run_key("lm", preset, 0)
        assert {k for k in mlm if mlm[k] != lm[k]} == {"kind"}
        assert {"steps", "batch_size", "lr", "dropout"} <= set(mlm)
        other_bilm = dataclasses.replace(preset, bilm_batch_size=preset.bilm_batch_size + 1, bilm_lr=preset.bilm_lr * 2)
        assert _run_key("mlm", other_bilm, 0) == mlm
        assert _run_key("bilm", other_bilm, 0) != _run_key("bilm", preset, 0)
        assert _run_key("mlm", dataclasses.replace(preset, dropout=preset.dropout + 0.1), 0) != mlm
