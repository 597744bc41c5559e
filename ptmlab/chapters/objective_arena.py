"""Chapter 09, the objective arena: every pre-training objective of the survey on one backbone, one corpus, one budget.

Qiu et al. 2020, Section 3.1 and Table 2, side by side; ELECTRA Table 5's question (Clark et al. 2020): do losses over all
tokens beat losses over the 15% an MLM predicts (85.0 / 84.3 vs 82.4 / 82.2 GLUE)?

API:
    ArenaPreset, PRESETS; EXPERIMENT.preset(name) -> ArenaPreset
    CONTESTANTS: {key: Contestant}: the objectives that compete (and an untrained baseline): EXPERIMENT's arms
    arena_data(preset) -> ArenaData: the tokenizer, the one pre-training corpus and the probe tasks
    compute_budget(preset, keys) -> {"budget_flops", "flops_per_step": {key: f}, "steps": {key: n}}
    pretrain(key, preset, seed) -> Run (cached with load_or_train); score_model(model, preset, seed) -> dict
    EXPERIMENT.run(preset, arms=None, seeds=None) -> ArenaResult (a Comparison): every run trained or loaded, and
        scored (scores cached by the protocol); missing_runs(preset) lists what is not cached yet
    ArenaResult: .rows, .stats(), .scoreboard_rows(), .electra_table5(), .rankings(), .summary() and the figures
        .curves_figure(keys), .scoreboard_figure(keys), .layers_figure(keys), .efficiency_figure(keys)"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F

from ptmlab import runtime
from ptmlab.errors import InputError
from ptmlab.experiment import ChapterPreset, Comparison, Experiment, resolve_preset
from ptmlab.io import read_json
from ptmlab.tasks.features import encoder_of
from ptmlab.tasks.stats import mean_sd
from ptmlab.train.pretrain import pretrain_objective

METRICS = {  # every score is in %; "arena" (their mean) plays the part of a GLUE average
    "entity_probe": "world entity types, frozen probe (bal. acc. %)",
    "entity_finetune": "world entity types, fine-tuned (bal. acc. %)",
    "sentiment_probe": "real sentiment, frozen probe (acc. %)",
    "sentiment_finetune": "real sentiment, fine-tuned (acc. %)",
}


# ============================================================================ who competes
@dataclass(frozen=True)
class Contestant:
    key: str
    label: str
    objective: str  # a ptmlab.objectives.CATALOGUE name; "" for the untrained baseline
    family: str  # the survey's task type (Section 3.1)
    all_tokens: bool  # does the loss cover every input token? (ELECTRA Table 5's question)
    options: tuple[tuple[str, Any], ...] = ()  # for make_objective
    data: str = "blocks"  # "blocks", "spans" (entity ids ride along) or "pairs" (sentence pairs with segments)
    colour: str = "#888888"
    predicts: str = ""  # which tokens the loss covers, where an option changes the catalogue's answer

    @property
    def loss_over(self) -> str:
        """Which tokens the loss covers, in words."""
        from ptmlab.objectives import CATALOGUE

        if not self.objective:
            return "-"
        return self.predicts or ("every token" if self.all_tokens else CATALOGUE[self.objective].predicts)


CONTESTANTS: dict[str, Contestant] = {c.key: c for c in [
    Contestant("untrained", "no pre-training", "", "baseline", False, colour="#bdbdbd"),
    Contestant("lm", "LM (GPT)", "lm", "LM", True, colour="#1f77b4"),
    Contestant("mlm", "MLM (BERT)", "mlm", "MLM", False, colour="#d62728"),
    Contestant("mlm_all", "All-Tokens MLM", "mlm", "MLM", True, (("predict_all", True),), colour="#ff9896"),
    Contestant("whole_word", "whole-word MLM", "whole_word", "MLM", False, colour="#e377c2"),
    Contestant("span", "span MLM (SpanBERT)", "span", "MLM", False, colour="#c5b0d5"),
    Contestant("entity", "entity MLM (ERNIE)", "entity", "MLM", False, data="spans", colour="#9467bd"),
    Contestant("mass", "MASS", "mass", "Seq2Seq MLM", False, colour="#8c564b"),
    Contestant("t5_span", "T5 span corruption", "t5_span", "Seq2Seq MLM", False, colour="#c49c94"),
    Contestant("dae", "BART text infilling", "dae", "DAE", True, colour="#bcbd22"),
    Contestant("plm", "PLM (XLNet)", "plm", "PLM", False, colour="#17becf"),
    Contestant("rtd", "ELECTRA (RTD)", "rtd", "RTD", True, colour="#2ca02c"),
    Contestant("rtd_15", "ELECTRA 15%", "rtd", "RTD", False, (("discriminate", "masked"),), colour="#98df8a",
               predicts="15% of tokens (the generator's slots)"),
    Contestant("nsp", "MLM + NSP", "sentence_pair", "NSP/SOP", False, (("kind", "nsp"),), "pairs", "#ff7f0e"),
    Contestant("sop", "MLM + SOP", "sentence_pair", "NSP/SOP", False, (("kind", "sop"),), "pairs", "#ffbb78"),
    Contestant("infonce", "InfoNCE (InfoWord)", "infonce", "contrastive", False, colour="#7f7f7f"),
]}  # fmt: skip

# The papers' numbers for the contestants they cover (/work/shared/PAPER_NUMBERS.md). Each table is ranked against
# the arena; mappings marked ≈ are approximate (the paper's variant differs from ours).
PAPER_TABLES: dict[str, dict[str, Any]] = {
    "ELECTRA Table 5 (GLUE)": {"scores": {"rtd": 85.0, "mlm_all": 84.3, "rtd_15": 82.4, "mlm": 82.2}, "note": ""},
    "ELECTRA Table 1 (GLUE, equal compute)": {"scores": {"rtd": 79.9, "mlm": 75.1}, "note": ""},
    "BART Table 1 (SQuAD F1)": {
        "scores": {"dae": 90.8, "mlm": 90.0, "plm": 89.1, "mass": 87.0, "lm": 76.7},
        "note": "MASS ≈ BART's 'Masked Seq2seq'",
    },
    "T5 Table 4 (GLUE avg)": {
        "scores": {"t5_span": 83.28, "mlm": 82.96, "lm": 80.69},
        "note": "≈: T5's rows are all encoder-decoders (BERT-style ≈ MLM, prefix LM ≈ LM)",
    },
    "SpanBERT Table 6 (SQuAD 2.0)": {
        "scores": {"span": 85.4, "entity": 84.8, "whole_word": 84.3, "mlm": 83.8},
        "note": "",
    },
    "ALBERT Table 5 (avg)": {"scores": {"sop": 80.1, "nsp": 79.2, "mlm": 79.0}, "note": "MLM = ALBERT's 'none'"},
    "XLNet Table 6 (RACE)": {"scores": {"plm": 66.05, "mlm": 64.3}, "note": "≈: BERT-base vs XLNet-base"},
}
ELECTRA_PAIRS = (("rtd", "rtd_15"), ("mlm_all", "mlm"))  # (all tokens, 15% of tokens), otherwise equal


# ============================================================================ presets
@dataclass(frozen=True)
class ArenaPreset(ChapterPreset):
    """Sizes of the arena. The budget: every contestant gets the training FLOPs of `reference_steps` MLM steps.
    expected_minutes: with every run cached; cache_fill_minutes: training and scoring every run once."""

    pretrain_worlds: int = 2  # world documents 0..pretrain_worlds-1 ...
    documents_per_world: int | None = None
    real_sentences: int = 6000  # ... plus this many sentences of the Wikipedia extract (real English)
    heldout_world: int = 1000  # the entity-type probe's sentences come from a world never pre-trained on
    vocab_size: int = 2000
    block_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    batch_size: int = 16
    lr: float = 1e-3
    reference_steps: int = 800
    seeds: tuple[int, ...] = (0, 1, 2)
    probe_sentences: int = 1200
    probe_steps: int = 150
    finetune_steps: int = 120
    finetune_lr: float = 1e-3
    sentiment_splits: int = 10  # random half/half splits of the 200 sentiment sentences, averaged (frozen probe)
    finetune_splits: int = 3  # ... and for fine-tuning
    label_counts: tuple[int, ...] = (10, 20, 40, 100)  # sample efficiency: labelled sentences for the probe
    entity_label_counts: tuple[int, ...] = (5, 20, 80, 320)  # ... and labelled tokens per entity class
    cache_fill_minutes: float = 0.0  # training and scoring every run once


PRESETS: dict[str, ArenaPreset] = {
    "smoke": ArenaPreset(
        pretrain_worlds=1, documents_per_world=60, real_sentences=200, vocab_size=500, block_len=32, d_model=32,
        n_layers=1, n_heads=2, batch_size=8, reference_steps=4, seeds=(0,), probe_sentences=80, probe_steps=10,
        finetune_steps=4, sentiment_splits=2, finetune_splits=1, label_counts=(10, 40),
        entity_label_counts=(5, 20),
        expected="smoke: checks the pipeline only; far too short to learn anything.",
        expected_minutes=0.5, cache_fill_minutes=0.5),
    "cpu": ArenaPreset(  # measured 26 Nov 2026 on 2 idle cores, seeds 0-2 (the notebook's last section has the table)
        expected="cpu (measured): world entity-type probe, bal. acc. %: LM 54.1 ± 1.5, BART infilling 44.2 ± 3.6, "
                 "MASS 40.7 ± 1.4, MLM 33.7 ± 1.6, untrained 28.2 ± 1.3, ELECTRA 24.8 ± 1.6 vs ELECTRA 15% "
                 "21.7 ± 0.5; real sentiment at chance for every objective.",
        expected_minutes=0.5, cache_fill_minutes=29.0),  # 28 s with every run cached; 1,731 s from an empty cache
    "gpu": ArenaPreset(
        pretrain_worlds=8, real_sentences=30000, vocab_size=4000, block_len=128, d_model=128, n_layers=4,
        batch_size=64, lr=5e-4, reference_steps=3000, seeds=(0, 1, 2, 3, 4), probe_sentences=2500, probe_steps=300,
        finetune_steps=300, expected="gpu: target, not measured (no GPU was available when this chapter was written).",
        expected_minutes=2.0, cache_fill_minutes=30.0),
}  # fmt: skip


def _preset(preset: ArenaPreset | str | None) -> ArenaPreset:
    """A preset object, a preset name, or None (the PTMLAB_PRESET / device default): EXPERIMENT.preset(...)."""
    return resolve_preset(PRESETS, preset)


def _sizes(preset: ArenaPreset) -> dict[str, Any]:
    names = ("pretrain_worlds", "documents_per_world", "real_sentences", "vocab_size", "block_len", "d_model",
             "n_layers", "n_heads", "batch_size", "lr", "reference_steps")  # fmt: skip
    return {"recipe": "arena", "version": 1, **{n: getattr(preset, n) for n in names}}


def check_keys(keys: Sequence[str] | None) -> list[str]:
    if keys is None:
        return list(CONTESTANTS)
    unknown = [k for k in keys if k not in CONTESTANTS]
    if unknown or not keys:
        raise InputError(
            f"Unknown contestant(s): {unknown or 'none given'}.", fix=f"Use some of: {', '.join(CONTESTANTS)}."
        )
    return list(dict.fromkeys(keys))


# ============================================================================ the one corpus, the one backbone
@dataclass
class ArenaData:
    tokenizer: Any
    documents: list[list[str]]  # pre-training documents, each a list of sentences (world + Wikipedia)
    span_blocks: torch.Tensor  # [n, 2, block_len]: token ids and entity span ids (0 = none)
    heldout_blocks: torch.Tensor  # [n, block_len] from the held-out world
    probe: Any  # ptmlab.tasks.entities.EntityTypeData on the held-out world
    sentiment: list[tuple[list[int], int]]  # token ids ([CLS] ... [SEP]) and label of each real sentiment sentence

    @property
    def blocks(self) -> torch.Tensor:
        return self.span_blocks[:, 0]

    def __repr__(self) -> str:
        return (f"ArenaData({len(self.documents)} documents, {self.blocks.numel():,} tokens in {len(self.blocks)} blocks, "
                f"vocabulary {self.tokenizer.vocab_size}, {len(self.probe.rows)} probe sentences, "
                f"{len(self.sentiment)} sentiment sentences)")  # fmt: skip


def arena_data(preset: ArenaPreset | str | None = None) -> ArenaData:
    """The arena's text, tokenizer and downstream tasks for a preset (built once per process)."""
    p = _preset(preset)
    return _arena_data(p.pretrain_worlds, p.documents_per_world, p.real_sentences, p.heldout_world, p.vocab_size,
                       p.block_len, p.probe_sentences)  # fmt: skip


