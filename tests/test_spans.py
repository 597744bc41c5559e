"""Span-level tasks from the world (entity-span recovery, NER span F1) and chapter 05's experiments (masked_lm)."""

import pytest
import torch
from torch import nn

from ptmlab.chapters.masked_lm import (
    EXPERIMENT,
    METRICS,
    PRESETS,
    SPANBERT_TABLE6,
    STATIC_DYNAMIC,
    TABLE6_HEADER,
    heldout_mlm_loss,
    prepare_world_data,
    static_dynamic_rows,
)
from ptmlab.data.world import split_documents
from ptmlab.errors import InputError
from ptmlab.models.transformer import EncoderOutput
from ptmlab.objectives.masking import encode_with_spans
from ptmlab.tasks.ner import bio_spans, bio_tag_names, bio_tags, entity_f1, ner_probe
from ptmlab.tasks.spans import SpanExample, evaluate_span_recovery, span_recovery_examples
from ptmlab.viz.tables import table_figure

SMOKE = PRESETS["smoke"]
TAGS = bio_tag_names()


@pytest.fixture(scope="module")
def data():
    return prepare_world_data(SMOKE)


class ConstantMLM(nn.Module):
    """Predicts the same token everywhere: a model whose span-recovery score we know by hand."""

    def __init__(self, token: int, vocab: int = 50):
        super().__init__()
        self.token, self.vocab = token, vocab
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, predict_positions=None, **kwargs):
        n = int(predict_positions.sum())
        logits = torch.zeros(n, self.vocab)
        logits[:, self.token] = 1.0
        out = EncoderOutput(torch.zeros(*input_ids.shape, 4), ())
        out.extras["logits"] = logits
        return out


class GoldTagBody(nn.Module):
    """A 'model' whose features are the one-hot gold BIO tags of each sentence it has been told about: a linear probe
    on it must reach F1 = 1, so any loss of score comes from the probe's plumbing."""

    def __init__(self, tokenizer, documents):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.tags: dict[tuple, list[int]] = {}
        for doc in documents:
            for s in doc.sentences:
                ids, labels = encode_with_spans(tokenizer, s.text, [(e.start, e.end) for e in s.entities])
                row = (tokenizer.cls_id, *ids, tokenizer.sep_id)
                self.tags[row] = [0, *(TAGS.index(t) for t in bio_tags(labels, s.entities)), 0]

    def forward(self, input_ids, attention_mask=None, **kwargs):
        features = torch.zeros(*input_ids.shape, len(TAGS))
        for r, row in enumerate(input_ids.tolist()):
            real = tuple(i for i in row if i != 0)
            for t, tag in enumerate(self.tags[real]):
                features[r, t, tag] = 1.0
        return EncoderOutput(features, ())


# ----------------------------------------------------------------------------- BIO and span F1
def test_bio_round_trip_and_f1_by_hand():
    from ptmlab.data.world import Span

    spans = [Span(0, 5, "PER"), Span(10, 15, "LOC")]
    tags = bio_tags([1, 1, 0, 2, 0, 2], spans)  # the second LOC mention restarts after an O
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"]
    assert set(bio_spans(tags)) == {(0, 2, "PER"), (3, 4, "LOC"), (5, 6, "LOC")}
    assert set(bio_spans(["I-ORG", "I-ORG", "B-ORG", "I-PER"])) == {(0, 2, "ORG"), (2, 3, "ORG"), (3, 4, "PER")}
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "B-ORG", "O", "O", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["O", "B-ORG", "O", "O", "B-PER"]]
    scores = entity_f1(gold, predicted)  # 2 right of 4 predicted, 2 of 3 gold
    assert scores["precision"] == 0.5 and abs(scores["recall"] - 2 / 3) < 1e-9
    assert abs(scores["f1"] - 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) < 1e-9
    assert entity_f1([["O"]], [["O"]])["f1"] == 0.0


# ----------------------------------------------------------------------------- span recovery
def test_span_examples_hold_the_mention_and_earlier_context(data):
    tokenizer = data.tokenizer
    examples = span_recovery_examples(tokenizer, data.test_documents, max_len=SMOKE.block_len)
    assert len(examples) > 50
    n_mentions = sum(len(s.entities) for d in data.test_documents for s in d.sentences)
    assert len(examples) <= n_mentions
    with_context = 0
    for e in examples[:200]:
        assert len(e.ids) <= SMOKE.block_len and e.ids[0] == tokenizer.cls_id and e.ids[-1] == tokenizer.sep_id
        assert 0 < e.start < e.end < len(e.ids)
        assert all(i > 4 for i in e.ids[e.start : e.end])  # a mention is made of real tokens
        with_context += tokenizer.sep_id in e.ids[1:-1]
    assert with_context > 20  # most examples see earlier sentences of their document
    doc = data.test_documents[0]
    first = span_recovery_examples(tokenizer, [doc], max_len=64)[0]
    span = doc.sentences[0].entities[0]
    expected = tokenizer.encode(doc.sentences[0].text[span.start : span.end], add_special_tokens=False)
    assert list(first.ids[first.start : first.end]) == expected
    assert len(span_recovery_examples(tokenizer, data.test_documents, 64, max_examples=10)) == 10
    copyable = [e for e in examples if e.in_context]
    assert 0 < len(copyable) < len(examples)
    for e in copyable[:50]:
        pieces = e.ids[e.start : e.end]
        assert any(e.ids[i : i + len(pieces)] == pieces for i in range(1, e.start))


