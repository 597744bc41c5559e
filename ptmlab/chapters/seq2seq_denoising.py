"""Chapter 06, Seq2Seq MLM and denoising: which noising pre-trains a better encoder-decoder? Each one pre-trains the
same model; fine-tuned extractive fact QA on held-out worlds decides.

Lewis et al. 2020, BART Table 1 (document rotation 77.2 and sentence shuffling 85.4 SQuAD F1, far below token masking,
deletion and text infilling at 90.4-90.8) and Raffel et al. 2020, T5 (deshuffling collapses: 73.17 vs 82.96 GLUE).
Fact QA is ptmlab.tasks.qa, its fine-tuning ptmlab.tasks.qa_finetune, the loop over arms x seeds ptmlab.experiment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from ptmlab.data.tokenizers import Tokenizer
from ptmlab.errors import InputError
from ptmlab.experiment import ChapterPreset, Comparison, Experiment, resolve_preset
from ptmlab.models.qa import SpanQAModel
from ptmlab.models.transformer import TransformerConfig
from ptmlab.tasks.qa import FactQA, cloze_question, fact_qa

# The noisings of BART Table 1, T5's deshuffling and the two Seq2Seq MLMs, plus "none" (no pre-training at all).
BART_NOISINGS = ("token_masking", "token_deletion", "text_infilling", "sentence_permutation", "document_rotation")
OBJECTIVES = ("none", *BART_NOISINGS, "token_shuffling", "t5_span", "mass")
OBJECTIVE_NAMES = {
    "none": "no pre-training",
    "token_masking": "token masking",
    "token_deletion": "token deletion",
    "text_infilling": "text infilling",
    "sentence_permutation": "sentence shuffling",
    "document_rotation": "document rotation",
    "token_shuffling": "deshuffling (T5)",
    "t5_span": "span corruption (T5)",
    "mass": "MASS (masked seq2seq)",
}
# (number, what it measures) from /work/shared/PAPER_NUMBERS.md items 6 and 7. BART: SQuAD 1.1 F1 of a BART-base model
# pre-trained with each noising alone; T5: average GLUE score, or SQuAD EM for no pre-training.
PAPER: dict[str, tuple[float, str]] = {
    "none": (50.31, "T5: SQuAD EM without pre-training (80.88 with)"),
    "token_masking": (90.4, "BART Table 1: SQuAD F1"),
    "token_deletion": (90.4, "BART Table 1: SQuAD F1"),
    "text_infilling": (90.8, "BART Table 1: SQuAD F1"),
    "sentence_permutation": (85.4, "BART Table 1: SQuAD F1"),
    "document_rotation": (77.2, "BART Table 1: SQuAD F1"),
    "token_shuffling": (73.17, "T5: GLUE avg (BERT-style 82.96)"),
    "t5_span": (83.28, "T5: GLUE avg (its baseline)"),
    "mass": (87.0, "BART Table 1: masked seq2seq, SQuAD F1"),
}
GOOD, POOR = ("token_masking", "token_deletion", "text_infilling"), ("sentence_permutation", "document_rotation")


@dataclass(frozen=True)
class Seq2SeqPreset(ChapterPreset):
    """Sizes for chapter 06. Pre-training text: the documents of worlds 0..pretrain_worlds-1; the reading task uses
    two held-out worlds (one to fine-tune, one to test), so answers must be read, not remembered."""

    pretrain_worlds: int = 8
    block_len: int = 64  # pre-training rows and reading-task inputs alike, so every position was pre-trained
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    pretrain_steps: int = 150
    batch_size: int = 16  # pre-training and fine-tuning batches
    lr: float = 3e-3
    qa_train: int = 300  # few labelled questions, so what pre-training taught matters
    qa_test: int = 400
    finetune_steps: int = 100
    finetune_lr: float = 1e-3
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[str, ...] = ("none", *BART_NOISINGS, "token_shuffling")  # the objectives (MASS, T5 spans: gpu preset)
    mask_ratio: float = 0.3  # BART's share of noised tokens for masking, deletion and infilling
    dropout: float = 0.0  # a few epochs over small data need none, and on CPU dropout costs about a quarter of a step
    cache_minutes: float = 0.0  # filling the cache: every objective x seed pre-trained and fine-tuned
    # expected_minutes (ChapterPreset): the notebook once the cache is full


PRESETS: dict[str, Seq2SeqPreset] = {
    "smoke": Seq2SeqPreset(
        pretrain_worlds=2,
        d_model=32,
        n_layers=1,
        n_heads=2,
        pretrain_steps=8,
        batch_size=8,
        qa_train=64,
        qa_test=48,
        finetune_steps=8,
        seeds=(0,),
        arms=("none", "text_infilling", "document_rotation"),
        expected="numbers are noise at this size (measured: F1 7.6-8.0 for all three, 1 seed)",
        expected_minutes=1.0,  # measured: the whole notebook in 62 s on 2 cores shared with other jobs (load 5)
        cache_minutes=0.3,
    ),
    "cpu": Seq2SeqPreset(
        expected="measured, 3 seeds, F1 mean ± sd: masking 28.3 ± 2.5, deletion 27.5 ± 1.5, infilling 28.2 ± 1.9; "
        "sentence shuffling 25.8 ± 1.5, rotation 24.8 ± 4.2; deshuffling 27.2 ± 3.0; no pre-training 23.7 ± 0.1. "
        "BART's order holds in the means (gap +1.6) but in 1 seed of 3 only; no deshuffling collapse",
        expected_minutes=1.5,  # measured with the cache full: 87 s on 2 shared cores (load 9)
        cache_minutes=4.8,  # measured: the whole notebook from an empty cache, idle 2 cores (31 min at load 8-17)
    ),
    "gpu": Seq2SeqPreset(
        pretrain_worlds=30,
        block_len=96,
        d_model=128,
        n_layers=3,
        n_heads=4,
        pretrain_steps=3000,
        batch_size=64,
        lr=1e-3,
        finetune_steps=300,
        seeds=(0, 1, 2, 3, 4),
        arms=OBJECTIVES,
        expected="target, not measured: the cpu direction with larger gaps",
        expected_minutes=1.0,  # target, not measured
        cache_minutes=30.0,  # target, not measured
    ),
}

QA_TRAIN_WORLDS, QA_TEST_WORLD = (1000, 1002, 1003, 1004), 1001  # held-out worlds: never seen in pre-training
N_SENTINELS = 32


# ============================================================================ text and tokenizer
@lru_cache(maxsize=8)
def _world(seed: int):
    from ptmlab.data.world import make_world

    return make_world(seed)


def pretraining_documents(preset: Seq2SeqPreset) -> list[list[str]]:
    """The pre-training text: every document (a list of sentences) of worlds 0 .. pretrain_worlds-1."""
    return [[s.text for s in d.sentences] for seed in range(preset.pretrain_worlds) for d in _world(seed).documents()]


def example_document(world_seed: int = 1001, index: int = 0, n_sentences: int = 4) -> str:
    """The first sentences of one document of a world (by default a held-out one), as plain text for the views."""
    documents = _world(world_seed).documents()
    if not 0 <= index < len(documents):
        raise InputError(
            f"World {world_seed} has {len(documents)} documents.", fix=f"Use 0 <= index < {len(documents)}."
        )
    return " ".join(s.text for s in documents[index].sentences[:n_sentences])


@lru_cache(maxsize=4)
def build_tokenizer(pretrain_worlds: int) -> Tokenizer:
    """A word-level tokenizer over the pre-training worlds' text and the question words, with T5 sentinels appended."""
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.objectives.seq2seq import add_sentinels

    texts = [s for seed in range(pretrain_worlds) for s in _world(seed).sentences()]
    world = _world(0)
    texts += [cloze_question(world, f) for f in world.facts if world.relations[f.relation].get("cloze")]
    return add_sentinels(train_tokenizer(texts, kind="word", vocab_size=None), N_SENTINELS)