@lru_cache(maxsize=2)
def _arena_data(worlds, per_world, real_sentences, heldout_world, vocab_size, block_len, probe_sentences) -> ArenaData:
    from ptmlab.data.batching import pack_sentences
    from ptmlab.data.corpora import load_corpus, sentiment_sentences
    from ptmlab.data.tokenizers import encode_for_model, train_tokenizer
    from ptmlab.data.world import make_world
    from ptmlab.objectives.masking import pack_with_spans
    from ptmlab.objectives.seq2seq import add_sentinels
    from ptmlab.tasks.entities import entity_type_data

    if heldout_world < worlds:
        raise InputError("The held-out world must not be a pre-training world.", fix="Use heldout_world=1000.")
    world_docs = [doc for seed in range(worlds) for doc in make_world(seed=seed).documents(per_world)]
    sentences = [(s.text, [(e.start, e.end) for e in s.entities]) for doc in world_docs for s in doc.sentences]
    documents = [[s.text for s in doc.sentences] for doc in world_docs]
    if real_sentences:
        wiki = load_corpus("wiki", max_sentences=real_sentences).documents or []
        documents += wiki
        sentences += [(s, []) for doc in wiki for s in doc]
    # train_tokenizer caches subword tokenizers by their text, so every process reads cached runs with the same ids.
    tokenizer = add_sentinels(train_tokenizer([t for t, _ in sentences], kind="wordpiece", vocab_size=vocab_size), 32)
    heldout = make_world(seed=heldout_world).documents(per_world)
    heldout_sentences = [s.text for doc in heldout for s in doc.sentences]

    sentiment = [(encode_for_model(tokenizer, text, block_len, truncate=True), label)
                 for text, label in sentiment_sentences()]  # fmt: skip
    return ArenaData(
        tokenizer,
        documents,
        pack_with_spans(tokenizer, sentences, block_len),
        pack_sentences(tokenizer, heldout_sentences, block_len)[:64],
        entity_type_data(tokenizer, heldout, block_len, probe_sentences),
        sentiment,
    )


