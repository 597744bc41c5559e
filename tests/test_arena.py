"""Chapter 09, the objective arena: the one objective factory, the all-token variants, the FLOP budget, cached runs and
scores, the verdicts against the papers, the board widget, the CLI and the exercises."""

import json

import pytest
import torch

from ptmlab.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    from ptmlab.chapters.objective_arena import arena_data

    return arena_data("smoke")


@pytest.fixture(scope="module")
def arena():
    from ptmlab.chapters.objective_arena import EXPERIMENT

    return EXPERIMENT.run("smoke", progress=None)


# ---------------------------------------------------------------------------- one factory for every objective
def test_make_objective_builds_and_trains_every_catalogued_objective(data):
    from ptmlab.chapters.objective_arena import model_config
    from ptmlab.objectives import CATALOGUE, make_objective

    tok = data.tokenizer
    for name in CATALOGUE:
        objective = make_objective(name, tok)
        assert objective.section == CATALOGUE[name].section
        if name in ("tlm", "sentence_pair", "bilm"):
            continue  # parallel text, sentence pairs and LSTMs: trained by their own chapters' tests
        torch.manual_seed(0)
        config = model_config(
            __import__("ptmlab.chapters.objective_arena", fromlist=["x"]).EXPERIMENT.preset("smoke"),
            "mass" if name in ("mass", "t5_span", "dae") else "mlm",
            tok.vocab_size,
        )
        model = objective.build_model(config)
        batch = objective.corrupt(data.blocks[:4], torch.Generator().manual_seed(0))
        loss = objective.loss(model, batch).loss
        assert torch.isfinite(loss) and loss.requires_grad, name


def test_make_objective_explains_what_is_missing(data):
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.objectives import make_objective

    plain = train_tokenizer(["a plain tokenizer without sentinels ."] * 4, kind="word", vocab_size=None)
    with pytest.raises(InputError, match="sentinel"):
        make_objective("t5_span", plain)
    with pytest.raises(InputError, match="Use one of"):
        make_objective("gpt5", data.tokenizer)


def test_all_tokens_mlm_predicts_every_real_token_but_corrupts_only_15_percent(data):
    from ptmlab.objectives.base import Op
    from ptmlab.objectives.mlm import MaskedLM

    ids = data.blocks[:64]
    plain = MaskedLM(data.tokenizer.vocab_size).corrupt(ids, torch.Generator().manual_seed(0))
    every = MaskedLM(data.tokenizer.vocab_size, predict_all=True).corrupt(ids, torch.Generator().manual_seed(0))
    assert torch.equal(plain.input_ids, every.input_ids)  # the same corruption ...
    real = (every.record != int(Op.SPECIAL)) & every.attention_mask.bool()
    assert torch.equal(every.loss_mask, real)  # ... but every real token is a target
    assert 0.12 < plain.loss_mask.sum() / real.sum() < 0.18
    assert ((every.record == int(Op.PREDICTED)) == (real & ~plain.loss_mask)).all()


def test_electra_15_percent_scores_the_discriminator_only_on_masked_positions(data, monkeypatch):
    import ptmlab.objectives.rtd as rtd
    from ptmlab.chapters.objective_arena import EXPERIMENT, model_config
    from ptmlab.objectives import make_objective

    seen = {}
    original = rtd.discriminator_loss

    def spy(logits, replaced, positions):
        seen["positions"] = positions.clone()
        return original(logits, replaced, positions)

    monkeypatch.setattr(rtd, "discriminator_loss", spy)
    config = model_config(EXPERIMENT.preset("smoke"), "rtd", data.tokenizer.vocab_size)
    for discriminate in ("all", "masked"):
        objective = make_objective("rtd", data.tokenizer, discriminate=discriminate)
        torch.manual_seed(0)
        batch = objective.corrupt(data.blocks[:8], torch.Generator().manual_seed(0))
        objective.loss(objective.build_model(config), batch)
        expected = batch.attention_mask.bool() & (batch.loss_mask if discriminate == "masked" else True)
        assert torch.equal(seen["positions"], expected)
    with pytest.raises(InputError, match="discriminate"):
        make_objective("rtd", data.tokenizer, discriminate="half")


# ---------------------------------------------------------------------------- one budget
def test_flop_counter_sees_attention_and_matches_the_analytic_estimate():
    from ptmlab.chapters.objective_arena import EXPERIMENT, arena_data, model_config, step_flops
    from ptmlab.objectives.rtd import training_step_flops

    preset = EXPERIMENT.preset("smoke")
    config = model_config(preset, "mlm", arena_data(preset).tokenizer.vocab_size)
    analytic = training_step_flops("mlm", config, preset.batch_size, preset.block_len)
    assert step_flops("mlm", preset) == pytest.approx(analytic, rel=0.15)


