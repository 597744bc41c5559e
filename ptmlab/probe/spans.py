"""Span-level tasks from the synthetic world, and chapter 05's experiments: does span or entity masking help spans?

SpanBERT (Joshi et al. 2020, Table 6) compares masking schemes on span-level tasks; here: recovering whole masked entity
mentions in context (an extractive cloze) and NER span F1 of a linear probe; plus RoBERTa's static vs dynamic masking."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from ptmlab.data.tokenizers import Tokenizer, tokenizer_from_dict
from ptmlab.data.world import split_documents, world_sentences
from ptmlab.errors import InputError
from ptmlab.experiment import GPU_SIZES, SMOKE_SIZES, ProbePreset
from ptmlab.objectives.masking import STRATEGY_NAMES, StaticMasking, make_strategy, pack_with_spans
from ptmlab.objectives.mlm import MaskedLM
from ptmlab.tasks import stats as _stats
from ptmlab.tasks.ner import NER_LABELS, ner_probe  # noqa: F401
from ptmlab.tasks.spans import SpanExample, evaluate_span_recovery, span_recovery_examples
from ptmlab.tasks.stats import final_loss, mean_sd
from ptmlab.train.pretrain import backbone_config, pretrain_objective
from ptmlab.viz import tables as _tables

# SpanBERT Table 6 (SQuAD 2.0 F1, BERT-large-sized models; Joshi et al. 2020). PAPER_NUMBERS.md item 8.
SPANBERT_TABLE6 = {"subword": 83.8, "whole_word": 84.3, "entity": 84.8, "noun_phrase": 85.0, "span": 85.4}
STRATEGY_LABELS = {
    "subword": "subword tokens (BERT)",
    "whole_word": "whole words",
    "entity": "named entities",
    "noun_phrase": "noun phrases",
    "span": "geometric spans (SpanBERT)",
}
# Whole-word masking, BERT-Large: SQuAD 1.1 F1 91.0 -> 92.8, MNLI 86.05 -> 87.07 (PAPER_NUMBERS.md item 8).
WWM_PAPER = {"squad11_f1": (91.0, 92.8), "mnli": (86.05, 87.07)}


# ============================================================================ the world, as sentences with spans


# ============================================================================ task 1: entity-span recovery in context


# ============================================================================ task 2: NER span F1 with a linear probe


# ============================================================================ chapter 05: presets and data
TABLE6_METRICS = ("span_em", "span_in_context_em", "span_token_acc", "ner_f1", "mlm_loss")


@dataclass(frozen=True)
class MaskingPreset(ProbePreset):
    """Sizes for chapter 05: small BERT-style models pre-trained on the world's English documents.

    Training runs in two stages, as ERNIE (Sun et al. 2019) does: a basic subword-masking stage shared by every run
    (`base_steps`; 0 trains every run from scratch instead), then `steps` more with the masking strategy under test.
    Stage 1 masks 40% of the tokens (`base_mask_prob`): Wettig et al. 2023 ("Should you mask 15% in masked language
    modeling?") found higher rates train as well or better, and on a 2-core CPU it leaves the unigram plateau about
    twice as fast as 15% (measured: held-out accuracy 0.20 vs 0.14 after 600 steps)."""

    repeat_fraction: float = 0.1  # documents of the small repeated corpus (static vs dynamic), unseen by stage 1
    mask_prob: float = 0.15  # stage 2, every strategy (BERT's rate)
    base_mask_prob: float = 0.4
    base_steps: int = 1000
    base_seed: int = 0
    steps: int = 150
    strategies: tuple[str, ...] = STRATEGY_NAMES
    repeat_steps: int = 150  # static vs dynamic: steps over the small corpus
    repeat_seeds: tuple[int, ...] = (0, 1)
    static_copies: tuple[int, ...] = (1,)  # 1 = fully static; BERT used 10
    tlm_vocab_size: int = 400
    tlm_steps: int = 400
    tlm_d_model: int = 64


MASKING_PRESETS: dict[str, MaskingPreset] = {
    "smoke": MaskingPreset(
        **SMOKE_SIZES,
        batch_size=16,
        base_steps=10,
        steps=8,
        repeat_steps=8,
        tlm_vocab_size=300,
        tlm_steps=10,
        tlm_d_model=32,
        expected="smoke: far too short to learn; it checks the pipeline only (scores near zero, no reliable ordering).",
        expected_minutes=0.3,
    ),
    "cpu": MaskingPreset(
        expected=(
            "cpu (measured once, 3 seeds, mean ± sd): NER span F1 subword 0.368 ± 0.010, whole words 0.364 ± 0.024, "
            "entities 0.349 ± 0.017, spans 0.317 ± 0.032; entity-recovery exact match ~0 for all. Static vs dynamic "
            "held-out loss 7.54 vs 4.85. TLM: 45% vs 40% with / without the English side. From an empty cache: 3.9 "
            "minutes on an idle 2-core machine (`ptmlab prepare`; 18 at load 8-12); seconds once cached."
        ),
        expected_minutes=3.9,
    ),
    "gpu": MaskingPreset(
        **GPU_SIZES,
        vocab_size=1500,
        base_steps=3000,
        steps=1000,
        repeat_steps=1000,
        repeat_seeds=(0, 1, 2),
        static_copies=(1, 10),
        tlm_steps=1000,
        tlm_d_model=128,
        expected="gpu: target, not measured.",
        expected_minutes=5.0,
    ),
}


@dataclass
class WorldMLMData:
    """The world's documents split three ways (training / small repeated corpus / held-out), one WordPiece tokenizer,
    and packed blocks [N, 2, block_len] of token ids and entity span ids for each part."""

    tokenizer: Tokenizer
    train_documents: list
    repeat_documents: list
    test_documents: list
    train_blocks: torch.Tensor
    repeat_blocks: torch.Tensor
    test_blocks: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"WorldMLMData({len(self.train_documents)} training / {len(self.repeat_documents)} repeated / "
            f"{len(self.test_documents)} held-out documents; {len(self.train_blocks)} / {len(self.repeat_blocks)} "
            f"/ {len(self.test_blocks)} blocks; vocab {self.tokenizer.vocab_size})"
        )


def prepare_world_data(preset: MaskingPreset) -> WorldMLMData:
    """Build (once per process and setting) the world, its split, a WordPiece tokenizer and the packed blocks."""
    return _prepare(
        preset.world_seed, preset.test_fraction, preset.repeat_fraction, preset.vocab_size, preset.block_len
    )


@lru_cache(maxsize=4)
def _prepare(
    world_seed: int, test_fraction: float, repeat_fraction: float, vocab_size: int, block_len: int
) -> WorldMLMData:
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world

    documents = make_world(seed=world_seed).documents()
    rest, test_docs = split_documents(documents, test_fraction, seed=world_seed)
    train_docs, repeat_docs = split_documents(rest, repeat_fraction / (1 - test_fraction), seed=world_seed + 1)
    tokenizer = train_tokenizer([t for t, _ in world_sentences(train_docs)], kind="wordpiece", vocab_size=vocab_size)

    def pack(docs: list):
        return pack_with_spans(tokenizer, world_sentences(docs), block_len)

    return WorldMLMData(
        tokenizer, train_docs, repeat_docs, test_docs, pack(train_docs), pack(repeat_docs), pack(test_docs)
    )


# ============================================================================ chapter 05: pre-training runs
@dataclass
class MaskingRun:
    strategy: str
    seed: int
    model: torch.nn.Module
    tokenizer: Tokenizer
    history: list[dict]
    seconds: float
    from_cache: bool
    scores: dict[str, Any] = field(default_factory=dict)


_SHARED_FIELDS = (
    "world_seed",
    "test_fraction",
    "repeat_fraction",
    "vocab_size",
    "block_len",
    "d_model",
    "n_layers",
    "n_heads",
    "batch_size",
    "lr",
    "dropout",
    "mask_prob",
    "base_mask_prob",
    "base_steps",
    "base_seed",
)


def _objective(strategy: str, tokenizer: Tokenizer, mask_prob: float) -> MaskedLM:
    if strategy == "static10":
        return StaticMasking(make_strategy("subword", tokenizer, mask_prob), n_copies=10)
    return make_strategy(strategy, tokenizer, mask_prob)


def _run(strategy: str, seed: int, run) -> MaskingRun:
    return MaskingRun(
        strategy,
        seed,
        run.model.eval(),
        tokenizer_from_dict(run.meta["tokenizer"]),
        run.meta.get("history", []),
        run.meta.get("seconds", 0.0),
        run.from_cache,
    )


def pretrain_base(
    preset: MaskingPreset, *, data: WorldMLMData | None = None, live_plot: bool | None = False, retrain: bool = False
) -> MaskingRun | None:
    """Stage 1: BERT's subword masking on the training documents, shared by every strategy (None if base_steps=0)."""
    if preset.base_steps == 0:
        return None
    data = data or prepare_world_data(preset)
    config = {"recipe": "masking-world-base", **{k: getattr(preset, k) for k in _SHARED_FIELDS}}
    run = pretrain_objective(
        "masking-base",
        config,
        _objective("subword", data.tokenizer, preset.base_mask_prob),
        backbone_config(preset, data.tokenizer.vocab_size),
        data.train_blocks[:, 0],
        steps=preset.base_steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=preset.base_seed,
        eval_batches=1,
        title=f"stage 1: subword masking at {preset.base_mask_prob:.0%}",
        live_plot=live_plot,
        meta={"tokenizer": data.tokenizer.to_dict()},
        retrain=retrain,
    )
    return _run("base", preset.base_seed, run)


def pretrain(
    preset: MaskingPreset,
    strategy: str,
    seed: int,
    *,
    data: WorldMLMData | None = None,
    corpus: str = "train",
    steps: int | None = None,
    live_plot: bool | None = False,
    retrain: bool = False,
) -> MaskingRun:
    """Pre-train (or load from the cache) one small MLM on the world with a masking strategy: 'subword',
    'whole_word', 'span', 'entity', 'static' (one fixed mask per block) or 'static10' (BERT's 10 fixed copies).

    Starts from the shared stage-1 model when preset.base_steps > 0. corpus='repeat' trains on the small repeated
    corpus of the static vs dynamic experiment instead of the training documents."""
    data = data or prepare_world_data(preset)
    if corpus not in ("train", "repeat"):
        raise InputError(f"corpus={corpus!r}.", fix="Use 'train' or 'repeat'.")
    blocks = data.train_blocks if corpus == "train" else data.repeat_blocks
    steps = steps or (preset.steps if corpus == "train" else preset.repeat_steps)
    base = pretrain_base(preset, data=data)
    objective = _objective(strategy, data.tokenizer, preset.mask_prob)
    config = {
        "recipe": "masking-world",
        "strategy": strategy,
        "seed": seed,
        "steps": steps,
        "corpus": corpus,
        **{k: getattr(preset, k) for k in _SHARED_FIELDS},
    }
    run = pretrain_objective(
        "masking-world",
        config,
        objective,
        backbone_config(preset, data.tokenizer.vocab_size),
        blocks if getattr(objective, "uses_spans", False) else blocks[:, 0],
        steps=steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        start_from=base.model if base else None,
        eval_batches=1,
        title=f"{strategy} masking, seed {seed}",
        live_plot=live_plot,
        meta={"tokenizer": data.tokenizer.to_dict()},
        retrain=retrain,
    )
    return _run(strategy, seed, run)


@torch.no_grad()
def heldout_mlm_loss(
    model, blocks: torch.Tensor, *, mask_prob: float = 0.15, draws: int = 3, seed: int = 0, batch_size: int = 128
) -> float:
    """Mean MLM cross-entropy on `blocks` ([N, T] or [N, 2, T]) under fresh BERT-style token masks (fixed seed)."""
    tokens = blocks[:, 0] if blocks.dim() == 3 else blocks
    objective = MaskedLM(model.config.vocab_size, mask_prob)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    for _ in range(draws):
        for first in range(0, len(tokens), batch_size):
            batch = objective.corrupt(tokens[first : first + batch_size], generator).to(device)
            n = batch.n_predicted
            if n:
                total += objective.loss(model, batch).loss.item() * n
                count += n
    return total / max(1, count)


def score_run(
    run: MaskingRun, data: WorldMLMData, preset: MaskingPreset, examples: Sequence[SpanExample] | None = None
) -> dict[str, Any]:
    """The span-level scores of one pre-trained model: span recovery, NER probe F1 and held-out MLM loss.
    `examples`: the held-out mentions (span_recovery_examples), when several runs are scored."""
    if examples is None:
        examples = span_recovery_examples(data.tokenizer, data.test_documents, preset.block_len, preset.span_examples)
    recovery = evaluate_span_recovery(run.model, examples, data.tokenizer.mask_id)
    ner = ner_probe(
        run.model,
        data.tokenizer,
        data.train_documents,
        data.test_documents,
        max_len=preset.block_len,
        train_sentences=preset.ner_train_sentences,
        test_sentences=preset.ner_test_sentences,
        steps=preset.probe_steps,
        seed=run.seed,
    )
    return {
        "span_em": recovery["exact_match"],
        "span_in_context_em": recovery["in_context_exact_match"],
        "span_token_acc": recovery["token_accuracy"],
        "span_by_label": recovery["by_label"],
        "ner_f1": ner["f1"],
        "mlm_loss": heldout_mlm_loss(run.model, data.test_blocks, mask_prob=preset.mask_prob),
    }


def compare_strategies(
    preset: MaskingPreset,
    *,
    strategies: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    live_plot: bool | None = False,
    progress: Callable[[str], None] | None = print,
) -> list[MaskingRun]:
    """SpanBERT Table 6 in miniature: pre-train one model per (strategy, seed) on the world and score each."""
    data = prepare_world_data(preset)
    examples = span_recovery_examples(data.tokenizer, data.test_documents, preset.block_len, preset.span_examples)
    base = pretrain_base(preset, data=data, live_plot=live_plot)
    if base is not None and progress:
        source = "loaded from cache" if base.from_cache else f"trained in {base.seconds:.0f} s"
        progress(f"stage 1 (subword masking of {preset.base_mask_prob:.0%}, {preset.base_steps} steps) {source}")
    runs = []
    for strategy in strategies or preset.strategies:
        for seed in seeds or preset.seeds:
            start = time.perf_counter()
            run = pretrain(preset, strategy, seed, data=data, live_plot=live_plot)
            run.scores = score_run(run, data, preset, examples)
            runs.append(run)
            if progress:
                source = "cached" if run.from_cache else f"trained {run.seconds:.0f} s"
                progress(
                    f"{strategy:>10} seed {seed}: span EM {run.scores['span_em']:.3f} (in context "
                    f"{run.scores['span_in_context_em']:.3f}), piece accuracy "
                    f"{run.scores['span_token_acc']:.3f}, NER F1 {run.scores['ner_f1']:.3f}, held-out MLM loss "
                    f"{run.scores['mlm_loss']:.3f} ({source}, {time.perf_counter() - start:.0f} s in all)"
                )
    return runs


def run_rows(runs: Sequence[MaskingRun]) -> list[dict[str, Any]]:
    """One flat row per run (strategy, seed and its scores), the shape ptmlab.tasks's helpers take."""
    return [{"strategy": r.strategy, "seed": r.seed, **r.scores} for r in runs]


def summarize(runs: Sequence[MaskingRun], metrics: Sequence[str] = TABLE6_METRICS) -> dict[str, dict[str, tuple]]:
    """strategy -> metric -> (mean, sd, n) over seeds (sd is 0.0 for a single seed)."""
    return _stats.summarize(run_rows(runs), metrics, by="strategy")


TABLE6_HEADER = [
    "masking",
    "paper: SQuAD 2.0 F1",
    "ours: span exact match",
    "ours: exact match, answer in context",
    "ours: span piece accuracy",
    "ours: NER span F1 (probe)",
    "ours: held-out MLM loss",
]


def table6_rows(runs: Sequence[MaskingRun]) -> list[list[str]]:
    """Rows for the SpanBERT Table 6 comparison: ours (mean ± sd over seeds) beside the paper's SQuAD 2.0 F1."""
    summary = summarize(runs)
    rows = []
    for strategy in ("subword", "whole_word", "entity", "noun_phrase", "span"):
        paper = f"{SPANBERT_TABLE6[strategy]:.1f}"
        if strategy not in summary:
            rows.append([STRATEGY_LABELS[strategy], paper, *["not run"] * len(TABLE6_METRICS)])
            continue
        s = summary[strategy]
        rows.append(
            [
                STRATEGY_LABELS[strategy],
                paper,
                *(f"{s[m][0]:.3f} ± {s[m][1]:.3f}" for m in TABLE6_METRICS),
            ]
        )
    return rows


def direction_report(runs: Sequence[MaskingRun], metric: str = "span_em") -> list[str]:
    """Plain sentences: does each strategy reach at least subword masking's mean, and by more than the spread?"""
    summary = summarize(runs, (metric,))
    if "subword" not in summary:
        return ["subword masking was not run: nothing to compare with."]
    base_mean, base_sd, _ = summary["subword"][metric]
    lines = []
    for strategy, values in summary.items():
        if strategy == "subword":
            continue
        mean, sd, n = values[metric]
        gap = mean - base_mean
        noise = max(base_sd, sd)
        verdict = (
            "above subword, by more than one sd"
            if gap > noise
            else "at or above subword, within the spread"
            if gap >= 0
            else "below subword, within the spread"
            if -gap <= noise
            else "below subword, by more than one sd"
        )
        lines.append(
            f"{STRATEGY_LABELS.get(strategy, strategy)}: {metric} {mean:.3f} vs {base_mean:.3f} "
            f"({gap:+.3f}; sd {sd:.3f} / {base_sd:.3f}, {n} seeds): {verdict}."
        )
    return lines


def strategies_figure(runs: Sequence[MaskingRun], metrics: Sequence[str] = ("span_em", "ner_f1"), title: str = ""):
    """Per strategy and metric: the mean ± sd as a bar and each seed as a dot (the spread is visible, not only means)."""
    return _tables.seeds_figure(
        run_rows(runs),
        {m: m for m in metrics},
        by="strategy",
        labels=STRATEGY_LABELS,
        title=title or "SpanBERT Table 6 in miniature (bars: mean ± sd; dots: seeds)",
    )


# ============================================================================ chapter 05: static vs dynamic masking
def static_vs_dynamic(
    preset: MaskingPreset,
    *,
    seeds: Sequence[int] | None = None,
    live_plot: bool | None = False,
    progress: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Train on a small corpus (the 'repeat' documents, unseen by stage 1) for many epochs with static masks (each block
    keeps one mask, or BERT's 10) and with dynamic masks (RoBERTa: a new mask every time). One row per run: the loss
    on the model's own training masks (last 10% of steps), on fresh masks of the same blocks, and on held-out text."""
    data = prepare_world_data(preset)
    blocks = data.repeat_blocks
    epochs = preset.repeat_steps * preset.batch_size / max(1, len(blocks))
    settings = [("dynamic", "subword")] + [
        (f"static ×{n}", "static" if n == 1 else "static10") for n in preset.static_copies
    ]
    rows = []
    for label, strategy in settings:
        for seed in seeds or preset.repeat_seeds:
            run = pretrain(preset, strategy, seed, data=data, corpus="repeat", live_plot=live_plot)
            row = {
                "masking": label,
                "seed": seed,
                "epochs": epochs,
                "own_masks_loss": final_loss(run.history),
                "fresh_masks_train_loss": heldout_mlm_loss(run.model, blocks, mask_prob=preset.mask_prob),
                "heldout_loss": heldout_mlm_loss(run.model, data.test_blocks, mask_prob=preset.mask_prob),
            }
            rows.append(row)
            if progress:
                progress(
                    f"{label:>10} seed {seed}: own-mask loss {row['own_masks_loss']:.3f}, fresh-mask train loss "
                    f"{row['fresh_masks_train_loss']:.3f}, held-out loss {row['heldout_loss']:.3f}"
                )
    return rows


STATIC_DYNAMIC_HEADER = [
    "masking",
    "epochs over the small corpus",
    "seeds",
    "loss on its own training masks",
    "same blocks, fresh masks",
    "held-out text, fresh masks",
]


def static_dynamic_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Mean ± sd over seeds per masking setting."""
    out = []
    for label in dict.fromkeys(r["masking"] for r in rows):
        group = [r for r in rows if r["masking"] == label]
        cells = []
        for key in ("own_masks_loss", "fresh_masks_train_loss", "heldout_loss"):
            mean, sd, _ = mean_sd([r[key] for r in group])
            cells.append(f"{mean:.3f} ± {sd:.3f}")
        out.append([label, f"{group[0]['epochs']:.0f}", str(len(group)), *cells])
    return out


# ============================================================================ chapter 05: translation LM (XLM)
@dataclass
class TLMRun:
    model: torch.nn.Module
    tokenizer: Tokenizer
    pairs: list[tuple[str, str]]
    data: torch.Tensor  # [N, T] '[CLS] english [SEP] chinese [SEP]' rows
    history: list[dict]
    seconds: float
    from_cache: bool

    def gain(self, **kwargs) -> dict[str, float]:
        """translation_gain(): masked Chinese accuracy with vs without the English side visible."""
        from ptmlab.objectives.masking import translation_gain

        return translation_gain(self.model, self.data, **kwargs)

    def fill_mask(self, first: str, second: str, **kwargs) -> list[list[tuple[str, float]]]:
        """tlm_fill_mask() with this run's model and tokenizer."""
        from ptmlab.objectives.masking import tlm_fill_mask

        return tlm_fill_mask(self.model, self.tokenizer, first, second, **kwargs)


def pretrain_tlm(
    preset: MaskingPreset,
    *,
    seed: int = 0,
    reset_positions: bool = True,
    language_embeddings: bool = True,
    live_plot: bool | None = False,
    retrain: bool = False,
) -> TLMRun:
    """Train (or load) a small TLM model on the hand-made English-Chinese pairs (data/samples/parallel_en_zh.tsv)."""
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.objectives.masking import TranslationLM, load_parallel, pack_pairs

    pairs = load_parallel()
    tokenizer = train_tokenizer([t for pair in pairs for t in pair], kind="wordpiece", vocab_size=preset.tlm_vocab_size)
    data = pack_pairs(tokenizer, pairs, max_len=64)
    objective = TranslationLM(
        tokenizer.vocab_size,
        reset_positions=reset_positions,
        language_embeddings=language_embeddings,
        mask_prob=preset.mask_prob,
    )
    config = {
        "recipe": "tlm",
        "version": 2,
        "seed": seed,
        "steps": preset.tlm_steps,
        "d_model": preset.tlm_d_model,
        "vocab_size": preset.tlm_vocab_size,
        "n_pairs": len(pairs),
        "reset_positions": reset_positions,
        "language_embeddings": language_embeddings,
        "batch_size": preset.batch_size,
        "lr": preset.lr,
        "mask_prob": preset.mask_prob,
        "dropout": preset.dropout,
        "pairs_sha": hashlib.sha256(repr(pairs).encode()).hexdigest()[:16],
    }

    run = pretrain_objective(
        "tlm",
        config,
        objective,
        backbone_config(preset, tokenizer.vocab_size, max_len=64, d_model=preset.tlm_d_model, n_layers=2, n_heads=4),
        data,
        steps=preset.tlm_steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        title="TLM",
        live_plot=live_plot,
        meta={"tokenizer": tokenizer.to_dict()},
        retrain=retrain,
    )
    return TLMRun(
        run.model.eval(),
        tokenizer_from_dict(run.meta["tokenizer"]),
        pairs,
        data,
        run.meta.get("history", []),
        run.meta.get("seconds", 0.0),
        run.from_cache,
    )