def model_config(preset: ArenaPreset, key: str, vocab_size: int):
    """The backbone every contestant shares: the same width, depth, heads and vocabulary. Encoder-decoders add a decoder
    of the same size (their encoder is what gets probed); sentence-pair models add segment embeddings."""
    from ptmlab.models.transformer import TransformerConfig

    family = CONTESTANTS[key].family
    return TransformerConfig(
        vocab_size=vocab_size,
        max_len=2 * preset.block_len if family in ("Seq2Seq MLM", "DAE") else preset.block_len,
        d_model=preset.d_model,
        n_layers=preset.n_layers,
        n_heads=preset.n_heads,
        dropout=0.0,  # dropout only slows models this small (measured in chapter 00)
        n_segments=2 if CONTESTANTS[key].data == "pairs" else 0,
    )


def make_contestant(key: str, tokenizer):
    """The Objective of a contestant, from the catalogue's one factory."""
    from ptmlab.objectives import make_objective

    contestant = CONTESTANTS[check_keys([key])[0]]
    if not contestant.objective:
        raise InputError("The untrained baseline has no objective.", fix="Pick a contestant other than 'untrained'.")
    return make_objective(contestant.objective, tokenizer, **dict(contestant.options))


def training_data(key: str, data: ArenaData, seed: int) -> torch.Tensor:
    """What the Trainer samples rows from: the same text for everyone, in the shape the objective reads."""
    from ptmlab.objectives.sentence import make_pairs

    contestant = CONTESTANTS[key]
    if contestant.data == "spans":
        return data.span_blocks
    if contestant.data == "pairs":
        kind = dict(contestant.options)["kind"]
        return make_pairs(data.documents, data.tokenizer, data.blocks.shape[1], kind, seed=seed + 1)
    return data.blocks


