import json

import pytest
import torch

from ptmlab.errors import CheckpointError
from ptmlab.models.heads import MaskedLanguageModel
from ptmlab.models.transformer import TransformerConfig
from ptmlab.objectives.mlm import MaskedLM
from ptmlab.train.cache import load_or_train
from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint
from ptmlab.train.trainer import TrainConfig, Trainer, lr_at


def _fit(model, blocks, steps=60, seed=0):
    config = TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=5, eval_every=0, seed=seed)
    return Trainer(model, MaskedLM(60, mask_prob=0.3), blocks, config, device="cpu", live_plot=False).fit()


def test_a_few_steps_lower_the_loss(tiny_config, tiny_blocks):
    torch.manual_seed(0)
    result = _fit(MaskedLanguageModel(tiny_config), tiny_blocks)
    first = sum(r["loss"] for r in result.history[:5]) / 5
    last = sum(r["loss"] for r in result.history[-5:]) / 5
    assert last < first - 0.5
    assert result.evals and "eval_loss" in result.evals[-1] and result.tokens_per_second > 0


def test_same_seed_same_curve_on_cpu(tiny_config, tiny_blocks):
    curves = []
    for _ in range(2):
        torch.manual_seed(0)
        curves.append([r["loss"] for r in _fit(MaskedLanguageModel(tiny_config), tiny_blocks, steps=10).history])
    assert curves[0] == curves[1]


def test_interrupt_keeps_model_and_curve(tiny_config, tiny_blocks):
    def stop_at_step_7(row):
        if row["step"] == 7:
            raise KeyboardInterrupt

    model = MaskedLanguageModel(tiny_config)
    config = TrainConfig(steps=50, batch_size=8, eval_every=0)
    result = Trainer(model, MaskedLM(60), tiny_blocks, config, device="cpu", callbacks=[stop_at_step_7],
                     live_plot=False).fit()
    assert result.interrupted and len(result.history) == 7 and result.model is model


def test_schedule_warms_up_then_decays():
    config = TrainConfig(steps=100, lr=1.0, warmup=10)
    assert lr_at(0, config) == pytest.approx(0.1) and lr_at(9, config) == pytest.approx(1.0)
    assert lr_at(99, config) < 0.15 and lr_at(50, config) < 1.0


def test_checkpoint_round_trip(tmp_path, tiny_config):
    model = MaskedLanguageModel(tiny_config).eval()
    path = save_checkpoint(tmp_path / "run", model, {"note": "hello"})
    loaded, sidecar = load_checkpoint(path)
    ids = torch.randint(5, 60, (2, 8))
    assert torch.allclose(model(ids).extras["logits"], loaded.eval()(ids).extras["logits"])
    assert sidecar["meta"]["note"] == "hello"
    assert loaded.mlm_head.embedding.weight is loaded.body.tok_emb.weight  # tying survives the round trip
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_truncated_checkpoint_is_refused(tmp_path, tiny_config):
    path = save_checkpoint(tmp_path / "run", MaskedLanguageModel(tiny_config))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_checkpoint_from_another_config_is_refused(tmp_path, tiny_config):
    path = save_checkpoint(tmp_path / "run", MaskedLanguageModel(tiny_config))
    other = MaskedLanguageModel(TransformerConfig(**{**tiny_config.to_dict(), "d_model": 64}))
    with pytest.raises(CheckpointError, match="different configuration"):
        load_checkpoint(path, other)


def test_corrupt_sidecar_and_missing_file(tmp_path, tiny_config):
    path = save_checkpoint(tmp_path / "run", MaskedLanguageModel(tiny_config))
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing_here")
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="not a ptmlab checkpoint"):
        load_checkpoint(tmp_path / "x")


def test_load_or_train_caches_by_config(tiny_config, monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    calls = []

    def train():
        calls.append(1)
        return MaskedLanguageModel(tiny_config), {"history": [{"step": 1, "loss": 1.0}]}

    first = load_or_train("unit", {"a": 1}, train)
    second = load_or_train("unit", {"a": 1}, train)
    third = load_or_train("unit", {"a": 2}, train)
    assert len(calls) == 2 and not first.from_cache and second.from_cache and not third.from_cache
    assert second.history == [{"step": 1, "loss": 1.0}]


def test_shared_cache_is_read_first_and_never_written(tiny_config, monkeypatch, tmp_path):
    shared = tmp_path / "shared"
    monkeypatch.setenv("PTMLAB_HOME", str(shared))  # an instructor fills it ...
    load_or_train("unit", {"a": 1}, lambda: (MaskedLanguageModel(tiny_config), {"who": "instructor"}))
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "student"))
    monkeypatch.setenv("PTMLAB_SHARED_CACHE", str(shared))
    shared.chmod(0o555)
    try:
        run = load_or_train("unit", {"a": 1}, lambda: pytest.fail("should load from the shared cache"))
        assert run.from_cache and run.meta["who"] == "instructor"
    finally:
        shared.chmod(0o755)


