"""InfoNCE / DIM sentence objective, negative sampling and NCE, the replaced-token view, the exercises and the probe."""

from __future__ import annotations

import math

import pytest
import torch

from ptmlab.errors import InputError
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.base import Op
from ptmlab.objectives.contrastive import InfoNCEObjective, info_nce_loss, negative_sampling_loss

VOCAB = 60


def _blocks(n: int = 32, seq: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (n, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[:, 8] = 3  # two sentences per block
    ids[: n // 2, -5:] = 0
    ids[: n // 2, -6] = 3
    return ids


# ---------------------------------------------------------------------------- the losses by hand
def test_info_nce_by_hand():
    loss, logits = info_nce_loss(torch.eye(2), torch.eye(2), temperature=1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-5)
    assert torch.allclose(logits, torch.eye(2))
    same = info_nce_loss(torch.randn(5, 3), torch.ones(5, 3), 0.1)[0]
    assert same.item() == pytest.approx(math.log(5), rel=1e-5), "nothing to tell apart: chance, log n"
    perfect = info_nce_loss(torch.eye(4), torch.eye(4), 0.01)[0]
    assert perfect.item() < 1e-6
    unnormalised = info_nce_loss(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.eye(2), 1.0, normalize=False)[0]
    by_hand = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert unnormalised.item() == pytest.approx(by_hand, rel=1e-5)
    with pytest.raises(InputError):
        info_nce_loss(torch.eye(2), torch.eye(3), 0.1)
    with pytest.raises(InputError):
        info_nce_loss(torch.eye(2), torch.eye(2), 0.0)


def test_negative_sampling_by_hand():
    k, d = 4, 3
    zero = negative_sampling_loss(torch.zeros(d), torch.zeros(d), torch.zeros(k, d))
    assert zero.item() == pytest.approx((1 + k) * math.log(2), rel=1e-6)
    c, o, n = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0]), torch.tensor([[-1.0, 0.0], [0.0, 5.0]])
    by_hand = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1)) + math.log(2)
    assert negative_sampling_loss(c, o, n).item() == pytest.approx(by_hand, rel=1e-6)
    # batched = mean of the rows
    batch = negative_sampling_loss(torch.stack([c, c]), torch.stack([o, o]), torch.stack([n, n]))
    assert batch.item() == pytest.approx(by_hand, rel=1e-6)


def test_nce_subtracts_log_k_q():
    c, o, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([[[-1.0, 0.0], [0.0, 5.0]]])
    log_q_pos, log_q_neg = torch.tensor([math.log(0.1)]), torch.tensor([[math.log(0.2), math.log(0.05)]])
    k = 2
    s_pos = 2.0 - math.log(k * 0.1)
    s_neg = [-1.0 - math.log(k * 0.2), 0.0 - math.log(k * 0.05)]
    by_hand = math.log(1 + math.exp(-s_pos)) + sum(math.log(1 + math.exp(s)) for s in s_neg)
    assert negative_sampling_loss(c, o, n, log_q_pos, log_q_neg).item() == pytest.approx(by_hand, rel=1e-6)
    # negative sampling is NCE with k q(w) = 1
    ones = torch.full((1,), -math.log(k)), torch.full((1, 2), -math.log(k))
    assert negative_sampling_loss(c, o, n, *ones).item() == pytest.approx(negative_sampling_loss(c, o, n).item())
    with pytest.raises(InputError):
        negative_sampling_loss(c, o, n, log_q_pos, None)


# ---------------------------------------------------------------------------- the InfoNCE / DIM objective
def test_infonce_corrupt_masks_one_ngram_inside_a_sentence():
    objective = InfoNCEObjective(VOCAB, min_n=2, max_n=4)
    ids = _blocks(200)
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    lengths = batch.loss_mask.sum(-1)
    assert ((lengths >= 2) & (lengths <= 4)).all()
    assert set(lengths.tolist()) == {2, 3, 4}
    special = ids < 5
    assert not batch.loss_mask[special].any(), "an n-gram never covers [CLS], [SEP] or padding"
    for row in range(len(ids)):
        where = batch.loss_mask[row].nonzero().flatten()
        assert (where[1:] - where[:-1] == 1).all(), "the n-gram is contiguous"
        ngram = batch.extra["ngram_ids"][row]
        n = len(where)
        assert ngram[0] == 2 and ngram[n + 1] == 3 and (ngram[n + 2 :] == 0).all()
        assert torch.equal(ngram[1 : n + 1], ids[row, where])
    assert (batch.input_ids[batch.loss_mask] == 4).all()
    assert (batch.record[batch.loss_mask] == int(Op.MASKED)).all()
    again = objective.corrupt(ids, torch.Generator().manual_seed(0))
    assert torch.equal(again.loss_mask, batch.loss_mask), "pure and seeded"