# ============================================================================ one compute budget
def _math_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **_):
    """scaled_dot_product_attention written out, so the FLOP counter sees it (it counts no fused kernel on CPU)."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return scores.softmax(-1) @ v


@lru_cache(maxsize=64)
def step_flops(key: str, preset: ArenaPreset) -> float:
    """FLOPs of one training step (forward + backward) of a contestant, counted by torch.utils.flop_counter on real
    batches: the matrix multiplications and attention of every part it trains (a generator too, a decoder too)."""
    from unittest import mock

    from torch.utils.flop_counter import FlopCounterMode

    if key == "untrained":
        return 0.0
    data = arena_data(preset)
    objective = make_contestant(key, data.tokenizer)
    torch.manual_seed(0)
    model = objective.build_model(model_config(preset, key, data.tokenizer.vocab_size))
    generator = torch.Generator().manual_seed(0)
    rows = training_data(key, data, 0)
    total = 0.0
    for _ in range(3):  # a few batches: how much is masked or generated varies a little
        picked = torch.randint(0, len(rows), (preset.batch_size,), generator=generator)
        batch = objective.corrupt(rows[picked], generator)
        with (
            FlopCounterMode(display=False) as counter,
            mock.patch.object(F, "scaled_dot_product_attention", _math_attention),
        ):
            objective.loss(model, batch).loss.backward()
        total += counter.get_total_flops()
    return total / 3


def compute_budget(preset: ArenaPreset | str | None = None, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The budget is the FLOPs of `reference_steps` MLM steps; each contestant gets as many steps as fit in it."""
    preset = _preset(preset)
    keys = [k for k in check_keys(keys) if k != "untrained"]
    budget = step_flops("mlm", preset) * preset.reference_steps
    per_step = {k: step_flops(k, preset) for k in keys}
    steps = {k: max(1, round(budget / f)) for k, f in per_step.items()}
    return {"budget_flops": budget, "flops_per_step": per_step, "steps": steps}


# ============================================================================ pre-training and scoring
def _run_config(key: str, preset: ArenaPreset, seed: int, steps: int) -> dict[str, Any]:
    """The cache key of a run: everything that changes it."""
    return {**_sizes(preset), "contestant": key, "seed": seed, "steps": steps}


def pretrain(key: str, preset: ArenaPreset | str | None = None, seed: int = 0, *, retrain: bool = False,
             live_plot: bool | None = False):  # fmt: skip
    """One contestant pre-trained within the budget (or loaded from the cache); returns a ptmlab.train.cache.Run."""
    from ptmlab.train.cache import Run

    preset = _preset(preset)
    key = check_keys([key])[0]
    data = arena_data(preset)
    config = model_config(preset, key, data.tokenizer.vocab_size)
    if key == "untrained":
        from ptmlab.models.heads import MaskedLanguageModel

        torch.manual_seed(seed)
        return Run(MaskedLanguageModel(config).eval(), {"history": [], "seconds": 0.0, "steps": 0, "flops": 0.0})
    plan = compute_budget(preset, [key])
    steps, per_step = plan["steps"][key], plan["flops_per_step"][key]
    run = pretrain_objective(
        f"arena-{key}",
        _run_config(key, preset, seed, steps),
        make_contestant(key, data.tokenizer),
        config,
        training_data(key, data, seed),
        steps=steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        eval_data=data.heldout_blocks if CONTESTANTS[key].data == "blocks" else None,
        title=f"{CONTESTANTS[key].label} (seed {seed})",
        live_plot=live_plot,
        # the tokenizer travels with the run, so `ptmlab explore` can open it
        meta={
            "steps": steps,
            "flops": per_step * steps,
            "flops_per_step": per_step,
            "tokenizer": data.tokenizer.to_dict(),
        },  # fmt: skip
        retrain=retrain,
    )
    return run