def test_span_recovery_scores_by_hand():
    examples = [
        SpanExample((2, 7, 7, 9, 3), 1, 3, "PER", True),  # target pieces 7, 7: all right
        SpanExample((2, 9, 7, 8, 3), 2, 4, "LOC"),  # 7 right, 8 wrong: token accuracy counts it, exact match not
        SpanExample((2, 8, 3), 1, 2, "LOC"),  # wrong
    ]
    scores = evaluate_span_recovery(ConstantMLM(7), examples, batch_size=2)
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["token_accuracy"] == pytest.approx(3 / 5)
    assert scores["by_label"] == {"LOC": 0.0, "PER": 1.0}
    assert scores["n"] == 3
    assert scores["in_context_exact_match"] == 1.0 and scores["n_in_context"] == 1
    with pytest.raises(InputError):
        evaluate_span_recovery(ConstantMLM(7), [])


# ----------------------------------------------------------------------------- NER probe
def test_ner_probe_reads_perfect_features_perfectly_and_blind_ones_not_at_all(data):
    documents = data.train_documents[:80] + data.test_documents
    gold = GoldTagBody(data.tokenizer, documents)
    kwargs = dict(max_len=32, train_sentences=300, test_sentences=150, steps=100)
    scores = ner_probe(gold, data.tokenizer, data.train_documents[:80], data.test_documents, **kwargs)
    assert scores["f1"] > 0.99

    class Blind(GoldTagBody):
        def forward(self, input_ids, attention_mask=None, **kwargs):
            return EncoderOutput(torch.zeros(*input_ids.shape, 8), ())

    blind = ner_probe(
        Blind(data.tokenizer, []), data.tokenizer, data.train_documents[:80], data.test_documents, **kwargs
    )
    assert blind["f1"] < 0.05  # no information: it tags everything O


