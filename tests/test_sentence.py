"""NSP and SOP: pair construction on the world's documents, corruption of pairs, the pair loss, and the evaluation."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch
import torch.nn.functional as F

from ptmlab.errors import InputError
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.base import Op
from ptmlab.objectives.sentence import (
    IDS,
    NEGATIVE,
    POSITIVE,
    RECORD,
    SEGMENTS,
    SentencePairModel,
    SentencePairObjective,
    make_pairs,
    pair_accuracy,
    pair_labels,
    segments_from_sep,
)


@lru_cache(maxsize=1)
def _world():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world

    documents = make_world(seed=0).documents()[:120]
    tokenizer = train_tokenizer([s.text for d in documents for s in d.sentences], kind="wordpiece", vocab_size=500)
    return documents, tokenizer


def _split(row: torch.Tensor) -> tuple[list[int], list[int]]:
    """The two sentences of one pair row (ids without specials)."""
    ids = row[IDS].tolist()
    seps = [i for i, t in enumerate(ids) if t == 3]
    return ids[1 : seps[0]], ids[seps[0] + 1 : seps[1]]


def _consecutive(documents, tokenizer) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    out = set()
    for doc in documents:
        enc = [tuple(tokenizer.encode(s.text, add_special_tokens=False)) for s in doc.sentences]
        out |= set(zip(enc, enc[1:]))
    return out


def test_pair_layout_and_segments():
    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=64, kind="none", seed=0)
    n_expected = sum(len(d.sentences) - 1 for d in documents)
    assert pairs.shape == (n_expected, 3, 64)
    row = pairs[0]
    ids, seg = row[IDS], row[SEGMENTS]
    length = int((ids != 0).sum())
    first_sep = int((ids == 3).nonzero()[0])
    assert ids[0] == 2 and ids[length - 1] == 3 and (ids[length:] == 0).all()
    assert (seg[: first_sep + 1] == 0).all() and (seg[first_sep + 1 : length] == 1).all()
    assert (row[RECORD][ids <= 4] == int(Op.SPECIAL)).all()
    assert (pair_labels(pairs[:, RECORD]) == POSITIVE).all(), "'none' keeps every pair in order"
    assert torch.equal(segments_from_sep(pairs[:, IDS]) * (pairs[:, IDS] != 0), pairs[:, SEGMENTS])


def test_sop_negatives_are_swapped_consecutive_sentences():
    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=96, kind="sop", seed=1)
    labels = pair_labels(pairs[:, RECORD])
    assert abs(labels.float().mean().item() - 0.5) < 0.08
    consecutive = _consecutive(documents, tokenizer)
    for row, label in zip(pairs[:80], labels[:80]):
        a, b = _split(row)
        if label == POSITIVE:
            assert (tuple(a), tuple(b)) in consecutive
        else:
            assert (tuple(b), tuple(a)) in consecutive, "a SOP negative is the same two sentences, swapped"
            content = row[RECORD][row[IDS] > 4]
            assert (content == int(Op.PERMUTED)).all()


def test_nsp_negatives_come_from_another_document():
    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=96, kind="nsp", seed=2)
    labels = pair_labels(pairs[:, RECORD])
    assert abs(labels.float().mean().item() - 0.5) < 0.08
    doc_of = {}
    for d, doc in enumerate(documents):
        for s in doc.sentences:
            doc_of.setdefault(tuple(tokenizer.encode(s.text, add_special_tokens=False)), set()).add(d)
    for row, label in zip(pairs[:120], labels[:120]):
        a, b = _split(row)
        if label == NEGATIVE:
            assert not (doc_of[tuple(a)] & doc_of[tuple(b)]) or len(doc_of[tuple(b)]) > 1
            second = row[RECORD][(row[SEGMENTS] == 1) & (row[IDS] > 4)]
            assert (second == int(Op.INSERTED)).all()
    # a different seed draws different negatives; the same seed the same ones
    assert torch.equal(pairs, make_pairs(documents, tokenizer, max_len=96, kind="nsp", seed=2))
    assert not torch.equal(pairs, make_pairs(documents, tokenizer, max_len=96, kind="nsp", seed=3))


def test_long_pairs_are_truncated_to_fit():
    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=16, kind="sop", seed=0)
    assert pairs.shape[-1] == 16
    assert ((pairs[:, IDS] == 3).sum(-1) == 2).all(), "both [SEP]s survive truncation"


def test_bad_input_gives_clear_errors():
    documents, tokenizer = _world()
    with pytest.raises(InputError):
        make_pairs(documents, tokenizer, kind="xyz")
    with pytest.raises(InputError):
        make_pairs(documents[:1], tokenizer, kind="nsp")
    with pytest.raises(InputError):
        SentencePairObjective(100, kind="none", mlm=False)
    with pytest.raises(InputError):
        SentencePairObjective(100).corrupt(torch.zeros(2, 2, 2, 2, dtype=torch.long), torch.Generator())


def test_corrupt_masks_only_ordinary_tokens_and_carries_labels():
    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=64, kind="nsp", seed=0)
    objective = SentencePairObjective(tokenizer.vocab_size, "nsp")
    batch = objective.corrupt(pairs, torch.Generator().manual_seed(0))
    ids = pairs[:, IDS]
    ordinary = ids > 4
    assert not batch.loss_mask[~ordinary].any()
    assert abs(batch.loss_mask[ordinary].float().mean().item() - 0.15) < 0.02
    assert torch.equal(batch.extra["sentence_labels"], pair_labels(pairs[:, RECORD]))
    assert torch.equal(batch.extra["token_type_ids"], pairs[:, SEGMENTS])
    assert torch.equal(batch.attention_mask, (ids != 0).long())
    kept = ~batch.loss_mask
    assert torch.equal(batch.record[kept], pairs[:, RECORD][kept]), "the pair's record survives where MLM did nothing"
    # plain [batch, seq] input (the corruption view): label unknown, segments from the first [SEP]
    plain = objective.corrupt(ids[:2], torch.Generator().manual_seed(0))
    assert (plain.extra["sentence_labels"] == -1).all()


def test_pair_loss_by_hand_without_mlm():
    torch.manual_seed(0)
    objective = SentencePairObjective(50, "sop", mlm=False)
    model = SentencePairModel(TransformerConfig(vocab_size=50, max_len=16, d_model=16, n_heads=2, n_layers=1))
    model.eval()
    ids = torch.tensor([[2, 10, 11, 3, 12, 13, 3, 0], [2, 12, 13, 3, 10, 11, 3, 0]])
    record = torch.full_like(ids, int(Op.KEPT))
    record[ids <= 4] = int(Op.SPECIAL)
    record[1, [1, 2, 4, 5]] = int(Op.PERMUTED)
    pairs = torch.stack([ids, segments_from_sep(ids) * (ids != 0), record], 1)
    batch = objective.corrupt(pairs, torch.Generator().manual_seed(0))
    assert batch.extra["sentence_labels"].tolist() == [POSITIVE, NEGATIVE]
    out = objective.loss(model, batch)
    logits = model(ids, (ids != 0).long(), token_type_ids=pairs[:, SEGMENTS]).extras["pair_logits"]
    by_hand = -(F.log_softmax(logits, -1)[0, 1] + F.log_softmax(logits, -1)[1, 0]) / 2
    assert out.loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    # the "none" objective never trains the pair head: its loss is MLM only
    none = SentencePairObjective(50, "none")
    none_out = none.loss(model, none.corrupt(pairs, torch.Generator().manual_seed(0)))
    assert "none_loss" not in none_out.metrics and "mlm_loss" in none_out.metrics


def test_segment_embeddings_change_the_representation():
    model = SentencePairModel(TransformerConfig(vocab_size=50, max_len=16, d_model=16, n_heads=2, n_layers=1))
    assert model.config.n_segments == 2
    model.eval()
    ids = torch.tensor([[2, 10, 11, 3, 12, 13, 3]])
    a = model(ids, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    b = model(ids, token_type_ids=segments_from_sep(ids)).last_hidden_state
    assert not torch.allclose(a, b)


def test_training_sop_lowers_the_loss_and_pair_accuracy_is_read_from_the_record():
    from ptmlab.train.trainer import TrainConfig, Trainer

    documents, tokenizer = _world()
    pairs = make_pairs(documents, tokenizer, max_len=64, kind="sop", seed=0)
    torch.manual_seed(0)
    objective = SentencePairObjective(tokenizer.vocab_size, "sop")
    model = objective.build_model(TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=64, d_model=32,
                                                    n_heads=2, n_layers=1, dropout=0.0))  # fmt: skip
    config = TrainConfig(steps=40, batch_size=16, lr=3e-3, warmup=4, eval_every=0, seed=0)
    result = Trainer(model, objective, pairs, config, device="cpu", live_plot=False).fit()
    first = sum(r["loss"] for r in result.history[:5]) / 5
    last = sum(r["loss"] for r in result.history[-5:]) / 5
    assert last < first
    acc = pair_accuracy(model, pairs[:200])
    assert 0.0 <= acc <= 1.0
    # accuracy counts against the record's labels: flipping every label flips the accuracy
    flipped = pairs[:200].clone()
    negative = pair_labels(flipped[:, RECORD]) == NEGATIVE
    flipped[:, RECORD] = torch.where(flipped[:, IDS] > 4, int(Op.KEPT), int(Op.SPECIAL))
    flipped[~negative, RECORD, 1] = int(Op.PERMUTED)
    assert pair_accuracy(model, flipped) == pytest.approx(1 - acc)


def test_corruption_view_draws_pairs():
    from ptmlab.viz.contrastive import pair_corruption_html
    from ptmlab.viz.corruption import show_corruption

    documents, tokenizer = _world()
    objective = SentencePairObjective(tokenizer.vocab_size, "sop")
    shown = show_corruption(objective, tokenizer, "she was born in the city . [SEP] he works there .", seed=0)
    assert "ptmlab-corruption" in shown.data
    pairs = make_pairs(documents, tokenizer, max_len=64, kind="sop", seed=0)
    negative = int((pair_labels(pairs[:, RECORD]) == NEGATIVE).nonzero()[0])
    html = pair_corruption_html(objective, tokenizer, pairs[negative : negative + 1], seed=0)
    assert "moved" in html and "swapped" in html and html.count("ptmlab-corruption") == 1
    positive = int((pair_labels(pairs[:, RECORD]) == POSITIVE).nonzero()[0])
    html = pair_corruption_html(objective, tokenizer, pairs[positive : positive + 1], seed=0)
    assert "moved" not in html and "in order" in html


def test_pair_judge_scores_both_orders():
    from ptmlab.chapters.contrastive import pair_judgement
    from ptmlab.viz.contrastive import pair_judgement_html
    from ptmlab.widgets.contrastive import PairJudge

    _, tokenizer = _world()
    torch.manual_seed(0)
    model = SentencePairModel(TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=48, d_model=16, n_heads=2,
                                                n_layers=1))  # fmt: skip
    rows = pair_judgement({"SOP": model}, tokenizer, "she is a doctor .", "she was born in the city .")
    assert len(rows) == 1 and 0 < rows[0]["a_then_b"] < 1 and 0 < rows[0]["b_then_a"] < 1
    assert rows[0]["a_then_b"] != rows[0]["b_then_a"], "position and segment embeddings make the order visible"
    assert "P(positive | A then B)" in pair_judgement_html(rows)
    judge = PairJudge({"SOP": model}, tokenizer)
    assert judge.judge() is not None and "ptmlab-pairs" in judge.output.value
    judge.second.value = ""
    assert "⚠️" in judge.output.value