def test_infonce_short_rows_fall_back_to_shorter_ngrams():
    objective = InfoNCEObjective(VOCAB, min_n=3, max_n=3)
    ids = torch.tensor([[2, 10, 3, 0, 0], [2, 3, 0, 0, 0]])
    batch = objective.corrupt(ids, torch.Generator().manual_seed(0))
    assert batch.loss_mask[0].tolist() == [False, True, False, False, False]
    assert not batch.loss_mask[1].any() and batch.extra["ngram_ids"][1, :2].tolist() == [2, 3]


def test_infonce_loss_starts_at_chance_and_training_lowers_it():
    from ptmlab.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    objective = InfoNCEObjective(VOCAB, temperature=0.1)
    model = objective.build_model(TransformerConfig(vocab_size=VOCAB, max_len=24, d_model=32, n_heads=2, n_layers=1,
                                                    dropout=0.0))  # fmt: skip
    model.eval()
    batch = objective.corrupt(_blocks(16), torch.Generator().manual_seed(0))
    first = objective.loss(model, batch)
    assert first.metrics["infonce_loss"] == pytest.approx(math.log(16), abs=0.5), "untrained: about log(batch)"
    assert objective.score_matrix(model, batch).shape == (16, 16)
    config = TrainConfig(steps=40, batch_size=16, lr=3e-3, warmup=4, eval_every=0, seed=0)
    # a learnable corpus: each row counts up from a random start, so the context tells which n-gram was masked
    starts = torch.randint(5, VOCAB - 20, (256, 1), generator=torch.Generator().manual_seed(1))
    counting = starts + torch.arange(18)
    counting[:, 0], counting[:, -1] = 2, 3
    result = Trainer(model, objective, counting, config, device="cpu", live_plot=False).fit()
    early = sum(r["loss"] for r in result.history[:5]) / 5
    late = sum(r["loss"] for r in result.history[-5:]) / 5
    assert late < early - 0.3
    assert result.history[-1]["mi_lower_bound"] <= math.log(16) + 1e-6


def test_infonce_bad_settings():
    with pytest.raises(InputError):
        InfoNCEObjective(VOCAB, min_n=3, max_n=2)
    with pytest.raises(InputError):
        InfoNCEObjective(VOCAB, temperature=0)


# ---------------------------------------------------------------------------- the replaced-token view
def test_replaced_token_html_is_pure_and_escapes():
    from ptmlab.viz.contrastive import replaced_token_html

    html = replaced_token_html(["[CLS]", "<b>", "city"], [0.0, 0.9, 0.2], [False, True, False],
                               ["[CLS]", "town", "city"], title="t")  # fmt: skip
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert html.count("ptmlab-rtd-token") == 3
    assert "3px solid" in html and "was: town" in html
    assert "rgb(255,255,255)" in html, "P = 0 is white"
    with pytest.raises(ValueError):
        replaced_token_html(["a"], [0.1, 0.2])


