"""Masking strategies (whole word, span, entity, static) and translation LM: statistics, purity, losses, training."""

import math
import statistics

import pytest
import torch

from ptmlab.chapters.masked_lm import (
    load_parallel,
    masking_statistics,
    pack_pairs,
    space_cjk,
    tlm_fill_mask,
    translation_gain,
)
from ptmlab.data.tokenizers import train_tokenizer
from ptmlab.errors import DataError, InputError
from ptmlab.models.translation import TranslationLanguageModel, language_and_positions
from ptmlab.objectives.base import Op
from ptmlab.objectives.masking import (
    STRATEGY_NAMES,
    EntityMasking,
    SpanMasking,
    StaticMasking,
    TranslationLM,
    WholeWordMasking,
    corrupt_data,
    encode_with_spans,
    guess_entity_spans,
    make_strategy,
    pack_with_spans,
    span_length_distribution,
    with_spans,
    word_boundary_tables,
    word_groups,
    word_starts,
)
from ptmlab.objectives.mlm import MaskedLM


@pytest.fixture(scope="module")
def world_data():
    from ptmlab.chapters.masked_lm import PRESETS, prepare_world_data

    return prepare_world_data(PRESETS["smoke"])


@pytest.fixture(scope="module")
def blocks64(world_data):
    """Blocks of 64 tokens, as in the cpu preset (the smoke preset's 32-token blocks make budgets coarse)."""
    from ptmlab.data.world import world_sentences

    return pack_with_spans(world_data.tokenizer, world_sentences(world_data.train_documents[:200]), 64)