def test_every_contestant_gets_the_same_flops_within_one_step():
    from ptmlab.chapters.objective_arena import CONTESTANTS, compute_budget

    plan = compute_budget("smoke")
    assert set(plan["steps"]) == set(CONTESTANTS) - {"untrained"}
    for key, steps in plan["steps"].items():
        per_step = plan["flops_per_step"][key]
        assert abs(steps * per_step - plan["budget_flops"]) <= per_step / 2 + 1e-6 or steps == 1, key
    # the decoder, the generator, the full-vocabulary LM head: they cost more per step, so they get fewer steps
    assert plan["steps"]["dae"] < plan["steps"]["mlm"] and plan["steps"]["lm"] < plan["steps"]["mlm"]


def test_unknown_contestants_and_empty_seed_lists_get_clear_errors():
    from ptmlab.chapters.objective_arena import EXPERIMENT, check_keys

    with pytest.raises(InputError, match="Use some of"):
        check_keys(["mlm", "bert-large"])
    with pytest.raises(InputError, match="seed"):
        EXPERIMENT.run("smoke", arms=["mlm"], seeds=[], progress=None)


# ---------------------------------------------------------------------------- every model, one encoder interface
def test_encoder_of_reads_every_architecture(data):
    from ptmlab.chapters.objective_arena import CONTESTANTS, EXPERIMENT, encoder_of, make_contestant, model_config

    preset = EXPERIMENT.preset("smoke")
    ids = data.blocks[:3]
    for key in ("lm", "mlm", "mass", "plm", "rtd", "nsp", "infonce"):
        model = make_contestant(key, data.tokenizer).build_model(model_config(preset, key, data.tokenizer.vocab_size))
        out = encoder_of(model)(ids, (ids != 0).long())
        assert len(out.hidden_states) == preset.n_layers + 1, key
        assert out.last_hidden_state.shape == (*ids.shape, preset.d_model), key
    assert CONTESTANTS["nsp"].data == "pairs"


# ---------------------------------------------------------------------------- the arena, cached
def test_the_arena_scores_every_contestant(arena):
    from ptmlab.chapters.objective_arena import CONTESTANTS, EXPERIMENT, METRICS

    preset = EXPERIMENT.preset("smoke")
    assert arena.arms == list(CONTESTANTS)
    for row in arena.rows:
        for metric in (*METRICS, "arena"):
            assert 0 <= row[metric] <= 100, (row["arm"], metric)
        assert len(row["entity_layers"]) == preset.n_layers + 1
        assert set(row["sample_efficiency"]) == {str(n) for n in preset.label_counts}
        assert set(row["entity_efficiency"]) == {str(n) for n in preset.entity_label_counts}
        if row["arm"] != "untrained":
            assert len(row["history"]) == row["steps"] >= 1 and row["flops"] > 0


def test_runs_and_scores_come_back_from_the_cache_unchanged(arena):
    from ptmlab.chapters.objective_arena import EXPERIMENT, pretrain
    from ptmlab.runtime import cache_dir

    assert pretrain("rtd", "smoke", 0).from_cache
    again = EXPERIMENT.run("smoke", arms=["mlm", "rtd"], progress=None)
    assert all(r["from_cache"] for r in again.rows)
    first = {r["arm"]: r for r in arena.rows}
    for row in again.rows:
        assert row["arena"] == first[row["arm"]]["arena"]
    # a damaged score file is scored again, not trusted
    damaged = sorted(cache_dir("scores").glob("09_objective_arena-mlm-*.json"))
    assert damaged
    damaged[0].write_text("{not json")
    rescored = EXPERIMENT.run("smoke", arms=["mlm"], progress=None).rows[0]
    assert rescored["arena"] == pytest.approx(first["mlm"]["arena"], abs=1e-6)
    assert json.loads(damaged[0].read_text())["scores"]["arena"] == pytest.approx(rescored["arena"])


def test_electra_table5_and_the_rankings_are_computed_from_the_rows(arena):
    directions = arena.electra_table5()
    assert [(d["a"], d["b"]) for d in directions] == [("rtd", "rtd_15"), ("mlm_all", "mlm")]
    rankings = {r["table"]: r for r in arena.rankings()}
    assert "BART Table 1 (SQuAD F1)" in rankings and "ELECTRA Table 5 (GLUE)" in rankings
    for r in rankings.values():
        assert 0 <= r["agree"] <= r["pairs"] == len(r["paper"]) * (len(r["paper"]) - 1) // 2
        assert sorted(r["paper"]) == sorted(r["ours"])
    text = arena.report()
    assert "ELECTRA Table 5" in text and "TFLOPs" in text


def test_rankings_agree_with_a_copy_of_the_paper_and_disagree_with_its_reverse():
    from ptmlab.chapters.objective_arena import EXPERIMENT, PAPER_TABLES, ArenaResult

    paper = PAPER_TABLES["BART Table 1 (SQuAD F1)"]["scores"]

    def result(sign):
        rows = [{"arm": k, "seed": s, "arena": sign * v + s * 0.01} for k, v in paper.items() for s in (0, 1)]
        return ArenaResult(EXPERIMENT, EXPERIMENT.preset("smoke"), rows)

    same = next(r for r in result(1).rankings() if r["table"].startswith("BART"))
    assert same["agree"] == same["pairs"] == 10 and same["kendall_tau"] == 1.0
    flipped = next(r for r in result(-1).rankings() if r["table"].startswith("BART"))
    assert flipped["agree"] == 0 and flipped["kendall_tau"] == -1.0