def test_rtd_example_and_explorer_on_an_untrained_model():
    from ptmlab.chapters.contrastive import rtd_example
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.electra import ElectraModel
    from ptmlab.viz.contrastive import score_matrix_figure
    from ptmlab.widgets.contrastive import ReplacedTokenExplorer

    tokenizer = train_tokenizer(["she was born in the city of umbermoor .", "he works for a small company ."] * 5,
                                kind="word", vocab_size=100)  # fmt: skip
    torch.manual_seed(0)
    model = ElectraModel(TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=32, d_model=32, n_heads=4,
                                           n_layers=1))  # fmt: skip
    example = rtd_example(model, tokenizer, "she was born in the city .", seed=1, mask_prob=0.5)
    assert len(example.shown) == len(example.original) == len(example.probabilities)
    assert all(0 <= p <= 1 for p in example.probabilities)
    changed = [s != o for s, o in zip(example.shown, example.original)]
    assert changed == example.replaced
    assert not example.replaced[0] and not example.replaced[-1], "[CLS] and [SEP] are never replaced"
    typed = rtd_example(model, tokenizer, "she was born in the city .", use_generator=False)
    assert typed.shown == typed.original and not any(typed.replaced)
    explorer = ReplacedTokenExplorer(model, tokenizer, "he works for a company .")
    shown = explorer.show()
    assert shown is not None and "ptmlab-rtd" in explorer.output.value
    explorer.text.value = ""
    assert "⚠️" in explorer.output.value, "bad input shows a message, not a traceback"
    assert len(score_matrix_figure(torch.eye(3)).data) == 1


# ---------------------------------------------------------------------------- exercises: reference solutions pass
def _solutions():
    import torch.nn.functional as F

    def rtd_loss(mlm_logits, mlm_targets, disc_logits, replaced, weight=50.0):
        return float(F.cross_entropy(mlm_logits, mlm_targets)
                     + weight * F.binary_cross_entropy_with_logits(disc_logits, replaced.float()))  # fmt: skip

    def replaced_labels(original, masked, sampled):
        shown = original.clone()
        shown[masked] = sampled
        return shown != original

    def sop_pair(a, b, swap, cls_id=2, sep_id=3):
        first, second = (b, a) if swap else (a, b)
        return (
            [cls_id, *first, sep_id, *second, sep_id],
            [0] * (len(first) + 2) + [1] * (len(second) + 1),
            int(not swap),
        )

    def info_nce(q, k, t):
        return float(info_nce_loss(q, k, t)[0])

    def sgns(c, o, n):
        return float(-F.logsigmoid(o @ c) - F.logsigmoid(-(n @ c)).sum())

    return {"RTDLossByHand": rtd_loss, "ReplacedLabels": replaced_labels, "SOPPair": sop_pair, "InfoNCE": info_nce,
            "NegativeSampling": sgns}  # fmt: skip


@pytest.mark.parametrize("name", ["RTDLossByHand", "ReplacedLabels", "SOPPair", "InfoNCE", "NegativeSampling"])
def test_exercises_accept_a_right_answer_and_reject_a_wrong_one(name):
    from ptmlab.exercises import contrastive

    exercise = getattr(contrastive, name)()
    assert exercise.check(_solutions()[name])
    wrong = {
        "RTDLossByHand": lambda a, b, c, d, weight=50.0: 0.0,
        "ReplacedLabels": lambda original, masked, sampled: (
            masked.clone()
        ),  # forgets that a sample can equal the original
        "SOPPair": lambda a, b, swap, cls_id=2, sep_id=3: (
            [cls_id, *a, sep_id, *b, sep_id],
            [0] * (len(a) + len(b) + 3),
            1,
        ),
        "InfoNCE": lambda q, k, t: float(info_nce_loss(q, k, 1.0)[0]),  # ignores the temperature
        "NegativeSampling": lambda c, o, n: 0.0,
    }[name]
    assert not exercise.check(wrong)
    assert exercise.solution_code and exercise.hints


# ---------------------------------------------------------------------------- the entity-type probe
def test_entity_type_probe_splits_by_word_and_scores():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world
    from ptmlab.models.heads import MaskedLanguageModel
    from ptmlab.tasks.entities import ENTITY_CLASSES, entity_type_data, entity_type_probe

    documents = make_world(seed=5).documents()[:60]
    tokenizer = train_tokenizer([s.text for d in documents for s in d.sentences], kind="wordpiece", vocab_size=400)
    data = entity_type_data(tokenizer, documents, max_len=64)
    counts = data.counts()
    assert all(counts["train"][c] > 0 for c in range(5)) and all(counts["test"][c] > 0 for c in range(5))
    # no word or name is on both sides: the probe is tested on words it never saw labelled
    train_keys = {k for ks, ss in zip(data.keys, data.train_side) for k, s in zip(ks, ss) if k and s}
    test_keys = {k for ks, ss in zip(data.keys, data.train_side) for k, s in zip(ks, ss) if k and not s}
    assert train_keys and test_keys and not train_keys & test_keys
    torch.manual_seed(0)
    model = MaskedLanguageModel(TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=64, d_model=32, n_heads=2,
                                                  n_layers=1))  # fmt: skip
    scores = entity_type_probe(model, data, steps=30)
    assert 0.0 <= scores["balanced_accuracy"] <= 1.0 and 0.0 <= scores["accuracy"] <= 1.0
    assert len(ENTITY_CLASSES) == 6