def _percent(values: Sequence[float]) -> float:
    """The mean of accuracies in [0, 1], in %, averaged as the arena always did (each value x 100, then the mean)."""
    return sum(v * 100 for v in values) / len(values)


def _sentiment_scores(encoder, data: ArenaData, preset: ArenaPreset, seed: int) -> dict[str, Any]:
    from ptmlab.tasks.classification import sentence_probe

    probe = sentence_probe(encoder, data.sentiment, splits=preset.sentiment_splits, steps=preset.probe_steps,
                           seed=seed, label_counts=preset.label_counts)  # fmt: skip
    return {"sentiment_probe": _percent(probe["accuracies"]),
            "sample_efficiency": {str(n): _percent(v) for n, v in probe["sample_efficiency_splits"].items()}}  # fmt: skip


def _entity_efficiency(encoder, data: ArenaData, preset: ArenaPreset, seed: int) -> dict[str, float]:
    """Sample efficiency on the world task: the frozen top-layer probe trained on n labelled tokens per class (words
    of the train side), balanced accuracy on the test side's unseen words, averaged over 3 draws of the n tokens."""
    from ptmlab.tasks.entities import entity_type_probe
    from ptmlab.tasks.features import frozen_features

    x = frozen_features(encoder, data.probe.rows)
    out = {}
    for n in preset.entity_label_counts:
        scores = [
            100
            * entity_type_probe(
                encoder, data.probe, preset.probe_steps, seed=seed, features=x, per_class=n, sample_seed=1000 * draw + n
            )["balanced_accuracy"]  # fmt: skip
            for draw in range(3)
        ]
        out[str(n)] = sum(scores) / len(scores)
    return out


def _finetune_entities(model, data: ArenaData, preset: ArenaPreset, seed: int) -> float:
    """Fine-tune every weight of the encoder with a token-classification head on the probe's train side; balanced
    accuracy on the test side (words never seen in fine-tuning)."""
    from ptmlab.tasks.classification import finetune_token_classifier
    from ptmlab.tasks.entities import ENTITY_CLASSES

    p = data.probe
    tuned = finetune_token_classifier(model, p.rows, p.labels, p.train_side, len(ENTITY_CLASSES),
                                      steps=preset.finetune_steps, lr=preset.finetune_lr, seed=seed)  # fmt: skip
    return 100 * tuned["balanced_accuracy"]


def _finetune_sentiment(model, data: ArenaData, preset: ArenaPreset, seed: int) -> float:
    """Fine-tune the encoder with a classifier on the mean of its states, on one half of the sentences; the accuracy on
    the other half, averaged over `finetune_splits` splits (100 test sentences alone swing by about 5 points)."""
    from ptmlab.tasks.classification import finetune_sentence_classifier

    tuned = finetune_sentence_classifier(model, data.sentiment, splits=preset.finetune_splits,
                                         steps=preset.finetune_steps, lr=preset.finetune_lr, seed=seed)  # fmt: skip
    return _percent(tuned["accuracies"])


def score_model(model, preset: ArenaPreset | str | None = None, seed: int = 0, data: ArenaData | None = None
                ) -> dict[str, Any]:  # fmt: skip
    """Every downstream score of one pre-trained model, in % (not cached: EXPERIMENT.run caches them)."""
    from ptmlab.runtime import get_device
    from ptmlab.tasks.entities import entity_type_probe

    preset = _preset(preset)
    data = data or arena_data(preset)
    model = model.to(get_device()).eval()
    encoder = encoder_of(model)
    layers = [
        100
        * entity_type_probe(encoder, data.probe, steps=preset.probe_steps, layer=layer, seed=seed)["balanced_accuracy"]
        for layer in range(preset.n_layers + 1)
    ]
    scores = {"entity_probe": layers[-1], "entity_layers": layers}
    scores["entity_efficiency"] = _entity_efficiency(encoder, data, preset, seed)
    scores |= _sentiment_scores(encoder, data, preset, seed)
    scores["entity_finetune"] = _finetune_entities(model, data, preset, seed)
    scores["sentiment_finetune"] = _finetune_sentiment(model, data, preset, seed)
    scores["arena"] = sum(scores[m] for m in METRICS) / len(METRICS)
    model.cpu()
    return scores