def _word_level(length=400, rows=64, seed=0, vocab=1000):
    """Rows of single-piece words between [CLS] and [SEP]: with no word tables every token is a word."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (rows, length), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    return ids


def _units(unit_start: torch.Tensor) -> list[int]:
    """Lengths of the chosen units (tokens sharing one unit start) over a batch."""
    lengths = []
    for row in unit_start.tolist():
        counts: dict[int, int] = {}
        for s in row:
            if s >= 0:
                counts[s] = counts.get(s, 0) + 1
        lengths += counts.values()
    return lengths


# ----------------------------------------------------------------------------- words from pieces
def test_word_groups_reference():
    tokens = ["[CLS]", "un", "##believ", "##able", "story", "[SEP]", "##s", "ok"]
    assert word_groups(tokens) == [-1, 0, 0, 0, 1, -1, 2, 3]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram", "word"])
def test_word_starts_regroup_pieces_into_the_original_words(kind):
    texts = ["the unbelievable storyteller walked slowly", "storytelling is unbelievably old"] * 20
    tokenizer = train_tokenizer(texts, kind=kind, vocab_size=60 if kind != "word" else 100)
    text = "the unbelievable storyteller walked slowly"
    ids = torch.tensor([tokenizer.encode(text)])
    starts = word_starts(ids, *word_boundary_tables(tokenizer), tokenizer.special_ids)
    assert int(starts.sum()) == len(text.split())
    assert not starts[0, 0] and not starts[0, -1]  # [CLS] / [SEP] are never a word start


def test_whole_word_masking_never_splits_a_word_and_keeps_the_rate(world_data, blocks64):
    tokenizer, blocks = world_data.tokenizer, blocks64
    wwm = masking_statistics(make_strategy("whole_word", tokenizer), blocks, tokenizer, n_draws=4)
    subword = masking_statistics(make_strategy("subword", tokenizer), blocks, tokenizer, n_draws=4)
    assert wwm["split_words"] == 0.0
    assert subword["split_words"] > 0.1  # BERT's token masking often hides half a word
    assert abs(wwm["rate"] - 0.15) < 0.015
    for share, target in (("mask", 0.8), ("random", 0.1), ("unchanged", 0.1)):
        assert abs(wwm[share] - target) < 0.04


# ----------------------------------------------------------------------------- every strategy
@pytest.mark.parametrize("name", [*STRATEGY_NAMES, "static"])
def test_specials_and_padding_are_never_chosen(world_data, name):
    objective = make_strategy(name, world_data.tokenizer, mask_prob=0.6)
    data = world_data.train_blocks[:32].clone()
    data[:8, :, 20:] = 0  # padding (token id 0, span id 0)
    data[:8, 0, 19] = 3
    batch = corrupt_data(objective, data, torch.Generator().manual_seed(0))
    tokens = data[:, 0]
    special = tokens <= 4
    assert not batch.loss_mask[special].any()
    assert torch.equal(batch.input_ids[special], tokens[special])
    assert (batch.record[special] == Op.SPECIAL).all()
    assert (batch.input_ids[batch.record == Op.REPLACED] >= 5).all()


@pytest.mark.parametrize("name", [*STRATEGY_NAMES, "static"])
def test_corrupt_is_pure_and_seeded(world_data, name):
    objective = make_strategy(name, world_data.tokenizer)
    data = world_data.train_blocks[:16]
    a = corrupt_data(objective, data, torch.Generator().manual_seed(3))
    b = corrupt_data(objective, data, torch.Generator().manual_seed(3))
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.record, b.record)
    assert torch.equal(a.original_ids, data[:, 0])
    if name != "static":
        c = corrupt_data(objective, data, torch.Generator().manual_seed(4))
        assert not torch.equal(a.loss_mask, c.loss_mask)


def test_budget_is_exceeded_only_by_a_single_unit(world_data):
    """Google's rule: a unit that would overflow the row's budget is skipped, unless it is the first one."""
    for name in ("whole_word", "span", "entity"):
        objective = make_strategy(name, world_data.tokenizer)
        data = world_data.train_blocks[:300]
        unit_start = objective.select_units(data, torch.Generator().manual_seed(0))
        chosen = unit_start >= 0
        maskable = (data[:, 0] > 4).sum(1)
        budget = torch.tensor([max(1, round(0.15 * n)) for n in maskable.tolist()])
        over = chosen.sum(1) > budget
        for row in over.nonzero().flatten().tolist():
            assert len(set(unit_start[row].tolist()) - {-1}) == 1, name
        assert over.float().mean() < 0.5
        assert chosen.sum() >= 0.9 * budget.sum()


def test_short_sentence_still_gets_one_whole_unit(world_data):
    tokenizer = world_data.tokenizer
    ids = torch.tensor([tokenizer.encode("otto blackwood")])
    for name in ("whole_word", "span", "entity"):
        chosen = make_strategy(name, tokenizer).corrupt(ids, torch.Generator().manual_seed(0)).loss_mask
        assert chosen.sum() >= 1


# ----------------------------------------------------------------------------- spans
def test_span_length_distribution_is_spanberts():
    probs = span_length_distribution(0.2, 10)
    assert abs(float(probs.sum()) - 1) < 1e-9
    mean = float((probs * torch.arange(1, 11)).sum())
    assert abs(mean - 3.8) < 0.01  # SpanBERT: mean span length 3.8 words
    assert all(probs[i] > probs[i + 1] for i in range(9))
    with pytest.raises(InputError):
        span_length_distribution(0.0, 10)


def test_span_lengths_follow_the_geometric_distribution():
    objective = SpanMasking(1000)  # word-level: every token is a word
    lengths = []
    for seed in range(4):
        lengths += _units(objective.select_units(_word_level(seed=seed), torch.Generator().manual_seed(seed)))
    # a few spans are cut short by a masked neighbour or the budget's end, so the mean sits a little under 3.8
    assert 3.3 < statistics.fmean(lengths) < 3.9
    assert max(lengths) <= 10
    share_one = lengths.count(1) / len(lengths)
    assert abs(share_one - 0.224) < 0.04


def test_spans_stop_at_sep_and_keep_berts_80_10_10():
    ids = _word_level(length=60, rows=200)
    ids[:, 10::10] = 3  # a [SEP] every 10 tokens: spans may not cross it
    objective = SpanMasking(1000, mask_prob=0.3)
    unit_start = objective.select_units(ids, torch.Generator().manual_seed(0))
    assert (unit_start >= 0).any()
    for row_ids, row in zip(ids.tolist(), unit_start.tolist()):
        for t, s in enumerate(row):
            if s >= 0:
                assert all(row_ids[p] != 3 for p in range(s, t + 1))
    # select() is the only override: the replacement is MaskedLM's 80/10/10, per token, on exactly the chosen tokens
    batch = objective.corrupt(ids, torch.Generator().manual_seed(1))
    assert torch.equal(batch.loss_mask, objective.select_units(ids, torch.Generator().manual_seed(1)) >= 0)
    stats = masking_statistics(objective, ids, n_draws=3)
    for share, target in (("mask", 0.8), ("random", 0.1), ("unchanged", 0.1)):
        assert abs(stats[share] - target) < 0.03, share
    assert abs(stats["rate"] - 0.3) < 0.02 and stats["mean_run"] > 2.5


def test_entity_masking_masks_whole_mentions(world_data, blocks64):
    tokenizer, data = world_data.tokenizer, blocks64
    objective = make_strategy("entity", tokenizer, entity_share=1.0)
    batch = corrupt_data(objective, data, torch.Generator().manual_seed(0))
    span_ids = data[:, 1]
    whole = partial = 0
    for r in range(len(data)):
        for span_id in set(span_ids[r].tolist()) - {0}:
            hits = batch.loss_mask[r][span_ids[r] == span_id]
            whole += int(hits.all())
            partial += int(hits.any() and not hits.all())
    assert whole > 50 and partial == 0
    entity = masking_statistics(make_strategy("entity", tokenizer), data, n_draws=5)
    subword = masking_statistics(make_strategy("subword", tokenizer), data, n_draws=5)
    assert entity["in_entities"] > subword["in_entities"] + 0.15
    assert abs(entity["rate"] - 0.15) < 0.015


def test_entity_masking_without_span_ids_falls_back_to_words(world_data):
    objective = make_strategy("entity", world_data.tokenizer)
    stats = masking_statistics(objective, world_data.train_blocks[:200, 0], world_data.tokenizer, n_draws=3)
    assert stats["split_words"] == 0.0 and stats["rate"] > 0.12


def test_pack_with_spans_matches_pack_sentences_and_gold_text(world_data):
    from ptmlab.data.batching import pack_sentences
    from ptmlab.data.world import world_sentences

    tokenizer = world_data.tokenizer
    sentences = world_sentences(world_data.train_documents[:40])
    packed = pack_with_spans(tokenizer, sentences, 32)
    assert torch.equal(packed[:, 0], pack_sentences(tokenizer, [t for t, _ in sentences], 32))
    for text, spans in sentences[:60]:
        ids, labels = encode_with_spans(tokenizer, text, spans)
        assert ids == tokenizer.encode(text, add_special_tokens=False)
        for k, (start, end) in enumerate(spans, start=1):
            pieces = [i for i, label in zip(ids, labels) if label == k]
            assert pieces == tokenizer.encode(text[start:end], add_special_tokens=False)
    with pytest.raises(InputError):
        encode_with_spans(tokenizer, "abc def", [(4, 7), (0, 5)])


def test_split_shapes_are_checked(world_data):
    objective = make_strategy("span", world_data.tokenizer)
    with pytest.raises(InputError):
        objective.corrupt(torch.zeros(2, 3, 8, dtype=torch.long), torch.Generator())
    with pytest.raises(InputError):
        with_spans(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(InputError):
        make_strategy("noun_phrase", world_data.tokenizer)


def test_guess_entity_spans():
    text = "Otto Blackwood was born in Umbermoor. The University of Zenmarch is old. She met Ada."
    found = [text[s:e] for s, e in guess_entity_spans(text)]
    assert found == ["Otto Blackwood", "Umbermoor", "University of Zenmarch", "Ada"]


# ----------------------------------------------------------------------------- static vs dynamic
def test_static_masks_depend_on_the_row_only(world_data):
    tokenizer, data = world_data.tokenizer, world_data.train_blocks[:, 0]
    static = StaticMasking(make_strategy("subword", tokenizer))
    a = static.corrupt(data[:8], torch.Generator().manual_seed(0))
    b = static.corrupt(data[[3, 2, 1, 0, 7, 6, 5, 4]], torch.Generator().manual_seed(99))
    order = torch.tensor([3, 2, 1, 0, 7, 6, 5, 4])
    assert torch.equal(a.input_ids[order], b.input_ids) and torch.equal(a.record[order], b.record)
    assert not torch.equal(a.loss_mask[0], a.loss_mask[1])  # different rows, different masks
    fresh = StaticMasking(make_strategy("subword", tokenizer))  # no memo: the mask comes from the content alone
    assert torch.equal(fresh.corrupt(data[:8], torch.Generator()).input_ids, a.input_ids)
    salted = StaticMasking(make_strategy("subword", tokenizer), salt=1)
    assert not torch.equal(salted.corrupt(data[:8], torch.Generator()).loss_mask, a.loss_mask)


def test_bert_style_copies_give_a_few_fixed_masks(world_data):
    row = world_data.train_blocks[:1, 0]
    static = StaticMasking(make_strategy("subword", world_data.tokenizer), n_copies=3)
    g = torch.Generator().manual_seed(0)
    seen = {tuple(static.corrupt(row, g).loss_mask[0].tolist()) for _ in range(40)}
    assert len(seen) == 3
    dynamic = make_strategy("subword", world_data.tokenizer)
    assert len({tuple(dynamic.corrupt(row, g).loss_mask[0].tolist()) for _ in range(40)}) > 30
    with pytest.raises(InputError):
        StaticMasking(dynamic, n_copies=0)


def test_static_entity_masking_keeps_using_spans(world_data):
    static = StaticMasking(make_strategy("entity", world_data.tokenizer, entity_share=1.0))
    stats = masking_statistics(static, world_data.train_blocks[:200], n_draws=2)
    assert stats["in_entities"] > 0.8


# ----------------------------------------------------------------------------- losses and training
OBJECTIVES_60 = {
    "whole_word": lambda: WholeWordMasking(60, mask_prob=0.4),
    "span": lambda: SpanMasking(60, mask_prob=0.4),
    "entity": lambda: EntityMasking(60, mask_prob=0.4),
    "static": lambda: StaticMasking(SpanMasking(60, mask_prob=0.4)),
    "tlm": lambda: TranslationLM(60, mask_prob=0.4),
}


@pytest.mark.parametrize("name", list(OBJECTIVES_60))
def test_loss_is_the_cross_entropy_of_the_chosen_pieces(tiny_config, name):
    """Every variant keeps BERT's loss: with frozen logits, the mean -log softmax at the targets of the chosen tokens."""
    objective = OBJECTIVES_60[name]()
    model = objective.build_model(tiny_config)
    ids = torch.tensor([[2, 10, 11, 12, 3, 13, 3]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    batch.loss_mask = torch.tensor([[False, True, True, False, False, False, False]])
    logits = torch.zeros(2, 60)
    logits[0, 10], logits[1, 30] = 3.0, 1.0  # the first target (10) is the best guess, the second (11) is not
    model.mlm_head.forward = lambda hidden, positions=None: logits.clone().requires_grad_()
    out = objective.loss(model, batch)
    expected = -0.5 * (math.log(math.exp(3) / (math.exp(3) + 59)) + math.log(1 / (math.e + 59)))
    assert abs(out.loss.item() - expected) < 1e-5
    assert out.metrics["accuracy"] == 0.5 and out.metrics["n_predicted"] == 2


def test_variants_override_only_the_choice():
    """The 80/10/10 corruption and the loss live in MaskedLM alone (mlm.py's documented override point is select())."""
    for cls in (WholeWordMasking, SpanMasking, TranslationLM):
        assert "corrupt" not in vars(cls) and "loss" not in vars(cls), cls.__name__
    assert "loss" not in vars(EntityMasking) and "loss" not in vars(StaticMasking)


@pytest.mark.parametrize("objective", [SpanMasking(60, mask_prob=0.3), StaticMasking(MaskedLM(60, mask_prob=0.3))])
def test_a_few_training_steps_lower_the_loss(tiny_config, tiny_blocks, objective):
    from ptmlab.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    model = objective.build_model(tiny_config)
    config = TrainConfig(steps=30, batch_size=16, lr=1e-2, warmup=3, eval_every=0, seed=0)
    result = Trainer(model, objective, tiny_blocks, config, device="cpu", live_plot=False).fit()
    losses = [r["loss"] for r in result.history]
    assert statistics.fmean(losses[-5:]) < statistics.fmean(losses[:5]) - 0.3


# ----------------------------------------------------------------------------- translation LM
def test_parallel_file_loads_with_spaced_chinese():
    pairs = load_parallel()
    assert len(pairs) >= 100
    english, chinese = pairs[0]
    assert english == "the cat is sleeping ." and chinese == "猫 在 睡 觉 。"
    assert space_cjk("我有2只猫。") == "我 有 2 只 猫 。"


def test_parallel_file_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("only english here\n", encoding="utf-8")
    with pytest.raises(DataError):
        load_parallel(bad)
    with pytest.raises(DataError):
        load_parallel(tmp_path / "missing.tsv")


def test_language_ids_and_position_resets():
    ids = torch.tensor(
        [[2, 10, 11, 3, 20, 21, 22, 3, 0], [2, 10, 3, 20, 3, 0, 0, 0, 0], [2, 10, 11, 12, 13, 14, 15, 16, 17]]
    )
    language, positions = language_and_positions(ids)
    assert language[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert positions[0].tolist()[:8] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert positions[1].tolist()[:5] == [0, 1, 2, 0, 1]
    assert language[2].sum() == 0 and positions[2].tolist() == list(range(9))  # no [SEP]: one sentence


@pytest.fixture(scope="module")
def tlm_setup():
    pairs = load_parallel()
    tokenizer = train_tokenizer([t for pair in pairs for t in pair], kind="wordpiece", vocab_size=400)
    return pairs, tokenizer, pack_pairs(tokenizer, pairs, max_len=48)


def test_tlm_masks_both_languages_but_never_specials(tlm_setup):
    _, tokenizer, data = tlm_setup
    batch = TranslationLM(tokenizer.vocab_size).corrupt(data, torch.Generator().manual_seed(0))
    language, _ = language_and_positions(data)
    chosen = batch.loss_mask
    assert (chosen & (language == 0)).sum() > 20 and (chosen & (language == 1)).sum() > 20
    assert not chosen[data <= 4].any()
    assert abs(chosen.sum().item() / (data > 4).sum().item() - 0.15) < 0.03


def _tlm_model(tokenizer, **settings):
    from ptmlab.models.transformer import TransformerConfig

    config = TransformerConfig(
        vocab_size=tokenizer.vocab_size, max_len=48, d_model=32, n_layers=1, n_heads=2, dropout=0
    )
    torch.manual_seed(0)
    return TranslationLM(tokenizer.vocab_size, **settings).build_model(config).eval()


def test_tlm_model_restarts_positions_and_adds_languages(tlm_setup):
    """With positions reset, the second sentence looks the same whatever the length of the first: hide the first from
    attention and its outputs do not change. Without the reset they do."""
    _, tokenizer, _ = tlm_setup
    short = pack_pairs(tokenizer, [("a cat .", "猫 在 睡 觉 。")])
    long = pack_pairs(tokenizer, [("the black cat is sleeping on the bed .", "猫 在 睡 觉 。")])

    def second_sentence(model, ids):
        language, _ = language_and_positions(ids)
        out = model(ids, (language == 1).long()).last_hidden_state
        return out[language == 1]

    reset = _tlm_model(tokenizer, language_embeddings=False)
    assert isinstance(reset, TranslationLanguageModel)
    assert reset.config.reset_positions and reset.config.n_segments == 0
    assert torch.allclose(second_sentence(reset, short), second_sentence(reset, long), atol=1e-5)
    plain = _tlm_model(tokenizer, language_embeddings=False, reset_positions=False)
    assert not torch.allclose(second_sentence(plain, short), second_sentence(plain, long), atol=1e-3)
    # without reset or languages it is exactly a MaskedLanguageModel with the same weights
    from ptmlab.models.heads import MaskedLanguageModel

    mlm = MaskedLanguageModel(plain.config)
    mlm.load_state_dict(plain.state_dict())
    assert torch.allclose(mlm.eval()(long).last_hidden_state, plain(long).last_hidden_state, atol=1e-6)
    # language embeddings: the same ids give other states when the language ids are read off the [SEP]s
    with_languages = _tlm_model(tokenizer, reset_positions=False)
    assert with_languages.config.n_segments == 2
    segments = with_languages.body.seg_emb.weight
    assert not torch.allclose(segments[0], segments[1])


def test_tlm_loss_hand_computed_and_training_lowers_it(tlm_setup):
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.train.trainer import TrainConfig, Trainer

    _, tokenizer, data = tlm_setup
    objective = TranslationLM(tokenizer.vocab_size)
    config = TransformerConfig(
        vocab_size=tokenizer.vocab_size, max_len=48, d_model=32, n_layers=1, n_heads=2, dropout=0.0
    )
    model = objective.build_model(config)
    assert model.config.n_segments == 2
    batch = objective.corrupt(data[:2], torch.Generator().manual_seed(0))
    n = batch.n_predicted
    seen = {}
    original = model.mlm_head.forward

    def frozen(hidden, positions=None):
        seen["called"] = True
        return torch.zeros(n, tokenizer.vocab_size, requires_grad=True)

    model.mlm_head.forward = frozen
    out = objective.loss(model, batch)
    assert seen and abs(out.loss.item() - math.log(tokenizer.vocab_size)) < 1e-5  # uniform logits: log V
    model.mlm_head.forward = original
    torch.manual_seed(0)
    train_config = TrainConfig(steps=30, batch_size=16, lr=1e-2, warmup=3, eval_every=0, seed=0)
    result = Trainer(model, objective, data, train_config, device="cpu", live_plot=False).fit()
    losses = [r["loss"] for r in result.history]
    assert statistics.fmean(losses[-5:]) < statistics.fmean(losses[:5]) - 0.5
    gain = translation_gain(model, data, draws=1)
    assert gain["n_predicted"] > 0 and 0 <= gain["without_first"] <= 1 and 0 <= gain["with_first"] <= 1
    guesses = tlm_fill_mask(model, tokenizer, "the cat is eating fish .", "猫在吃[MASK]。", top_k=3)
    assert len(guesses) == 1 and len(guesses[0]) == 3
    with pytest.raises(InputError):
        tlm_fill_mask(model, tokenizer, "no mask here", "没有")


# ----------------------------------------------------------------------------- views, widget, exercises
def test_every_strategy_draws_in_the_corruption_view(world_data):
    from ptmlab.viz.corruption import show_corruption

    for name in STRATEGY_NAMES:
        html = show_corruption(
            make_strategy(name, world_data.tokenizer, mask_prob=0.4),
            world_data.tokenizer,
            "otto blackwood was born in umbermoor .",
            seed=1,
        ).data
        assert "predicted" in html


def test_masking_comparison_widget_html(world_data):
    from ptmlab.chapters.masked_lm import comparison_html
    from ptmlab.widgets.masking import MaskingComparisonApp

    text = "By profession, Otto Blackwood is a veterinarian in Umbermoor."
    html, stats = comparison_html(world_data.tokenizer, text, seed=0, mask_prob=0.3)
    for name in STRATEGY_NAMES:
        assert name.replace("_", " ") in html
        assert stats[name]["n_predicted"] >= 1
    assert "Otto Blackwood" in html  # the entity spans used are listed
    app = MaskingComparisonApp(world_data.tokenizer, text)
    before = app.output.value
    app.seed.value = 5
    assert app.output.value != before
    app.text.value = ""
    assert "empty" in app.message.value.lower()


def test_exercise_solutions_pass_and_wrong_answers_fail():
    from ptmlab.exercises import masking as ex

    for exercise_class in (ex.EightyTenTen, ex.GeometricSpanLengths, ex.WholeWordGroups):
        exercise = exercise_class()
        namespace = {"torch": torch}
        exec(exercise.solution_code, namespace)
        function = namespace[exercise.function_name]
        assert exercise.check(function), exercise_class.__name__

    def all_mask(ids, chosen, vocab_size, mask_id=4, n_special=5, generator=None):
        return torch.where(chosen, torch.full_like(ids, mask_id), ids)

    def uniform_lengths(n, p=0.2, max_len=10, generator=None):
        return torch.randint(1, max_len + 1, (n,), generator=generator)

    def every_token_a_word(tokens):
        return list(range(len(tokens)))

    assert not ex.EightyTenTen().check(all_mask)
    assert not ex.GeometricSpanLengths().check(uniform_lengths)
    assert not ex.WholeWordGroups().check(every_token_a_word)


def test_strategies_reject_bad_settings():
    with pytest.raises(InputError):
        EntityMasking(100, entity_share=1.5)
    with pytest.raises(InputError):
        WholeWordMasking(100, torch.ones(10, dtype=torch.bool))