# ---------------------------------------------------------------------------- views, switcher and result tables
def test_rtd_corruption_view_marks_replaced_and_unchanged_slots():
    from ptmlab.chapters.contrastive import RTDExample

    example = RTDExample(original=["[CLS]", "she", "was", "born", "[SEP]"], shown=["[CLS]", "he", "was", "born", "[SEP]"],
                         replaced=[False, True, False, False, False], probabilities=[0.0, 0.8, 0.1, 0.7, 0.0],
                         masked=[False, True, False, True, False])  # fmt: skip
    html = example.corruption_html("t")
    assert "replaced by a random token" in html, "the generator's replacement is drawn as REPLACED"
    assert "kept but predicted" in html, "a masked slot sampled back to its original is drawn as UNCHANGED"
    assert html.count("special token") >= 1 and example.detection_accuracy == pytest.approx(4 / 5)


def test_contrast_switcher_draws_every_objective():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world
    from ptmlab.viz.contrastive import contrast_view
    from ptmlab.widgets.contrastive import ContrastSwitcher

    documents = make_world(seed=3).documents()[:30]
    tokenizer = train_tokenizer([s.text for d in documents for s in d.sentences], kind="wordpiece", vocab_size=300)
    views = {name: contrast_view(name, tokenizer, documents, seed=1) for name in ("rtd", "infonce", "nsp", "sop")}
    assert all("ptmlab-corruption" in v for v in views.values())
    assert "masked" in views["rtd"] and "masked" in views["infonce"]
    sop_views = [contrast_view("sop", tokenizer, documents, seed=s) for s in range(8)]
    assert any("moved" in v for v in sop_views) and any("in order" in v for v in sop_views), "both labels appear"
    with pytest.raises(InputError):
        contrast_view("gan", tokenizer, documents)
    switcher = ContrastSwitcher(tokenizer, documents)
    assert "ptmlab-corruption" in switcher.update()
    switcher.objective.value = "nsp"
    assert "NSP" in switcher.output.value.upper()


def _fake_rows():
    rows = []
    for seed, (nsp_nsp, nsp_sop, sop_nsp, sop_sop) in enumerate([(0.8, 0.5, 0.7, 0.9), (0.82, 0.52, 0.72, 0.88),
                                                                  (0.79, 0.49, 0.69, 0.91)]):  # fmt: skip
        for arm, nsp, sop, seconds in (("none", 0.5, 0.5, 0.0), ("nsp", nsp_nsp, nsp_sop, 3.0),
                                       ("sop", sop_nsp, sop_sop, 3.0)):  # fmt: skip
            rows.append({"arm": arm, "seed": seed, "mlm": 0.2, "nsp": nsp, "sop": sop, "train_seconds": seconds,
                         "from_cache": False, "learned": None, "check": None})  # fmt: skip
    return rows


def test_cross_evaluation_table_and_directions_from_rows():
    from ptmlab.chapters.contrastive import PAIR_EXPERIMENT, PRESETS, cross_evaluation_figure
    from ptmlab.experiment import Comparison

    result = Comparison(PAIR_EXPERIMENT, PRESETS["smoke"], _fake_rows())
    stats = result.summary()
    assert stats["sop"]["sop"][0] == pytest.approx(0.8967, abs=1e-3) and stats["nsp"]["sop"][2] == 3
    lines = PAIR_EXPERIMENT.claims(result)
    assert lines[0].startswith("SOP model - NSP model, evaluated on SOP: +39.3") and "3/3" in lines[0]
    assert "-10.0" in lines[1] and "0/3" in lines[1]
    assert "50.3" in lines[2]
    header, rows = result.paper_table()
    assert header[0] == "trained with" and "(paper 90.5)" in rows[1][2] and rows[2][0] == "SOP + MLM"
    assert result.direction()["mean_difference"] == pytest.approx(0.3933, abs=1e-3)
    figure = cross_evaluation_figure(result)
    assert len(figure.data) == 2 and figure.data[0].z[1][1] == pytest.approx(50.33, abs=0.01)