def test_figures_draw_one_trace_per_chosen_objective(arena):
    keys = ["mlm", "rtd", "lm"]
    assert len(arena.curves_figure(keys).data) == 3
    assert len(arena.layers_figure(keys).data) == 3
    assert len(arena.efficiency_figure(keys).data) == 6  # two panels
    scoreboard = arena.scoreboard_figure(keys)
    assert {t.name for t in scoreboard.data if t.type == "bar"} == {"MLM (BERT)", "ELECTRA (RTD)", "LM (GPT)"}
    header, body = arena.scoreboard_rows()
    assert len(body) == len(arena.arms) and len(header) == len(body[0])


def test_the_board_redraws_for_the_ticked_objectives(arena):
    from ptmlab.widgets.arena import PRESETS_OF_KEYS, VIEWS, ArenaBoard

    board = ArenaBoard(arena)
    for view in VIEWS:
        board.view.value = view
        assert board.update() is not None
    board.quick.value = "ELECTRA Table 5: all tokens vs 15%"
    assert board.selected == list(PRESETS_OF_KEYS["ELECTRA Table 5: all tokens vs 15%"])
    board.select([])
    assert board.update() is None and "Tick" in board.message.value


def test_the_corruption_lineup_shows_every_plain_text_objective(data):
    from ptmlab.chapters.objective_arena import CONTESTANTS
    from ptmlab.widgets.arena import corruption_lineup

    html = corruption_lineup(data.tokenizer, "Otto Blackwood was born in Zenmarch in 1901 .").data
    for c in CONTESTANTS.values():
        if c.objective and c.data == "blocks":
            assert c.label in html


# ---------------------------------------------------------------------------- command line
def test_cli_arena_fills_the_cache_and_writes_rows(tmp_path, capsys, arena):
    from ptmlab.cli import main

    out = tmp_path / "rows.json"
    assert main(["arena", "--preset", "smoke", "--objectives", "untrained,mlm", "--seeds", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ELECTRA Table 5" in printed or "Rankings" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["objective"] for r in rows] == ["untrained", "mlm"]
    assert main(["arena", "--preset", "smoke", "--objectives", "bert-large"]) == 1
    assert "Use some of" in capsys.readouterr().err
    assert main(["arena", "--list"]) == 0 and "ELECTRA 15%" in capsys.readouterr().out


# ---------------------------------------------------------------------------- exercises
def _pairs_in_order(paper, ours):
    shared = [k for k in paper if k in ours]
    pairs = [(a, b) for i, a in enumerate(shared) for b in shared[i + 1 :]]
    return sum((paper[a] > paper[b]) == (ours[a] > ours[b]) for a, b in pairs), len(pairs)


SOLUTIONS = {
    "EqualComputeSteps": lambda budget, per_step: {k: max(1, round(budget / f)) for k, f in per_step.items()},
    "PredictedShare": lambda b: float(b.loss_mask.sum() / (b.attention_mask.bool() & (b.record != 8)).sum()),
    "RankingAgreement": _pairs_in_order,
}


@pytest.mark.parametrize("name", list(SOLUTIONS))
def test_exercises_accept_a_right_answer_and_reject_a_wrong_one(name):
    import ptmlab.exercises.arena as module

    exercise = getattr(module, name)()
    assert exercise.check(SOLUTIONS[name])
    wrong = {"EqualComputeSteps": lambda budget, per_step: {k: 0 for k in per_step},
             "PredictedShare": lambda b: 0.5,
             "RankingAgreement": lambda paper, ours: (0, 0)}[name]  # fmt: skip
    assert not exercise.check(wrong)
    assert exercise.hints and exercise.solution_code
    namespace = {}
    exec(exercise.solution_code, namespace)  # the printed solution is itself a right answer
    solution = [v for v in namespace.values() if getattr(v, "__module__", None) is None and callable(v)]
    assert len(solution) == 1, "the solution defines one function"
    solution = solution[0]
    assert exercise.check(solution)


def test_arena_runs_open_in_the_explorer(arena):
    from ptmlab.app import explorer
    from ptmlab.runtime import cache_dir

    choices = [c for c in explorer.cached_runs([cache_dir("runs")]) if c.label.startswith("arena-")]
    assert {c.label.split(":")[0] for c in choices} >= {"arena-mlm", "arena-rtd", "arena-dae", "arena-plm"}
    for prefix, family in (("arena-dae", "encoder-decoder"), ("arena-rtd", "rtd"), ("arena-lm", "causal")):
        loaded = explorer.load_model(next(c for c in choices if c.label.startswith(prefix + ":")))
        assert loaded.family == family
        assert explorer.analyse(loaded, "Otto Blackwood was born in Zenmarch .").attentions


def test_missing_runs_lists_what_is_not_cached_yet(arena):
    from ptmlab.chapters.objective_arena import missing_runs

    assert missing_runs("smoke") == []  # the module's arena filled the cache
    assert missing_runs("smoke", ["mlm", "rtd"], seeds=[0, 7]) == [("mlm", 7), ("rtd", 7)]
