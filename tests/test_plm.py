"""Permuted LM (XLNet): mask properties, sampling statistics, no information leak in the two-stream model, the loss."""

import math

import pytest
import torch

from ptmlab.errors import InputError
from ptmlab.models.transformer import EncoderOutput
from ptmlab.models.two_stream import TwoStreamLM
from ptmlab.objectives.base import Op
from ptmlab.objectives.plm import (
    PermutedLM,
    masks_for_order,
    n_to_predict,
    permutation_masks,
    ranks_from_orders,
    sample_orders,
)


def _ids(batch=64, seq=16, vocab=60, pad_from=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    if pad_from:
        ids[:, pad_from:] = 0
        ids[:, pad_from - 1] = 3
    return ids


# ----------------------------------------------------------------------------- masks of one order
@pytest.mark.parametrize("seed", range(5))
def test_masks_for_order_properties(seed):
    T = 9
    order = torch.randperm(T, generator=torch.Generator().manual_seed(seed))
    m = masks_for_order(order, n_predict=2)
    assert torch.equal(m.content, m.query | torch.eye(T, dtype=torch.bool))  # content = query + diagonal
    assert not m.query.diagonal().any()
    assert not m.query[order[0]].any()  # the first token of the order sees nothing in the query stream
    assert torch.equal(m.content[order[0]], torch.eye(T, dtype=torch.bool)[order[0]])  # ... and only itself in content
    assert m.query[order[-1]].sum() == T - 1  # the last one sees every other token
    for i in range(T):
        for j in range(T):
            # a token never sees tokens later in the order (in either stream)
            assert bool(m.query[i, j]) == (int(m.rank[j]) < int(m.rank[i]))
    assert int(m.query.sum()) == T * (T - 1) // 2
    assert m.predicted.tolist() == [int(m.rank[i]) >= T - 2 for i in range(T)]
    assert torch.equal(order[m.rank], torch.arange(T))


def test_left_to_right_order_is_the_causal_lm_mask():
    m = masks_for_order(list(range(5)))
    assert torch.equal(m.query, torch.ones(5, 5, dtype=torch.bool).tril(-1))
    assert torch.equal(m.content, torch.ones(5, 5, dtype=torch.bool).tril())


@pytest.mark.parametrize("bad", [[0, 0, 1], [1, 2, 3], [], [[0, 1], [1, 0]]])
def test_masks_for_order_rejects_non_permutations(bad):
    with pytest.raises(InputError):
        masks_for_order(bad)


def test_partial_prediction_counts():
    assert n_to_predict(torch.tensor([0, 1, 3, 14, 70]), 7.0).tolist() == [0, 1, 1, 2, 10]


# ----------------------------------------------------------------------------- corrupt() on batches
def test_corrupt_masks_match_masks_for_order_and_predict_the_end_of_the_order():
    objective = PermutedLM(k=4.0)
    ids = _ids(batch=8)
    c = objective.corrupt(ids, torch.Generator().manual_seed(0))
    assert torch.equal(c.input_ids, ids)  # nothing is hidden in the input
    for b in range(len(ids)):
        m = masks_for_order(c.extra["order"][b])
        assert torch.equal(c.extra["query_mask"][b], m.query)
        assert torch.equal(c.extra["content_mask"][b], m.content)
        rank = c.extra["rank"][b]
        predicted = c.loss_mask[b]
        assert int(predicted.sum()) == round(14 / 4.0)
        # every predicted token comes after every non-predicted ordinary token in the order
        ordinary = (ids[b] > 4) & ~predicted
        assert rank[predicted].min() > rank[ordinary].max()
    assert ((c.record == Op.PREDICTED) == c.loss_mask).all()
    assert (c.record[(ids == 2) | (ids == 3)] == Op.SPECIAL).all()
    assert (c.record[(ids > 4) & ~c.loss_mask] == Op.KEPT).all()


def test_target_mapping_lines_up_with_the_loss_mask():
    ids = _ids(batch=16, pad_from=11)
    ids[:4, 11:] = torch.randint(5, 60, (4, 5))  # rows of two lengths
    ids[:4, -1] = 3
    c = PermutedLM(k=3.0).corrupt(ids, torch.Generator().manual_seed(2))
    mapping = c.extra["target_mapping"]
    valid = mapping.sum(-1) > 0
    assert torch.equal(valid.sum(1), c.loss_mask.sum(1))
    positions = mapping.argmax(-1)[valid]
    rows = torch.arange(len(ids))[:, None].expand_as(valid)[valid]
    assert torch.equal(ids[rows, positions], c.targets[c.loss_mask])  # slot order = row-major order of loss_mask


def test_specials_and_padding_never_predicted_nor_read():
    ids = _ids(batch=64, pad_from=10)
    c = PermutedLM(k=1.5).corrupt(ids, torch.Generator().manual_seed(0))
    special = ids <= 4
    assert not c.loss_mask[special].any()
    pad = ids == 0
    assert not c.extra["query_mask"][pad[:, None, :].expand(-1, 16, -1)].any()  # no one reads padding
    real_rows = ~pad[:, :, None].expand(-1, -1, 16)
    assert not c.extra["content_mask"][real_rows & pad[:, None, :].expand(-1, 16, -1)].any()
    assert (c.extra["rank"][pad] >= 10).all()  # padding sits at the end of every order
    assert (c.record[pad] == Op.SPECIAL).all()


def test_sampled_orders_are_uniform_and_seeded():
    T, draws = 6, 6000
    mask = torch.ones(draws, T, dtype=torch.long)
    orders = sample_orders(mask, torch.Generator().manual_seed(0))
    rank = ranks_from_orders(orders)
    counts = torch.zeros(T, T)
    counts.index_put_((torch.arange(T).repeat(draws), rank.flatten()), torch.ones(draws * T), accumulate=True)
    share = counts / draws  # share[position, step]: uniform means 1/T everywhere
    assert (share - 1 / T).abs().max() < 0.025
    # pairs: i before j half of the time
    assert abs((rank[:, 0] < rank[:, 1]).float().mean().item() - 0.5) < 0.03
    a = PermutedLM().corrupt(_ids(batch=4), torch.Generator().manual_seed(3)).extra["order"]
    b = PermutedLM().corrupt(_ids(batch=4), torch.Generator().manual_seed(3)).extra["order"]
    c = PermutedLM().corrupt(_ids(batch=4), torch.Generator().manual_seed(4)).extra["order"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_every_ordinary_position_is_predicted_equally_often():
    ids = _ids(batch=4000, seq=9)
    c = PermutedLM(k=7 / 3).corrupt(ids, torch.Generator().manual_seed(0))  # 7 candidates, 3 predicted per row
    rate = c.loss_mask[:, 1:-1].float().mean(0)
    assert (rate - 3 / 7).abs().max() < 0.03
    assert (c.loss_mask.sum(1) == 3).all()


def test_context_sees_all_masks():
    """XLNet's code: non-predicted tokens read each other both ways and read no predicted token."""
    ids = _ids(batch=8)
    c = PermutedLM(k=4.0, context_sees_all=True).corrupt(ids, torch.Generator().manual_seed(0))
    query, content, predicted = c.extra["query_mask"], c.extra["content_mask"], c.loss_mask
    eye = torch.eye(16, dtype=torch.bool)
    assert torch.equal(content, query | eye)
    context = ~predicted
    both = context[:, :, None] & context[:, None, :] & ~eye
    assert query[both].all()
    assert not query[context[:, :, None] & predicted[:, None, :]].any()
    rank = c.extra["rank"]
    later = rank[:, None, :] > rank[:, :, None]
    assert not query[predicted[:, :, None] & predicted[:, None, :] & later].any()


# ----------------------------------------------------------------------------- the two-stream model
def _model(config, seed=0):
    torch.manual_seed(seed)
    return TwoStreamLM(config).eval()


def test_without_masks_it_is_the_plain_bidirectional_encoder(tiny_config):
    model = _model(tiny_config)
    ids = _ids(batch=3)
    mask = torch.ones_like(ids)
    plain = model(ids, mask).last_hidden_state
    assert torch.allclose(plain, model.body(ids, mask).last_hidden_state)
    # the content stream with everything visible reuses the body's weights exactly
    everything = torch.ones(3, 16, 16, dtype=torch.bool)
    out = model(ids, mask, content_mask=everything, query_mask=everything & ~torch.eye(16, dtype=torch.bool))
    assert torch.allclose(out.last_hidden_state, plain, atol=1e-5)


@pytest.mark.parametrize("context_sees_all", [False, True])
def test_no_information_leak_through_the_query_stream(tiny_config, context_sees_all):
    """g_i must not depend on x_i (nor on tokens later in the order); it must depend on earlier tokens."""
    model = _model(tiny_config)
    ids = _ids(batch=2)
    c = PermutedLM(k=3.0, context_sees_all=context_sees_all).corrupt(ids, torch.Generator().manual_seed(5))
    kwargs = dict(content_mask=c.extra["content_mask"], query_mask=c.extra["query_mask"])

    def query_stream(input_ids):
        return model(input_ids, c.attention_mask, **kwargs).extras["query_hidden"]

    base = query_stream(ids)
    changed_own, changed_earlier = 0, 0
    for b in range(2):
        for i in c.loss_mask[b].nonzero().flatten().tolist():
            edited = ids.clone()
            edited[b, i] = 5 + (int(ids[b, i]) - 4) % 50  # another ordinary token
            after = query_stream(edited)
            assert torch.allclose(after[b, i], base[b, i], atol=1e-6), "g_i changed with x_i: a leak"
            rank = c.extra["rank"][b]
            readable = c.extra["query_mask"][b, i]
            # positive control: an earlier token that g_i reads does change it
            j = int(readable.nonzero().flatten()[0])
            edited = ids.clone()
            edited[b, j] = 5 + (int(ids[b, j]) - 4) % 50
            changed_earlier += not torch.allclose(query_stream(edited)[b, i], base[b, i], atol=1e-6)
            changed_own += 1
            # later predicted tokens do not change it either
            for k in c.loss_mask[b].nonzero().flatten().tolist():
                if rank[k] > rank[i]:
                    edited = ids.clone()
                    edited[b, k] = 5 + (int(ids[b, k]) - 4) % 50
                    assert torch.allclose(query_stream(edited)[b, i], base[b, i], atol=1e-6)
    assert changed_own > 0 and changed_earlier == changed_own


def test_the_content_stream_does_see_its_own_token(tiny_config):
    model = _model(tiny_config)
    ids = _ids(batch=1)
    c = PermutedLM(k=3.0).corrupt(ids, torch.Generator().manual_seed(0))
    i = int(c.loss_mask[0].nonzero()[0])
    edited = ids.clone()
    edited[0, i] = 7 if int(ids[0, i]) != 7 else 8
    kwargs = dict(content_mask=c.extra["content_mask"], query_mask=c.extra["query_mask"])
    a = model(ids, c.attention_mask, **kwargs).last_hidden_state[0, i]
    b = model(edited, c.attention_mask, **kwargs).last_hidden_state[0, i]
    assert not torch.allclose(a, b)


def test_target_mapping_gives_the_same_predictions_as_the_full_query_stream(tiny_config):
    model = _model(tiny_config)
    ids = _ids(batch=4, pad_from=12)
    c = PermutedLM(k=3.0).corrupt(ids, torch.Generator().manual_seed(1))
    masks = dict(content_mask=c.extra["content_mask"], query_mask=c.extra["query_mask"])
    full = model(ids, c.attention_mask, predict_positions=c.loss_mask, **masks).extras["logits"]
    mapped = model(ids, c.attention_mask, target_mapping=c.extra["target_mapping"], **masks).extras["logits"]
    valid = c.extra["target_mapping"].sum(-1) > 0
    assert torch.allclose(full, mapped[valid], atol=1e-5)


def test_hook_points_for_both_streams(tiny_config):
    model = _model(tiny_config)
    ids = _ids(batch=2)
    c = PermutedLM(k=3.0).corrupt(ids, torch.Generator().manual_seed(0))
    names = ["streams.0.content_pattern", "streams.0.query_pattern", "streams.1.query"]
    _, cache = model.run_with_cache(
        ids, c.attention_mask, content_mask=c.extra["content_mask"], query_mask=c.extra["query_mask"], names=names
    )
    query_pattern, content_pattern = cache["streams.0.query_pattern"], cache["streams.0.content_pattern"]
    assert query_pattern.shape == (2, tiny_config.n_heads, 16, 16)
    assert (query_pattern[~c.extra["query_mask"][:, None].expand_as(query_pattern)] == 0).all()
    assert (content_pattern[~c.extra["content_mask"][:, None].expand_as(content_pattern)] == 0).all()
    first = c.extra["order"][:, 0]
    assert (query_pattern[torch.arange(2), :, first] == 0).all()  # the first token of the order reads nothing
    assert torch.allclose(content_pattern.sum(-1), torch.ones(2, tiny_config.n_heads, 16))


def test_two_stream_model_round_trips_through_a_checkpoint(tiny_config, tmp_path):
    from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint

    model = _model(tiny_config)
    path = save_checkpoint(tmp_path / "plm.safetensors", model, {})
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded, TwoStreamLM)
    ids = _ids(batch=2)
    c = PermutedLM(k=3.0).corrupt(ids, torch.Generator().manual_seed(0))
    masks = dict(content_mask=c.extra["content_mask"], query_mask=c.extra["query_mask"])
    assert torch.allclose(model(ids, **masks).extras["logits"], loaded.eval()(ids, **masks).extras["logits"])


def test_bad_mask_shape_is_a_clear_error(tiny_config):
    model = _model(tiny_config)
    with pytest.raises(InputError):
        model(_ids(batch=2), query_mask=torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(InputError):
        model(_ids(batch=2), content_mask=torch.ones(2, 16, 16, dtype=torch.bool))


# ----------------------------------------------------------------------------- the loss
class _FixedLogits(torch.nn.Module):
    """Stands in for the model: returns known logits for the target slots."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, **masks):
        h = torch.zeros(*input_ids.shape, 4)
        return EncoderOutput(h, (h,), None, {"logits": self.logits + self.weight})


def test_loss_equals_hand_computed_cross_entropy():
    objective = PermutedLM(k=2.5)  # 5 ordinary tokens -> round(2.0) = 2 predicted
    ids = torch.tensor([[2, 10, 11, 12, 13, 14, 3]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    positions = batch.loss_mask[0].nonzero().flatten().tolist()
    assert len(positions) == 2
    V = 20
    logits = torch.zeros(1, 2, V)
    first = int(ids[0, positions[0]])
    logits[0, 0, first] = 2.0  # the right token for the first slot scores 2, every other 0
    logits[0, 1, 0] = 1.0  # the second slot prefers a wrong token
    out = objective.loss(_FixedLogits(logits), batch)
    expected = -0.5 * (math.log(math.exp(2) / (math.exp(2) + V - 1)) + math.log(1 / (math.e + V - 1)))
    assert abs(out.loss.item() - expected) < 1e-5
    assert out.metrics["accuracy"] == 0.5 and out.metrics["n_predicted"] == 2


def test_a_few_steps_lower_the_loss(tiny_config, tiny_blocks):
    from ptmlab.train.trainer import TrainConfig, Trainer

    objective = PermutedLM(k=3.0)
    torch.manual_seed(0)
    model = objective.build_model(tiny_config)
    config = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup=5, eval_every=0, seed=0)
    before = Trainer(model, objective, tiny_blocks, config, device="cpu", live_plot=False).evaluate(0)["eval_loss"]
    result = Trainer(model, objective, tiny_blocks, config, device="cpu", live_plot=False).fit()
    assert result.evals[-1]["eval_loss"] < before - 0.5
    assert math.isfinite(result.history[-1]["loss"])


def test_corruption_view_draws_plm():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.viz.corruption import show_corruption

    tokenizer = train_tokenizer(["the cat sat on the mat", "a dog ran to the park"], kind="word", vocab_size=50)
    html = show_corruption(PermutedLM(k=3.0), tokenizer, "the cat sat on the mat", seed=0).data
    assert "predicted" in html and html.count("background:#0072b2") >= 2


# ----------------------------------------------------------------------------- viz, widget, exercises
def test_heatmaps_and_order_html():
    from ptmlab.viz.permutation import mask_heatmaps, order_html

    tokens = ["the", "cat", "sat", "the"]
    figure = mask_heatmaps(tokens, [2, 0, 3, 1], n_predict=2)
    content, query = figure.data
    # ranks [1, 3, 0, 2]: row i is filled where rank[j] <= rank[i]
    assert [list(row) for row in content.z] == [[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0], [1, 0, 1, 1]]
    assert sum(map(sum, query.z)) == 6
    assert len(set(content.x)) == 4  # repeated tokens still get their own column
    assert any(label.startswith("★") for label in content.y)
    html = order_html(tokens, [2, 0, 3, 1], n_predict=2)
    assert "p(the | sat, the)" in html and "p(cat | sat, the, the)" in html
    with pytest.raises(InputError):
        mask_heatmaps(tokens, [0, 1, 2])


def test_permutation_widget_runs_headless():
    from ptmlab.widgets.permutation import PermutationExplorer

    app = PermutationExplorer(["[CLS]", "new", "york", "is", "a", "city", "[SEP]"], n_predict=2)
    app.set_order([3, 0, 6, 4, 5, 1, 2])
    assert list(app.order) == [3, 0, 6, 4, 5, 1, 2]
    assert len(app.figure.data) == 2 and "york" in app.order_view.value
    before = list(app.order)
    app.shuffle()
    assert sorted(app.order) == list(range(7)) and list(app.order) != before
    app.order_text.value = "0 1 2"  # not a permutation: a message, not a traceback
    assert "⚠" in app.message.value


def test_exercises_accept_the_solution_and_reject_wrong_answers():
    from ptmlab.exercises import permutation as ex

    def query_mask(order):
        rank = {p: t for t, p in enumerate(order)}
        T = len(order)
        return torch.tensor([[rank[j] < rank[i] for j in range(T)] for i in range(T)])

    assert ex.QueryMask().check(query_mask)
    assert not ex.QueryMask().check(lambda order: query_mask(order) | torch.eye(len(order), dtype=torch.bool))
    assert not ex.QueryMask().check(lambda order: torch.ones(len(order), len(order)).tril(-1).bool())
    assert ex.ContentMask().check(lambda q: q | torch.eye(q.shape[0], dtype=torch.bool))
    assert not ex.ContentMask().check(lambda q: q)
    assert ex.PredictedPositions().check(lambda order, k: list(order[len(order) - max(1, round(len(order) / k)) :]))
    assert not ex.PredictedPositions().check(lambda order, k: list(order[: max(1, round(len(order) / k))]))
    assert ex.OrderForCausalLM().check([0, 1, 2, 3, 4, 5])
    assert not ex.OrderForCausalLM().check([5, 4, 3, 2, 1, 0])


def test_permutation_masks_handles_rows_of_different_lengths():
    rank = torch.tensor([[2, 0, 1, 3], [1, 0, 2, 3]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    content, query = permutation_masks(rank, mask)
    assert not query[1, :, 3].any() and content[1, 3, 3]
    assert torch.equal(query[0], masks_for_order([1, 2, 0, 3]).query)


# ----------------------------------------------------------------------------- chapter 07's experiment
def test_cloze_examples_mark_the_answer_pieces():
    from ptmlab.chapters.permuted_lm import cloze_examples
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world

    world = make_world(seed=0)
    tokenizer = train_tokenizer(world.sentences(), kind="wordpiece", vocab_size=600)
    examples = cloze_examples(tokenizer, 0, max_examples=50)
    answers = {tokenizer.decode(tokenizer.encode(a, add_special_tokens=False)) for _, a in world.cloze_facts()}
    assert len(examples) == 50
    for e in examples:
        assert e.ids[0] == tokenizer.cls_id and e.ids[-1] == tokenizer.sep_id and 0 < e.start < e.end < len(e.ids)
        assert tokenizer.decode(list(e.ids[e.start : e.end])) in answers


def test_plm_span_recovery_predicts_pieces_from_context_and_earlier_pieces(tiny_config):
    """The mention's pieces come last in the order, left to right: piece k's prediction must not change when a later
    piece changes, and must change with the context (positive control)."""
    from ptmlab.chapters.permuted_lm import plm_span_recovery
    from ptmlab.tasks.spans import SpanExample

    model = _model(tiny_config)
    calls = []
    original_forward = model.forward

    def spy(*args, **kwargs):
        out = original_forward(*args, **kwargs)
        calls.append(out.extras["logits"].detach().clone())
        return out

    model.forward = spy
    ids = (2, 10, 11, 12, 13, 14, 15, 3)
    plm_span_recovery(model, [SpanExample(ids, 3, 6, "PER")])
    plm_span_recovery(model, [SpanExample((2, 10, 11, 12, 13, 40, 15, 3), 3, 6, "PER")])  # last piece changed
    plm_span_recovery(model, [SpanExample((2, 40, 11, 12, 13, 14, 15, 3), 3, 6, "PER")])  # context changed
    base, later_changed, context_changed = calls
    assert torch.allclose(base[:2], later_changed[:2], atol=1e-6)  # pieces 1-2 never read piece 3
    assert not torch.allclose(base[0], context_changed[0])


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol():
    from ptmlab.chapters.permuted_lm import EXPERIMENT, METRICS

    preset = EXPERIMENT.preset("smoke", steps=2, seeds=(0,), arms=("none", "mlm", "plm"))
    comparison = EXPERIMENT.run(preset, progress=None)
    assert [(r["arm"], r["seed"]) for r in comparison.rows] == [("none", 0), ("mlm", 0), ("plm", 0)]
    for r in comparison.rows:
        assert all(0.0 <= r[m] <= 1.0 for m in METRICS)
    again = EXPERIMENT.run(preset, arms=("mlm",), progress=None)
    assert again.rows[0]["from_cache"] and again.rows[0]["ner_f1"] == comparison.rows[1]["ner_f1"]
    header, rows = comparison.paper_table()
    table = "\n".join(" ".join(r) for r in rows)
    assert "66.05 / 81.33 / 85.84" in table and "64.3 / 76.3 / 84.34" in table
    d = comparison.direction()
    assert d["seeds"] == 1 and d["a"] == "plm" and d["metric"] == "ner_f1"