def pack_documents(tokenizer: Tokenizer, documents: list[list[str]], block_len: int) -> torch.Tensor:
    """One row per document: [CLS] s1 [SEP] s2 [SEP] ... [SEP] [PAD]...; a document longer than a block continues in
    the next row, cut at a sentence boundary, so [SEP] always ends a sentence (sentence permutation relies on it)."""
    if block_len < 8:
        raise InputError(f"block_len={block_len} is too short.", fix="Use at least 8.")
    rows: list[list[int]] = []
    for document in documents:
        row = [tokenizer.cls_id]
        for sentence in document:
            ids = tokenizer.encode(sentence, add_special_tokens=False)[: block_len - 2] + [tokenizer.sep_id]
            if len(row) + len(ids) > block_len:
                rows.append(row)
                row = [tokenizer.cls_id]
            row += ids
        if len(row) > 1:
            rows.append(row)
    if not rows:
        raise InputError("No text to pack.", fix="Pass at least one non-empty document.")
    out = torch.zeros((len(rows), max(len(r) for r in rows)), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


# ============================================================================ pre-training and fine-tuning
def make_objective(name: str, tokenizer: Tokenizer, mask_ratio: float = 0.3):
    """The Objective for one row of the comparison ('none' has none)."""
    from ptmlab.objectives.dae import NOISINGS, DenoisingAutoencoder
    from ptmlab.objectives.seq2seq import MASS, T5SpanCorruption, sentinel_ids

    if name in NOISINGS:
        return DenoisingAutoencoder(name, mask_ratio=mask_ratio)
    if name == "t5_span":
        return T5SpanCorruption(sentinel_ids(tokenizer))
    if name == "mass":
        return MASS()
    raise InputError(f"Unknown objective {name!r}.", fix=f"Use one of {[o for o in OBJECTIVES if o != 'none']}.")


def model_config(preset: Seq2SeqPreset, tokenizer: Tokenizer) -> TransformerConfig:
    """The encoder-decoder every objective trains (and whose encoder the reading task fine-tunes). 128 positions at
    least, so the decoder can write a whole block and generation has room to spare."""
    from ptmlab.train.pretrain import backbone_config

    return backbone_config(preset, tokenizer.vocab_size, max_len=max(128, preset.block_len))


def _pretrain_config(name: str, preset: Seq2SeqPreset, seed: int) -> dict[str, Any]:
    keep = ("pretrain_worlds", "block_len", "d_model", "n_layers", "n_heads", "pretrain_steps", "batch_size", "lr")
    return {
        "recipe": "seq2seq-pretrain",
        "version": 3,
        "objective": name,
        "seed": seed,
        **{k: getattr(preset, k) for k in (*keep, "mask_ratio", "dropout")},
    }


@lru_cache(maxsize=2)
def pretraining_blocks(pretrain_worlds: int, block_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training blocks from the pre-training worlds, 128 validation blocks from the held-out test world)."""
    preset = Seq2SeqPreset(pretrain_worlds=pretrain_worlds, block_len=block_len)
    tokenizer = build_tokenizer(pretrain_worlds)
    held_out = [[s.text for s in d.sentences] for d in _world(QA_TEST_WORLD).documents()]
    return (
        pack_documents(tokenizer, pretraining_documents(preset), block_len),
        pack_documents(tokenizer, held_out, block_len)[:128],
    )


def pretrain(
    name: str,
    preset: Seq2SeqPreset | str | None = None,
    seed: int = 0,
    *,
    retrain: bool = False,
    live_plot: bool | None = False,
):
    """Pre-train (or load from the cache) the encoder-decoder with one objective; returns a ptmlab.train.cache.Run.

    name 'none' returns the untrained, seeded model (the no-pre-training baseline)."""
    from ptmlab.models.seq2seq import EncoderDecoder
    from ptmlab.train.cache import Run
    from ptmlab.train.pretrain import pretrain_objective

    preset = resolve_preset(PRESETS, preset)
    if name not in OBJECTIVES:
        raise InputError(f"Unknown objective {name!r}.", fix=f"Use one of {list(OBJECTIVES)}.")
    tokenizer = build_tokenizer(preset.pretrain_worlds)
    config = model_config(preset, tokenizer)
    if name == "none":
        torch.manual_seed(seed)
        return Run(EncoderDecoder(config).eval(), {"history": [], "evals": [], "seconds": 0.0})
    blocks, valid = pretraining_blocks(preset.pretrain_worlds, preset.block_len)
    return pretrain_objective(
        f"seq2seq-{name}",
        _pretrain_config(name, preset, seed),
        make_objective(name, tokenizer, preset.mask_ratio),
        config,
        blocks,
        steps=preset.pretrain_steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        eval_data=valid,
        title=f"pre-train: {OBJECTIVE_NAMES[name]} (seed {seed})",
        live_plot=live_plot,
        retrain=retrain,
    )


def finetune_qa(
    encoder_decoder, train: FactQA, test: FactQA, preset: Seq2SeqPreset, seed: int = 0, progress: bool = True
) -> tuple[SpanQAModel, dict[str, Any]]:
    """Copy the pre-trained encoder under a span head and fine-tune everything on `train`; score on `test` (with the
    preset's fine-tuning steps, learning rate and batch size: ptmlab.tasks.qa_finetune)."""
    from ptmlab.tasks.qa_finetune import finetune_qa as finetune_span_qa

    return finetune_span_qa(encoder_decoder, train, test, steps=preset.finetune_steps, lr=preset.finetune_lr,
                            batch_size=preset.batch_size, seed=seed, progress=progress)  # fmt: skip


@lru_cache(maxsize=4)
def qa_data(pretrain_worlds: int, n_train: int, n_test: int, max_len: int = 128) -> tuple[FactQA, FactQA]:
    """The reading task's fine-tuning questions (4 held-out worlds) and test questions (a fifth held-out world)."""
    tokenizer = build_tokenizer(pretrain_worlds)
    return (
        fact_qa(tokenizer, QA_TRAIN_WORLDS, n_train, max_len=max_len, seed=0),
        fact_qa(tokenizer, QA_TEST_WORLD, n_test, max_len=max_len, seed=0),
    )


def finetuned_qa(name: str, run, preset: Seq2SeqPreset, seed: int, retrain: bool = False, progress: bool = False):
    """The pre-trained run `run` of objective `name` fine-tuned on the reading task (load-or-train: a Run whose meta
    holds f1, exact_match, loss_curve and seconds)."""
    from ptmlab.train.cache import load_or_train

    train, test = qa_data(preset.pretrain_worlds, preset.qa_train, preset.qa_test, preset.block_len)
    keep = ("qa_train", "qa_test", "finetune_steps", "finetune_lr", "batch_size")
    config = {
        **_pretrain_config(name, preset, seed),
        "recipe": "seq2seq-fact-qa",
        **{k: getattr(preset, k) for k in keep},
    }
    return load_or_train(
        f"seq2seq-qa-{name}",
        config,
        lambda: finetune_qa(run.model, train, test, preset, seed, progress),
        retrain=retrain,
    )


# ============================================================================ the comparison
ARM_COLOURS = {n: "#009e73" if n in GOOD else "#d55e00" if n in POOR else "#999999" for n in OBJECTIVES}
METRICS = {"f1": "F1 on held-out fact QA", "exact_match": "exact match"}


@dataclass
class ChapterData:
    """What every objective and seed shares: the tokenizer and the reading task's questions."""

    tokenizer: Tokenizer
    qa_train: FactQA
    qa_test: FactQA


class Seq2SeqDenoisingExperiment(Experiment[Seq2SeqPreset]):
    """BART Table 1 in miniature: every objective pre-trains the same encoder-decoder (none: not at all), each
    encoder is fine-tuned on fact QA about held-out worlds; F1 and exact match on a fifth world."""

    name = "06_seq2seq_denoising"
    title = "Which noising pre-trains a better reader? (BART Table 1, T5's deshuffling)"
    presets = PRESETS
    arms = OBJECTIVES
    arm_names = OBJECTIVE_NAMES
    arm_colours = ARM_COLOURS
    metrics = METRICS
    direction = ("f1", "text_infilling", "document_rotation")  # BART: infilling far above rotation

    def data(self, preset: Seq2SeqPreset) -> ChapterData:
        return ChapterData(
            build_tokenizer(preset.pretrain_worlds),
            *qa_data(preset.pretrain_worlds, preset.qa_train, preset.qa_test, preset.block_len),
        )

    def pretrain(self, arm: str, preset: Seq2SeqPreset, seed: int, data: ChapterData | None = None):
        return pretrain(arm, preset, seed)

    def score(self, arm: str, run, data: ChapterData, preset: Seq2SeqPreset, seed: int) -> dict[str, Any]:
        from ptmlab.tasks.stats import final_loss

        scored = finetuned_qa(arm, run, preset, seed)
        return {
            "f1": scored.meta["f1"],
            "exact_match": scored.meta["exact_match"],
            "pretrain_loss": final_loss(run.meta.get("history") or []),
            "finetune_seconds": scored.meta.get("seconds", 0.0),
        }

    def score_config(self, arm: str, run, preset: Seq2SeqPreset, seed: int) -> dict[str, Any] | None:
        key = super().score_config(arm, run, preset, seed)
        if key is not None:
            key["preset"].pop("cache_minutes", None)  # a timing, like expected_minutes: it changes no score
        return key

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        return comparison_rows(comparison)


EXPERIMENT = Seq2SeqDenoisingExperiment()


def scores(comparison: Comparison, arm: str, metric: str = "f1") -> list[float]:
    """One arm's scores, seed by seed."""
    return [r[metric] for r in comparison.rows if r["arm"] == arm]


def bart_direction(comparison: Comparison) -> dict[str, Any]:
    """BART's claim in numbers: the worst mean of masking/deletion/infilling vs the best of rotation/shuffling, and
    how many seeds agree (per seed: the worst 'good' run still beats the best 'poor' one)."""
    from ptmlab.tasks.stats import mean_sd

    def mean(n: str) -> float:
        return mean_sd(scores(comparison, n))[0]

    good = [n for n in GOOD if scores(comparison, n)]
    poor = [n for n in POOR if scores(comparison, n)]
    if not good or not poor:
        return {"holds": None, "gap": float("nan")}
    worst_good, best_poor = min(mean(n) for n in good), max(mean(n) for n in poor)
    f1 = {(r["arm"], r["seed"]): r["f1"] for r in comparison.rows}
    seeds = sorted({s for (n, s) in f1 if all((m, s) in f1 for m in good + poor)})
    wins = sum(min(f1[n, s] for n in good) > max(f1[n, s] for n in poor) for s in seeds)
    return {
        "holds": worst_good > best_poor,
        "gap": worst_good - best_poor,
        "worst_good": worst_good,
        "best_poor": best_poor,
        "seeds_agreeing": wins,
        "seeds": len(seeds),
    }


def comparison_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """(header, rows): objective, our F1 mean ± sd, per-seed F1, the paper's number and what the paper measured."""
    summary = comparison.summary(["f1"])
    n = len(comparison.rows) // max(1, len(comparison.arms))
    header = ["pre-training objective", f"our F1 (mean ± sd, {n} seeds)", "per seed", "paper", "paper metric"]
    rows = []
    for name in comparison.arms:
        paper, what = PAPER[name]
        mean, sd, _ = summary[name]["f1"]
        rows.append(
            [
                OBJECTIVE_NAMES[name],
                f"{mean:.1f} ± {sd:.1f}",
                ", ".join(f"{s:.1f}" for s in scores(comparison, name)),
                f"{paper:g}",
                what,
            ]
        )
    return header, rows


def comparison_text(comparison: Comparison) -> str:
    """Our F1 beside the paper's numbers as a plain-text table (for logs, the CLI and the README)."""
    from ptmlab.viz.tables import table_text

    return table_text(*comparison_rows(comparison))