def test_damaged_cached_run_is_retrained(tiny_config, monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    run = load_or_train("unit", {"a": 3}, lambda: (MaskedLanguageModel(tiny_config), {}))
    run.path.write_bytes(b"garbage")
    again = load_or_train("unit", {"a": 3}, lambda: (MaskedLanguageModel(tiny_config), {"fresh": True}))
    assert not again.from_cache and again.meta["fresh"]


def test_embedding_recorder_replays_training_in_the_final_pca_plane(tiny_config, tiny_blocks):
    import numpy as np

    from ptmlab.data.tokenizers import WordTokenizer
    from ptmlab.errors import InputError
    from ptmlab.train.callbacks import EmbeddingRecorder
    from ptmlab.viz.projector import replay_figure

    torch.manual_seed(0)
    model = MaskedLanguageModel(tiny_config)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(tiny_config.vocab_size - 5)]
    recorder = EmbeddingRecorder(
        model.body.tok_emb, tiny_blocks, WordTokenizer({t: i for i, t in enumerate(vocab)}), every=4, n_tokens=20
    )
    assert len(recorder.ids) == 20 and min(recorder.ids) >= 5  # the most frequent non-special tokens
    start = recorder.vectors[0].clone()
    Trainer(model, MaskedLM(tiny_config.vocab_size, mask_prob=0.3), tiny_blocks,
            TrainConfig(steps=10, batch_size=16, lr=1e-2, eval_every=0), callbacks=[recorder], device="cpu",
            live_plot=False).fit()  # fmt: skip
    snapshots = recorder.projected()
    assert snapshots["steps"] == [0, 4, 8, 10]  # the start, every 4 steps, and always the trained state
    coords = [np.asarray(c) for c in snapshots["coords"]]
    assert all(c.shape == (20, 2) for c in coords)
    assert not torch.equal(start, recorder.vectors[-1])  # training moved the embeddings
    assert abs(coords[-1].mean(0)).max() < 1e-3  # the last frame is centred: its own PCA plane
    assert coords[-1][:, 0].var() >= coords[-1][:, 1].var()  # PC 1 carries the most variance
    figure = replay_figure(snapshots)
    assert len(figure.frames) == 4 and figure.layout.sliders[0].active == 3
    with pytest.raises(InputError, match="no embedding snapshots"):
        replay_figure(None)


def test_the_roadmap_run_key_holds_what_changes_the_model_and_nothing_else():
    """Words, timings and seeds lists are not in the run's key; every training field and the recipe version are."""
    import dataclasses
    from types import SimpleNamespace

    from ptmlab.chapters.roadmap import MLM_PRESETS, RECIPE_VERSION, run_config
    from ptmlab.io import config_hash

    corpus = SimpleNamespace(name="wiki", sentences=["a"] * 17000)
    preset = MLM_PRESETS["cpu"]
    key = run_config(preset, corpus)
    assert key["recipe_version"] == RECIPE_VERSION and "seeds" not in key and "expected" not in key
    reworded = dataclasses.replace(preset, expected="other words", expected_minutes=9.0, expected_accuracy=0.9)
    assert config_hash(run_config(reworded, corpus)) == config_hash(key)
    for change in ({"lr": 5e-3}, {"alibi": not preset.alibi}, {"mask_prob": 0.3}, {"eval_blocks": 128}):
        assert config_hash(run_config(dataclasses.replace(preset, **change), corpus)) != config_hash(key)


def test_the_roadmap_chapter_runs_end_to_end_on_the_experiment_protocol(monkeypatch, tmp_path):
    from ptmlab.chapters.roadmap import EXPERIMENT

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    preset = EXPERIMENT.preset("smoke", max_sentences=400, vocab_size=400, d_model=32, steps=4, snapshots=2)
    comparison = EXPERIMENT.run(preset, progress=None)
    [row] = comparison.rows
    assert (row["arm"], row["seed"], row["from_cache"]) == ("mlm", 0, False)
    for metric in ("masked_accuracy", "counts_accuracy", "unigram_accuracy", "accuracy"):
        assert 0.0 <= row[metric] <= 1.0, metric
    # Learned means beating counting the neighbours on held-out [MASK] positions; four steps of smoke cannot.
    assert row["learned"] is False and "NOT learned" in row["check"] and "counting the neighbours" in row["check"]
    assert row["counts_accuracy"] > row["unigram_accuracy"]  # counting uses the context, even on smoke's tiny text
    lines = []
    again = EXPERIMENT.run(preset, progress=lines.append)
    assert again.rows[0]["from_cache"] and again.rows[0]["masked_accuracy"] == row["masked_accuracy"]
    assert "cached run, cached scores" in lines[0]
    header, rows = comparison.paper_table()
    assert "[MASK]" in header[1] and rows[0][1].startswith(f"{row['masked_accuracy']:.3f}")
    assert not any("0.49" in cell for r in rows for cell in r)  # the non-comparable reference is gone


def test_the_roadmap_cloze_facts_are_stated_by_training_articles_and_scored(monkeypatch, tmp_path):
    """Every cloze fact's answer sits in its sentence's place in a training (not held-out) article, and a run scores
    each whose answer is one token: five guesses, right at 1 and 5, and a summary that counts what it skipped."""
    from ptmlab.chapters import roadmap
    from ptmlab.data.corpora import load_corpus

    corpus = load_corpus("wiki")
    train, valid = corpus.split(roadmap.MLM_PRESETS["cpu"].valid_fraction, seed=0)
    train_text, valid_text = " ".join(train.sentences).lower(), " ".join(valid.sentences).lower()
    for sentence, answer in roadmap.CLOZE_FACTS:
        assert answer in train_text, answer
        before = sentence.split("[MASK]")[0].strip().split()[-1]
        assert f"{before} {answer}" in train_text, (before, answer)
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    run = roadmap.pretrain_mlm("smoke", max_sentences=400, vocab_size=400, d_model=32, steps=2, snapshots=1,
                               live_plot=False)  # fmt: skip
    rows = roadmap.cloze_rows(run)
    assert all(len(r["guesses"]) == 5 and r["top1"] <= r["top5"] for r in rows)
    summary = roadmap.cloze_summary(rows)
    assert f"of {len(rows)} facts" in summary and (len(rows) == len(roadmap.CLOZE_FACTS) or "skipped" in summary)
    assert len(roadmap.cloze_figure(rows).data[0].cells.values[0]) == len(rows)
    assert valid_text  # the held-out side exists (the facts were checked against the training side only)