# ============================================================================ the experiment
class ObjectiveArenaExperiment(Experiment[ArenaPreset]):
    """Every contestant x every seed, pre-trained within one FLOP budget (or loaded) and scored on four downstream
    tasks; the paper's claim (ELECTRA Table 5): ELECTRA over all tokens beats ELECTRA over 15% of them."""

    name = "09_objective_arena"
    title = "The objective arena: every pre-training objective on one backbone, one corpus, one budget"
    presets = PRESETS
    arms = tuple(CONTESTANTS)
    arm_names = {k: c.label for k, c in CONTESTANTS.items()}
    arm_colours = {k: c.colour for k, c in CONTESTANTS.items()}
    metrics = METRICS
    direction = ("arena", *ELECTRA_PAIRS[0])

    def data(self, preset: ArenaPreset) -> ArenaData:
        return arena_data(preset)

    def pretrain(self, arm: str, preset: ArenaPreset, seed: int, data: ArenaData | None = None):
        return pretrain(arm, preset, seed)

    def score(self, arm: str, run, data: ArenaData, preset: ArenaPreset, seed: int) -> dict[str, Any]:
        """score_model's scores, and the run's steps, FLOPs and loss curve (for the scoreboard and the curves)."""
        history = run.meta.get("history", [])
        scores = score_model(run.model, preset, seed, data)
        facts = {"steps": run.meta.get("steps", len(history)), "flops": run.meta.get("flops", 0.0), "history": history}
        return json.loads(json.dumps(scores | facts))  # as a cached score reads back: a fresh row looks the same

    def score_config(self, arm: str, run, preset: ArenaPreset, seed: int) -> dict[str, Any] | None:
        key = super().score_config(arm, run, preset, seed)
        if key is None:
            return None
        key["preset"].pop("cache_fill_minutes", None)  # a timing: it changes no score
        return json.loads(json.dumps(key))  # tuples as lists, as the cached key reads back (else it never matches)

    def has_scores(self, arm: str, run_config: dict[str, Any] | None, preset: ArenaPreset, seed: int) -> bool:
        """Are the scores of the run trained with `run_config` (None: the untrained arm) cached, here or shared?"""
        key = self.score_config(arm, SimpleNamespace(meta={"config": run_config} if run_config else {}), preset, seed)
        shared = runtime.shared_cache()
        for root in ([shared / "scores"] if shared else []) + [None]:
            saved = read_json(self._score_path(key, root))
            if isinstance(saved, dict) and saved.get("key") == key and isinstance(saved.get("scores"), dict):
                return True
        return False

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        """Each paper table's order of the contestants it covers beside ours (by arena score)."""
        header = ["paper table", "paper's order", "arena's order", "pairs agreeing", "Kendall τ", "note"]
        label = self.label
        rows = [[r["table"], " > ".join(label(k) for k in r["paper"]), " > ".join(label(k) for k in r["ours"]),
                 f"{r['agree']}/{r['pairs']}", f"{r['kendall_tau']:+.2f}", r["note"]]
                for r in ArenaResult.rankings(comparison)]  # fmt: skip
        return header, rows

    def run(
        self,
        preset: ArenaPreset | str | None = None,
        *,
        arms: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
        progress: Callable[[str], None] | None = print,
        rescore: bool = False,
        retrain: bool = False,
    ) -> ArenaResult:
        """Train (or load) and score every contestant with every seed (the protocol's run(), one line per run). Runs
        and scores are cached one by one, so an interrupted arena resumes where it stopped, and `ptmlab arena` can
        fill a shared cache before a workshop. retrain: train every run again (and score it again)."""
        preset = self.preset(preset)
        keys = check_keys(arms)
        seeds = list(preset.seeds if seeds is None else seeds)
        if not seeds:
            raise InputError("No seeds.", fix="Pass at least one seed, e.g. seeds=[0].")
        if retrain:  # the retrained runs replace the cached ones, which run() below then loads
            for key in keys:
                for seed in seeds:
                    if key != "untrained":
                        pretrain(key, preset, seed, retrain=True)
        comparison = super().run(preset, arms=keys, seeds=seeds, progress=progress, rescore=rescore or retrain)
        return ArenaResult(self, comparison.preset, comparison.rows, budget=compute_budget(preset, keys))


def missing_runs(preset: ArenaPreset | str | None = None, keys: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None) -> list[tuple[str, int]]:  # fmt: skip
    """(contestant, seed) pairs whose run or scores are not cached yet: what EXPERIMENT.run would still train or score."""
    from ptmlab.train.cache import find_cached

    preset = _preset(preset)
    keys, seeds = check_keys(keys), list(preset.seeds if seeds is None else seeds)
    steps = compute_budget(preset, keys)["steps"]
    out = []
    for key in keys:
        for seed in seeds:
            config = None if key == "untrained" else _run_config(key, preset, seed, steps[key])
            if not EXPERIMENT.has_scores(key, config, preset, seed) or (
                config is not None and find_cached(f"arena-{key}", config) is None
            ):
                out.append((key, seed))
    return out