# ----------------------------------------------------------------------------- data and experiment drivers
def test_world_split_is_disjoint_and_stable(data):
    ids = [{id(d) for d in docs} for docs in (data.train_documents, data.repeat_documents, data.test_documents)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert data.train_blocks.shape[1:] == (2, SMOKE.block_len)
    assert len(data.repeat_blocks) > 10 and len(data.test_blocks) > 10
    train, test = split_documents(list(range(100)), 0.1, seed=3)
    assert (train, test) == split_documents(list(range(100)), 0.1, seed=3) and len(test) == 10
    with pytest.raises(InputError):
        split_documents([1], 0.1)


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(data):
    messages = []
    preset = EXPERIMENT.preset("smoke", seeds=(0, 1), arms=("subword", "entity"))
    comparison = EXPERIMENT.run(preset, progress=messages.append)
    rows = comparison.rows
    assert [(r["arm"], r["seed"]) for r in rows] == [("subword", 0), ("subword", 1), ("entity", 0), ("entity", 1)]
    for r in rows:
        assert 0 <= r["span_em"] <= r["span_token_acc"] <= 1
        assert 0 <= r["ner_f1"] <= 1 and r["mlm_loss"] > 0
        assert set(METRICS) <= set(r) and isinstance(r["span_by_label"], dict)
    assert any("stage 1" in m for m in messages) and len(messages) == 5
    again = EXPERIMENT.run(preset, arms=("entity",), seeds=(1,), progress=None)
    assert again.rows[0]["from_cache"] and again.rows[0]["span_em"] == rows[3]["span_em"]
    assert again.rows[0]["mlm_loss"] == rows[3]["mlm_loss"]
    summary = comparison.summary()
    assert summary["entity"]["span_em"][2] == 2
    header, table = comparison.paper_table()
    assert header == TABLE6_HEADER and len(table) == 5 and len(table[0]) == len(TABLE6_HEADER)
    assert table[0][1] == f"{SPANBERT_TABLE6['subword']:.1f}" and "not run" in table[1]  # whole words not run here
    assert "±" in table[2][2]
    d = comparison.direction("ner_f1", "entity", "subword")
    assert d["seeds"] == 2 and d["a"] == "entity"
    assert "named entities" in comparison.verdict("span_em", "entity", "subword")
    figure = table_figure(header, table)
    assert figure.data[0].type == "table"
    assert len(comparison.figure(("span_em", "ner_f1")).data) >= 2


def test_static_vs_dynamic_smoke(data):
    comparison = STATIC_DYNAMIC.run("smoke", seeds=(0,), progress=None)
    rows = comparison.rows
    assert [r["arm"] for r in rows] == ["dynamic", "static"]
    for row in rows:
        assert row["heldout_loss"] > 0 and row["fresh_masks_train_loss"] > 0 and row["epochs"] > 0
    table = static_dynamic_rows(rows)
    assert len(table) == 2 and table[0][0] == "dynamic" and table[1][0] == "static ×1"
    assert STATIC_DYNAMIC.arms_of(STATIC_DYNAMIC.preset("smoke", static_copies=(1, 10))) == (
        "dynamic",
        "static",
        "static10",
    )
    again = STATIC_DYNAMIC.run("smoke", seeds=(0,), progress=None)
    assert again.rows[0]["from_cache"] and again.rows[0]["heldout_loss"] == rows[0]["heldout_loss"]


def test_heldout_loss_is_deterministic(data):
    from ptmlab.chapters.masked_lm import pretrain_base

    base = pretrain_base(SMOKE, data=data)
    a = heldout_mlm_loss(base.model, data.test_blocks, draws=1)
    b = heldout_mlm_loss(base.model, data.test_blocks, draws=1)
    assert a == b and a > 0


# ----------------------------------------------------------------------------- ptmlab.tasks (shared recipe)
def test_mean_sd_summarize_and_paired_direction_by_hand():
    from ptmlab.tasks.stats import mean_sd, paired_direction, summarize

    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0, 3) and mean_sd([5.0]) == (5.0, 0.0, 1)
    rows = [
        {"objective": "a", "seed": 0, "f1": 0.5},
        {"objective": "a", "seed": 1, "f1": 0.7},
        {"objective": "b", "seed": 0, "f1": 0.4},
        {"objective": "b", "seed": 1, "f1": 0.3},
    ]
    summary = summarize(rows, ["f1"])
    assert list(summary) == ["a", "b"] and summary["a"]["f1"][0] == pytest.approx(0.6)
    assert summary["b"]["f1"][1] == pytest.approx(0.0707107, abs=1e-6)
    result = paired_direction(rows, "f1", "a", "b")
    assert result["mean_difference"] == pytest.approx(0.25) and result["wins"] == 2 and result["seeds"] == 2
    # differences 0.1 and 0.4: sd 0.212, standard error 0.15; the mean 0.25 is under 2 standard errors (0.3)
    assert not result["clear"]
    steady = rows[:2] + [{"objective": "b", "seed": 0, "f1": 0.3}, {"objective": "b", "seed": 1, "f1": 0.5}]
    assert paired_direction(steady, "f1", "a", "b")["clear"]  # differences 0.2 and 0.2: no spread at all
    assert not paired_direction(rows[:1] + rows[2:3], "f1", "a", "b")["clear"]  # one seed is never clear
    with pytest.raises(InputError):
        paired_direction(rows, "f1", "a", "c")
    with pytest.raises(InputError):
        mean_sd([])


def test_fit_linear_probe_separates_what_is_separable():
    from ptmlab.tasks.probe import fit_linear_probe

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (300,), generator=g)
    features = torch.randn(300, 8, generator=g) * 0.3
    features[torch.arange(300), labels] += 2.0  # class k lights up column k
    probe = fit_linear_probe(features, labels, 3, steps=100)
    assert (probe.predict(features) == labels).float().mean() > 0.95
    noise = fit_linear_probe(torch.randn(300, 8, generator=g), labels, 3, steps=100)
    fresh = torch.randn(300, 8, generator=g)
    assert (noise.predict(fresh) == labels).float().mean() < 0.5
    with pytest.raises(InputError):
        fit_linear_probe(features, labels[:10], 3)


def test_finetune_lowers_the_loss_and_pretrain_objective_caches(tiny_config, tiny_blocks):
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.tasks.finetune import finetune
    from ptmlab.tasks.stats import final_loss
    from ptmlab.train.pretrain import pretrain_objective

    model = nn.Linear(4, 2)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()

    def batch_loss(m, generator):
        rows = torch.randint(0, 64, (16,), generator=generator)
        return nn.functional.cross_entropy(m(x[rows]), y[rows])

    losses = finetune(model, batch_loss, steps=60, lr=0.1, progress=False)
    assert len(losses) == 60 and sum(losses[-5:]) < sum(losses[:5])
    assert final_loss([{"loss": 4.0}] * 9 + [{"loss": 1.0}]) == 1.0

    config = {"recipe": "test-training", "steps": 20}
    kwargs = dict(steps=20, batch_size=16, lr=1e-2, seed=0)
    first = pretrain_objective("test", config, MaskedLM(60, 0.3), tiny_config, tiny_blocks, **kwargs)
    assert not first.from_cache and len(first.meta["history"]) == 20 and first.meta["seconds"] > 0
    again = pretrain_objective("test", config, MaskedLM(60, 0.3), tiny_config, tiny_blocks, **kwargs)
    assert again.from_cache and again.meta["history"] == first.meta["history"]