def test_encoder_comparison_direction_from_rows():
    from ptmlab.chapters.contrastive import EXPERIMENT, PRESETS, electra_table, equal_compute_figure
    from ptmlab.experiment import Comparison

    budget = {"mlm": 10, "rtd": 8, "flops_per_step": {"mlm": 1e9, "rtd": 1.25e9}, "budget_flops": 1e10}
    rows = [{"arm": k, "seed": s, "balanced_accuracy": acc + 0.01 * s, "accuracy": 0.5, "train_seconds": 1.0,
             "from_cache": False, "learned": None, "check": None}
            for s in range(3) for k, acc in (("untrained", 0.3), ("mlm", 0.4), ("rtd", 0.45))]  # fmt: skip
    result = Comparison(EXPERIMENT, PRESETS["smoke"], rows)
    d = result.direction()
    assert d["mean_difference"] == pytest.approx(0.05) and d["wins"] == 3 and d["seeds"] == 3
    assert result.verdict().startswith("RTD (ELECTRA discriminator) beats MLM (BERT-style)")
    _, table = electra_table(result, budget)
    assert [r[3] for r in table] == ["0", "10", "8"] and table[1][4] == table[2][4] == "0.01" and table[0][4] == "0.00"
    assert table[2][2] == "79.9"
    assert len(equal_compute_figure(result, budget).data) == 6


def test_chapter_tokenizer_is_saved_so_cached_runs_keep_their_ids(tmp_path, monkeypatch):
    from ptmlab.chapters import contrastive as ch

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    ch._chapter_data.cache_clear()
    first = ch.chapter_data(ch.PRESETS["smoke"])
    saved = list((tmp_path / "tokenizers").glob("wordpiece-*.json"))
    assert len(saved) == 1
    ch._chapter_data.cache_clear()
    again = ch.chapter_data(ch.PRESETS["smoke"])  # a new build reads the saved vocabulary instead of training anew
    ids = list(range(first.tokenizer.vocab_size))
    assert first.tokenizer.convert_ids_to_tokens(ids) == again.tokenizer.convert_ids_to_tokens(ids)
    assert torch.equal(first.blocks, again.blocks)
    ch._chapter_data.cache_clear()


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(tmp_path, monkeypatch):
    from ptmlab.chapters import contrastive as ch

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    ch._chapter_data.cache_clear()
    preset = ch.EXPERIMENT.preset("smoke", mlm_steps=2, pair_base_steps=2, pair_steps=2, probe_steps=5, seeds=(0,),
                                  pair_seeds=(0, 1))  # fmt: skip
    comparison = ch.EXPERIMENT.run(preset, progress=None)
    assert [(r["arm"], r["seed"]) for r in comparison.rows] == [("untrained", 0), ("mlm", 0), ("rtd", 0)]
    assert all(0.0 <= r[m] <= 1.0 for r in comparison.rows for m in ch.EXPERIMENT.metrics)
    again = ch.EXPERIMENT.run(preset, arms=("rtd",), progress=None)
    assert again.rows[0]["from_cache"] and again.rows[0]["balanced_accuracy"] == comparison.rows[2]["balanced_accuracy"]
    assert comparison.direction()["a"] == "rtd" and comparison.paper_table()[1][2][2] == "79.9"
    pairs = ch.PAIR_EXPERIMENT.run(preset, progress=None)
    assert [(r["arm"], r["seed"]) for r in pairs.rows] == [(a, s) for a in ("none", "nsp", "sop") for s in (0, 1)]
    assert all(0.0 <= r[t] <= 1.0 for r in pairs.rows for t in ("mlm", "nsp", "sop"))
    cached = ch.PAIR_EXPERIMENT.run(preset, arms=("sop",), seeds=(1,), progress=None)
    assert cached.rows[0]["from_cache"] and cached.rows[0]["sop"] == pairs.rows[-1]["sop"]
    assert len(ch.PAIR_EXPERIMENT.claims(pairs)) == 3 and len(ch.cross_evaluation_figure(pairs).data) == 2
    ch._chapter_data.cache_clear()