# ============================================================================ the whole arena
@dataclass(repr=False)
class ArenaResult(Comparison):
    """The arena's Comparison: one row per (arm, seed) with the four scores, "arena" (their mean), the per-layer and
    sample-efficiency curves, steps, FLOPs and the loss history; plus the compute budget every run got."""

    budget: dict[str, Any] = field(default_factory=dict)

    def stats(self, metric: str = "arena") -> dict[str, tuple[float, float, int]]:
        return {k: mean_sd([r[metric] for r in self.rows if r["arm"] == k]) for k in self.arms}

    def ranking(self, metric: str = "arena", keys: Sequence[str] | None = None) -> list[str]:
        stats = self.stats(metric)
        return sorted([k for k in (keys or self.arms) if k in stats], key=lambda k: -stats[k][0])

    def rows_json(self) -> list[dict[str, Any]]:
        """The rows as `ptmlab arena -o` writes them: "objective" for the arm, "seconds" of training."""
        return [{"objective": r["arm"], **{("seconds" if k == "train_seconds" else k): v for k, v in r.items()
                                           if k != "arm"}} for r in self.rows]  # fmt: skip

    def scoreboard_rows(self) -> tuple[list[str], list[list[str]]]:
        """One line per contestant, best arena score first: mean ± sd over seeds of each score, and the compute."""
        from ptmlab.objectives import CATALOGUE

        header = ["objective", "survey", "loss over", *[m.replace("_", " ") for m in METRICS], "arena",
                  "steps", "TFLOPs", "train s"]  # fmt: skip
        body = []
        for key in self.ranking():
            c = CONTESTANTS[key]
            runs = [r for r in self.rows if r["arm"] == key]
            cells = [f"{m:.1f} ± {s:.1f}" for m, s, _ in (mean_sd([r[x] for r in runs]) for x in (*METRICS, "arena"))]
            entry = CATALOGUE.get(c.objective)
            body.append([c.label, entry.section if entry else "-", c.loss_over, *cells,
                         str(runs[0]["steps"]), f"{runs[0]['flops'] / 1e12:.2f}",
                         f"{sum(r['train_seconds'] for r in runs) / len(runs):.0f}"])  # fmt: skip
        return header, body

    def electra_table5(self, metric: str = "arena") -> list[dict[str, Any]]:
        """ELECTRA Table 5's question, seed by seed: does the all-token variant beat its 15% twin?"""
        return [self.direction(metric, a, b) for a, b in ELECTRA_PAIRS if {a, b} <= set(self.arms)]

    def rankings(self, metric: str = "arena") -> list[dict[str, Any]]:
        """For each paper table: its order of the contestants it covers, ours, and how many pairs agree."""
        out = []
        stats = ArenaResult.stats(self, metric)
        for table, entry in PAPER_TABLES.items():
            keys = [k for k in entry["scores"] if k in stats]
            if len(keys) < 2:
                continue
            paper = sorted(keys, key=lambda k: -entry["scores"][k])
            pairs = [(a, b) for i, a in enumerate(paper) for b in paper[i + 1 :]]  # a above b in the paper
            agree = sum(stats[a][0] > stats[b][0] for a, b in pairs)
            out.append({"table": table, "paper": paper, "ours": ArenaResult.ranking(self, metric, keys),
                        "agree": agree, "pairs": len(pairs), "kendall_tau": (2 * agree - len(pairs)) / len(pairs),
                        "note": entry["note"]})  # fmt: skip
        return out

    def report(self, metric: str = "arena") -> str:
        from ptmlab.viz.tables import table_text

        header, body = self.scoreboard_rows()
        lines = [f"Budget: {self.budget['budget_flops'] / 1e12:.2f} TFLOPs per run "
                 f"({self.preset.reference_steps} MLM steps of {self.preset.batch_size} x {self.preset.block_len} tokens); "
                 f"seeds {list(self.preset.seeds)}.", table_text(header, body), "",
                 "ELECTRA Table 5 (all-token loss vs the same loss on 15% of tokens; paper: +2.6 and +2.1 GLUE):"]  # fmt: skip
        for d in self.electra_table5(metric):
            verdict = "all tokens ahead" if d["mean_difference"] > 0 else "15% ahead"
            lines.append(f"  {CONTESTANTS[d['a']].label} - {CONTESTANTS[d['b']].label}: {d['mean_difference']:+.1f} "
                         f"({verdict}; wins {d['wins']}/{d['seeds']} seeds{', clear' if d['clear'] else ', within noise'})")  # fmt: skip
        lines.append("Rankings against the papers (pairs in the paper's order):")
        for r in self.rankings(metric):
            lines.append(f"  {r['table']}: paper {' > '.join(r['paper'])}; arena {' > '.join(r['ours'])}; "
                         f"{r['agree']}/{r['pairs']} pairs agree{' (' + r['note'] + ')' if r['note'] else ''}")  # fmt: skip
        return "\n".join(lines)

    # ------------------------------------------------------------------ figures
    def _pick(self, keys):
        return [k for k in (keys or self.arms) if k in self.arms]

    def curves_figure(self, keys: Sequence[str] | None = None, smooth: float = 0.95):
        """Training loss against training FLOPs, one line per objective (mean over seeds), each divided by its own
        starting loss: objectives' losses are on different scales, so the shape is what compares."""
        import plotly.graph_objects as go

        from ptmlab.train.trainer import _smooth

        figure = go.Figure()
        for key in self._pick(keys):
            runs = [r for r in self.rows if r["arm"] == key and r["history"]]
            if not runs:
                continue
            n = min(len(r["history"]) for r in runs)
            mean = [sum(r["history"][i]["loss"] for r in runs) / len(runs) for i in range(n)]
            start = sum(mean[: max(1, n // 50)]) / max(1, n // 50)
            y = [v / start for v in _smooth(mean, smooth)] if start > 0 else mean
            stride = max(1, n // 300)
            flops = runs[0]["flops"] / max(1, runs[0]["steps"])
            figure.add_scatter(x=[(i + 1) * flops / 1e12 for i in range(0, n, stride)], y=y[::stride], mode="lines",
                               name=CONTESTANTS[key].label, line=dict(color=CONTESTANTS[key].colour))  # fmt: skip
        figure.update_layout(title="Learning curves at one compute budget (loss / its starting value, smoothed)",
                             xaxis_title="training FLOPs (× 10^12)", yaxis_title="relative training loss",
                             height=420, margin=dict(l=50, r=10, t=50, b=40))  # fmt: skip
        return figure

    def scoreboard_figure(self, keys: Sequence[str] | None = None, metrics: Sequence[str] | None = None):
        from ptmlab.viz.tables import seeds_figure

        keys = self._pick(keys)
        rows = [r for r in self.rows if r["arm"] in keys]
        rows.sort(key=lambda r: self.ranking().index(r["arm"]))
        chosen = {m: METRICS.get(m, "arena score (mean of the four)") for m in (metrics or (*METRICS, "arena"))}
        figure = seeds_figure(rows, chosen, by="arm", labels={k: c.label for k, c in CONTESTANTS.items()},
                              colours={k: c.colour for k, c in CONTESTANTS.items()})  # fmt: skip
        figure.update_annotations(font_size=11)
        figure.update_layout(height=480, title="Scoreboard: bars are means ± sd over seeds, dots are seeds")
        return figure

    def layers_figure(self, keys: Sequence[str] | None = None):
        """Per-layer probe curves: entity-type balanced accuracy of a linear probe on each layer's frozen states."""
        import plotly.graph_objects as go

        figure = go.Figure()
        for key in self._pick(keys):
            runs = [r["entity_layers"] for r in self.rows if r["arm"] == key]
            mean = [sum(v) / len(v) for v in zip(*runs)]
            figure.add_scatter(x=list(range(len(mean))), y=mean, mode="lines+markers", name=CONTESTANTS[key].label,
                               line=dict(color=CONTESTANTS[key].colour))  # fmt: skip
        figure.update_layout(title="Which layer knows the entity type? (frozen probe per layer, mean over seeds)",
                             xaxis=dict(title="layer (0 = embeddings)", dtick=1), yaxis_title="balanced accuracy %",
                             height=400, margin=dict(l=50, r=10, t=50, b=40))  # fmt: skip
        return figure

    def efficiency_figure(self, keys: Sequence[str] | None = None):
        """Sample efficiency: a frozen probe's score against the labelled examples it learns from, on the world task
        (tokens per entity class) and on real sentiment (sentences), mean over seeds."""
        from plotly.subplots import make_subplots

        panels = (("entity_efficiency", "world entity types (bal. acc. %, chance 16.7)", "labelled tokens per class"),
                  ("sample_efficiency", "real sentiment (acc. %, chance 50)", "labelled sentences"))  # fmt: skip
        figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title, _ in panels])
        for col, (field_name, _, axis) in enumerate(panels, start=1):
            for key in self._pick(keys):
                runs = [r[field_name] for r in self.rows if r["arm"] == key and r.get(field_name)]
                if not runs:
                    continue
                counts = sorted(runs[0], key=int)
                figure.add_scatter(x=[int(n) for n in counts],
                                   y=[sum(r[n] for r in runs) / len(runs) for n in counts], mode="lines+markers",
                                   name=CONTESTANTS[key].label, legendgroup=key, showlegend=col == 1,
                                   line=dict(color=CONTESTANTS[key].colour), row=1, col=col)  # fmt: skip
            figure.update_xaxes(title_text=axis, type="log", row=1, col=col)
        for col, chance, top in ((1, 100 / 6, 70), (2, 50.0, 65)):  # the same scale for everyone, chance dashed
            figure.add_hline(y=chance, line_dash="dash", line_color="#777", row=1, col=col)
            figure.update_yaxes(range=[chance - 10, top], row=1, col=col)
        figure.update_yaxes(title_text="score %", row=1, col=1)
        figure.update_layout(title="Sample efficiency: how many labels each objective's features need",
                             height=420, margin=dict(l=50, r=10, t=70, b=40))  # fmt: skip
        return figure

    def table_figure(self):
        from ptmlab.viz.tables import table_figure

        header, body = self.scoreboard_rows()
        return table_figure(header, body, title="Scoreboard (best arena score first)")


EXPERIMENT = ObjectiveArenaExperiment()
