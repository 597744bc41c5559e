"""Chapter 05, masked language modelling: BERT's loss kept, only what is hidden (subword tokens, whole words, spans,
entities) and on what text (static vs dynamic masks, translation pairs) changes. SpanBERT (Joshi et al. 2020) Table 6.

In miniature on the synthetic world: span recovery, NER probe and held-out MLM loss per masking strategy (an ERNIE-style
shared first stage, then each strategy); RoBERTa's static vs dynamic masking (Liu et al. 2019); XLM's TLM (Lample &
Conneau 2019). The masking strategies themselves are algorithms: they live in ptmlab.objectives.masking."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ptmlab.data.tokenizers import SPECIAL_TOKENS, Tokenizer, tokenizer_from_dict
from ptmlab.data.world import split_documents, world_sentences
from ptmlab.errors import DataError, InputError
from ptmlab.experiment import GPU_SIZES, SMOKE_SIZES, Comparison, Experiment, ProbePreset
from ptmlab.models.translation import language_and_positions
from ptmlab.objectives.base import Op, special_positions
from ptmlab.objectives.masking import (
    STRATEGY_NAMES,
    StaticMasking,
    TranslationLM,
    corrupt_data,
    encode_with_spans,
    guess_entity_spans,
    make_strategy,
    pack_with_spans,
    split_spans,
    with_spans,
    word_boundary_tables,
    word_starts,
)
from ptmlab.objectives.mlm import MaskedLM
from ptmlab.tasks.ner import ner_probe
from ptmlab.tasks.spans import SpanExample, evaluate_span_recovery, span_recovery_examples
from ptmlab.tasks.stats import final_loss, mean_sd, summarize
from ptmlab.train.pretrain import backbone_config, pretrain_objective

# ============================================================================ the papers' numbers
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

METRICS = {
    "span_em": "span exact match",
    "span_in_context_em": "exact match, answer in context",
    "span_token_acc": "span piece accuracy",
    "ner_f1": "NER span F1 (probe)",
    "mlm_loss": "held-out MLM loss",
}
TABLE6_METRICS = tuple(METRICS)


# ============================================================================ presets
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
    arms: tuple[str, ...] = STRATEGY_NAMES  # the masking strategies compared
    repeat_steps: int = 150  # static vs dynamic: steps over the small corpus
    repeat_seeds: tuple[int, ...] = (0, 1)
    static_copies: tuple[int, ...] = (1,)  # 1 = fully static; BERT used 10
    tlm_vocab_size: int = 400
    tlm_steps: int = 400
    tlm_d_model: int = 64


PRESETS: dict[str, MaskingPreset] = {
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


# ============================================================================ data: the world, split three ways
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


# ============================================================================ what each strategy does, measured
def masking_statistics_table(
    data: WorldMLMData, strategies: Sequence[str] = STRATEGY_NAMES, *, n_rows: int = 400, n_draws: int = 3
) -> tuple[list[str], list[list[str]]]:
    """(header, rows): each strategy's `masking_statistics` on the first `n_rows` training blocks."""
    rows = []
    for name in strategies:
        s = masking_statistics(
            make_strategy(name, data.tokenizer), data.train_blocks[:n_rows], data.tokenizer, n_draws=n_draws
        )
        rows.append(
            [
                name,
                f"{s['rate']:.3f}",
                f"{s['mask']:.2f} / {s['random']:.2f} / {s['unchanged']:.2f}",
                f"{s['mean_run']:.2f}",
                f"{s['split_words']:.3f}",
                f"{s['in_entities']:.3f}",
            ]
        )
    header = [
        "strategy",
        "share predicted",
        "[MASK] / random / kept",
        "mean run (tokens)",
        "words only partly hidden",
        "predicted tokens inside entities",
    ]
    return header, rows


def masking_statistics(
    objective: MaskedLM, data: torch.Tensor, tokenizer: Tokenizer | None = None, *, n_draws: int = 5, seed: int = 0
) -> dict[str, float]:
    """What a strategy does on average over `n_draws` corruptions of `data` ([N, T] or [N, 2, T] with span ids).

    rate: share of non-special tokens predicted; mask/random/unchanged: the 80/10/10 shares; mean_run: average length
    of a run of consecutive predicted tokens; split_words: share of touched words only partly predicted (needs the
    tokenizer); in_entities: share of predicted tokens inside gold entity spans (needs span ids)."""
    generator = torch.Generator().manual_seed(seed)
    tokens, span_ids = split_spans(data)
    if tokenizer is not None:  # every piece's word number, unique across rows
        starts = word_starts(tokens, *word_boundary_tables(tokenizer), objective.special_ids)
        word_of = torch.cumsum(starts.long(), 1) + torch.arange(len(tokens))[:, None] * (tokens.shape[1] + 1)
        real = ~special_positions(tokens, objective.special_ids)
        _, word_index = torch.unique(word_of[real], return_inverse=True)
        n_pieces = torch.bincount(word_index)
    count = dict.fromkeys(("chosen", "maskable", "masked", "random", "unchanged", "runs", "words", "split", "ent"), 0)
    for _ in range(n_draws):
        batch = corrupt_data(objective, data, generator)
        chosen = batch.loss_mask
        count["chosen"] += int(chosen.sum())
        count["maskable"] += int((batch.record != Op.SPECIAL).sum())
        for key, op in (("masked", Op.MASKED), ("random", Op.REPLACED), ("unchanged", Op.UNCHANGED)):
            count[key] += int((batch.record == op).sum())
        count["runs"] += int((chosen[:, 1:] & ~chosen[:, :-1]).sum() + chosen[:, 0].sum())
        if span_ids is not None:
            count["ent"] += int((chosen & (span_ids > 0)).sum())
        if tokenizer is not None:
            n_hit = torch.bincount(word_index, weights=chosen[real].float(), minlength=len(n_pieces))
            count["words"] += int((n_hit > 0).sum())
            count["split"] += int(((n_hit > 0) & (n_hit < n_pieces)).sum())
    chosen = max(1, count["chosen"])
    stats = {
        "rate": count["chosen"] / max(1, count["maskable"]),
        "mask": count["masked"] / chosen,
        "random": count["random"] / chosen,
        "unchanged": count["unchanged"] / chosen,
        "mean_run": count["chosen"] / max(1, count["runs"]),
    }
    if tokenizer is not None:
        stats["split_words"] = count["split"] / max(1, count["words"])
    if span_ids is not None:
        stats["in_entities"] = count["ent"] / chosen
    return stats


# ============================================================================ the strategies side by side on a sentence
STRATEGY_TITLES = {
    "subword": "subword (BERT): each token on its own",
    "whole_word": "whole word: every piece of a chosen word",
    "span": "span (SpanBERT): runs of whole words, lengths ~ Geometric(0.2)",
    "entity": "entity (ERNIE): whole named entities, or whole words",
}


def comparison_html(
    tokenizer,
    text: str,
    *,
    strategies: Sequence[str] = tuple(STRATEGY_TITLES),
    seed: int = 0,
    mask_prob: float = 0.15,
    spans: Sequence[tuple[int, int]] | None = None,
) -> tuple[str, dict[str, dict[str, Any]]]:
    """HTML with one corruption view per strategy on `text`, and per-strategy statistics (a pure function).

    Entity masking needs entity spans: pass character `spans`, or capitalised names are guessed (`guess_entity_spans`).
    Every strategy draws from the same seed, so changing the seed redraws them all."""
    from ptmlab.data.tokenizers import encode_for_model
    from ptmlab.viz.corruption import corruption_html

    encode_for_model(tokenizer, text, max_len=512)  # clear errors for empty, all-unknown or very long text
    spans = guess_entity_spans(text) if spans is None else list(spans)
    ids, labels = encode_with_spans(tokenizer, text, spans)
    tokens = torch.tensor([[tokenizer.cls_id, *ids, tokenizer.sep_id]])
    span_ids = torch.tensor([[0, *labels, 0]])
    data = with_spans(tokens, span_ids)
    original = tokenizer.convert_ids_to_tokens(tokens[0].tolist())
    named = ", ".join(f"<b>{html.escape(text[s:e])}</b>" for s, e in spans) or "none found"
    parts = [f"<div style='margin-bottom:6px'><small>entity spans used by entity masking: {named}</small></div>"]
    stats: dict[str, dict[str, Any]] = {}
    n_maskable = len(ids)
    for name in strategies:
        objective = make_strategy(name, tokenizer, mask_prob)
        batch = corrupt_data(objective, data, torch.Generator().manual_seed(seed))
        chosen = batch.loss_mask[0].tolist()
        runs = sum(1 for t, c in enumerate(chosen) if c and (t == 0 or not chosen[t - 1]))
        n = sum(chosen)
        stats[name] = {"n_predicted": n, "rate": n / max(1, n_maskable), "n_runs": runs}
        title = (
            f"{STRATEGY_TITLES.get(name, name)} · {n} of {n_maskable} tokens predicted"
            f" in {runs} run{'s' if runs != 1 else ''}"
        )
        corrupted = tokenizer.convert_ids_to_tokens(batch.input_ids[0].tolist())
        parts.append(corruption_html(original, corrupted, batch.record[0].tolist(), title))
    return "<div class='ptmlab-masking-comparison'>" + "<hr style='margin:6px 0'>".join(parts) + "</div>", stats


# ============================================================================ pre-training: stage 1, then a strategy
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


def pretrain_base(
    preset: MaskingPreset, *, data: WorldMLMData | None = None, live_plot: bool | None = False, retrain: bool = False
):
    """Stage 1: BERT's subword masking on the training documents, shared by every strategy (None if base_steps=0).
    A ptmlab.train.cache.Run (its model in eval mode)."""
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
    run.model.eval()
    return run


_NO_BASE = object()


def pretrain(
    preset: MaskingPreset,
    strategy: str,
    seed: int,
    *,
    data: WorldMLMData | None = None,
    corpus: str = "train",
    steps: int | None = None,
    base=_NO_BASE,
    live_plot: bool | None = False,
    retrain: bool = False,
):
    """Pre-train (or load from the cache) one small MLM on the world with a masking strategy: 'subword',
    'whole_word', 'span', 'entity', 'static' (one fixed mask per block) or 'static10' (BERT's 10 fixed copies).
    A ptmlab.train.cache.Run (its model in eval mode; meta holds history, seconds and the tokenizer).

    Starts from the shared stage-1 model when preset.base_steps > 0 (`base`: that run, when it is already loaded).
    corpus='repeat' trains on the small repeated corpus of the static vs dynamic experiment instead."""
    data = data or prepare_world_data(preset)
    if corpus not in ("train", "repeat"):
        raise InputError(f"corpus={corpus!r}.", fix="Use 'train' or 'repeat'.")
    blocks = data.train_blocks if corpus == "train" else data.repeat_blocks
    steps = steps or (preset.steps if corpus == "train" else preset.repeat_steps)
    if base is _NO_BASE:
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
    run.model.eval()
    return run


def trained_models(preset: MaskingPreset, arms: Sequence[str] | None = None, seeds: Sequence[int] | None = None):
    """{'span (seed 0)': model, ...}: the (cached) strategy runs of a preset, to fill masks with or look inside."""
    data = prepare_world_data(preset)
    base = pretrain_base(preset, data=data)
    return {
        f"{arm} (seed {seed})": pretrain(preset, arm, seed, data=data, base=base).model
        for arm in arms or preset.arms
        for seed in seeds or preset.seeds
    }


# ============================================================================ scoring
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
    model, data: WorldMLMData, preset: MaskingPreset, seed: int, examples: Sequence[SpanExample] | None = None
) -> dict[str, Any]:
    """The span-level scores of one pre-trained model: span recovery, NER probe F1 (seeded by `seed`) and held-out
    MLM loss. `examples`: the held-out mentions (span_recovery_examples), when several runs are scored."""
    if examples is None:
        examples = span_recovery_examples(data.tokenizer, data.test_documents, preset.block_len, preset.span_examples)
    recovery = evaluate_span_recovery(model, examples, data.tokenizer.mask_id)
    ner = ner_probe(
        model,
        data.tokenizer,
        data.train_documents,
        data.test_documents,
        max_len=preset.block_len,
        train_sentences=preset.ner_train_sentences,
        test_sentences=preset.ner_test_sentences,
        steps=preset.probe_steps,
        seed=seed,
    )
    return {
        "span_em": recovery["exact_match"],
        "span_in_context_em": recovery["in_context_exact_match"],
        "span_token_acc": recovery["token_accuracy"],
        "span_by_label": recovery["by_label"],
        "ner_f1": ner["f1"],
        "mlm_loss": heldout_mlm_loss(model, data.test_blocks, mask_prob=preset.mask_prob),
    }


# ============================================================================ SpanBERT Table 6 in miniature
@dataclass
class ChapterData:
    """What every arm and seed shares: the world split and tokenizer, the stage-1 run every strategy starts from,
    and the held-out entity mentions every model is scored on."""

    world: WorldMLMData
    base: Any  # the stage-1 run (ptmlab.train.cache.Run), None when preset.base_steps == 0
    examples: list | None = None  # held-out entity mentions (span examples)


TABLE6_HEADER = [
    "masking",
    "paper: SQuAD 2.0 F1",
    *(f"ours: {label}" for label in METRICS.values()),
]


class MaskingExperiment(Experiment[MaskingPreset]):
    """SpanBERT Table 6 in miniature: one small MLM per masking strategy and seed, all from the same stage-1 run,
    scored on span recovery, the NER probe and held-out MLM loss."""

    name = "05_masked_lm"
    title = "SpanBERT Table 6 in miniature: masking strategies on span-level tasks"
    presets = PRESETS
    arms = STRATEGY_NAMES
    arm_names = STRATEGY_LABELS
    arm_colours = {"subword": "#bbbbbb", "whole_word": "#e69f00", "span": "#0072b2", "entity": "#009e73"}
    metrics = METRICS
    direction = ("span_em", "span", "subword")  # SpanBERT: geometric spans beat subword tokens on span tasks
    _progress: Callable[[str], None] | None = None

    def run(self, preset: MaskingPreset | str | None = None, *, progress=print, **kwargs) -> Comparison:
        """Experiment.run, plus one line for the shared stage 1 (trained or loaded before the first strategy)."""
        self._progress = progress
        try:
            return super().run(preset, progress=progress, **kwargs)
        finally:
            self._progress = None

    def data(self, preset: MaskingPreset) -> ChapterData:
        world = prepare_world_data(preset)
        examples = span_recovery_examples(world.tokenizer, world.test_documents, preset.block_len, preset.span_examples)
        base = pretrain_base(preset, data=world)
        if base is not None and self._progress:
            source = "loaded from cache" if base.from_cache else f"trained in {base.meta.get('seconds', 0.0):.0f} s"
            self._progress(
                f"stage 1 (subword masking of {preset.base_mask_prob:.0%}, {preset.base_steps} steps) {source}"
            )
        return ChapterData(world, base, examples)

    def pretrain(self, arm: str, preset: MaskingPreset, seed: int, data: ChapterData | None = None):
        if data is None:
            return pretrain(preset, arm, seed)
        return pretrain(preset, arm, seed, data=data.world, base=data.base)

    def score(self, arm: str, run, data: ChapterData, preset: MaskingPreset, seed: int) -> dict[str, Any]:
        return score_run(run.model, data.world, preset, seed, data.examples)

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        return TABLE6_HEADER, table6_rows(comparison.rows)


def table6_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Rows for the SpanBERT Table 6 comparison: ours (mean ± sd over seeds) beside the paper's SQuAD 2.0 F1."""
    summary = summarize(rows, TABLE6_METRICS, by="arm")
    out = []
    for strategy in ("subword", "whole_word", "entity", "noun_phrase", "span"):
        paper = f"{SPANBERT_TABLE6[strategy]:.1f}"
        if strategy not in summary:
            out.append([STRATEGY_LABELS[strategy], paper, *["not run"] * len(TABLE6_METRICS)])
            continue
        s = summary[strategy]
        out.append([STRATEGY_LABELS[strategy], paper, *(f"{s[m][0]:.3f} ± {s[m][1]:.3f}" for m in TABLE6_METRICS)])
    return out


# ============================================================================ RoBERTa: static vs dynamic masking
STATIC_DYNAMIC_ARMS = {"dynamic": "dynamic", "static": "static ×1", "static10": "static ×10"}
_STATIC_DYNAMIC_STRATEGY = {"dynamic": "subword", "static": "static", "static10": "static10"}  # arm -> pretrain()
STATIC_DYNAMIC_METRICS = {
    "own_masks_loss": "loss on its own training masks",
    "fresh_masks_train_loss": "same blocks, fresh masks",
    "heldout_loss": "held-out text, fresh masks",
}


class StaticDynamicExperiment(Experiment[MaskingPreset]):
    """Train on a small corpus (the 'repeat' documents, unseen by stage 1) for many epochs with static masks (each
    block keeps one mask, or BERT's 10) and with dynamic masks (RoBERTa: a new mask every time). Each run is scored by
    its loss on its own training masks (last 10% of steps), on fresh masks of the same blocks, and on held-out text.
    Seeds: preset.repeat_seeds; the static arms: preset.static_copies."""

    name = "05_masked_lm.static_vs_dynamic"
    title = "Static vs dynamic masking on a small corpus seen many times"
    presets = PRESETS
    arms = tuple(STATIC_DYNAMIC_ARMS)
    arm_names = STATIC_DYNAMIC_ARMS
    arm_colours = {"dynamic": "#0072b2", "static": "#d55e00", "static10": "#e69f00"}
    metrics = STATIC_DYNAMIC_METRICS
    direction = None  # lower is better here, and RoBERTa found the two comparable: no "a beats b" claim to test

    def arms_of(self, preset: MaskingPreset) -> tuple[str, ...]:
        return ("dynamic", *dict.fromkeys("static" if n == 1 else "static10" for n in preset.static_copies))

    def run(self, preset: MaskingPreset | str | None = None, *, seeds: Sequence[int] | None = None, **kwargs):
        preset = self.preset(preset)
        return super().run(preset, seeds=preset.repeat_seeds if seeds is None else seeds, **kwargs)

    def data(self, preset: MaskingPreset) -> ChapterData:
        world = prepare_world_data(preset)
        return ChapterData(world, pretrain_base(preset, data=world))

    def pretrain(self, arm: str, preset: MaskingPreset, seed: int, data: ChapterData | None = None):
        data = data or self.data(preset)
        strategy = _STATIC_DYNAMIC_STRATEGY[arm]
        return pretrain(preset, strategy, seed, data=data.world, corpus="repeat", base=data.base)

    def score(self, arm: str, run, data: ChapterData, preset: MaskingPreset, seed: int) -> dict[str, Any]:
        blocks = data.world.repeat_blocks
        return {
            "epochs": preset.repeat_steps * preset.batch_size / max(1, len(blocks)),
            "own_masks_loss": final_loss(run.history),
            "fresh_masks_train_loss": heldout_mlm_loss(run.model, blocks, mask_prob=preset.mask_prob),
            "heldout_loss": heldout_mlm_loss(run.model, data.world.test_blocks, mask_prob=preset.mask_prob),
        }


STATIC_DYNAMIC_HEADER = [
    "masking",
    "epochs over the small corpus",
    "seeds",
    "loss on its own training masks",
    "same blocks, fresh masks",
    "held-out text, fresh masks",
]


def static_dynamic_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Mean ± sd over seeds per masking setting (rows of a StaticDynamicExperiment comparison)."""
    out = []
    for arm in dict.fromkeys(r["arm"] for r in rows):
        group = [r for r in rows if r["arm"] == arm]
        cells = []
        for key in STATIC_DYNAMIC_METRICS:
            mean, sd, _ = mean_sd([r[key] for r in group])
            cells.append(f"{mean:.3f} ± {sd:.3f}")
        out.append([STATIC_DYNAMIC_ARMS.get(arm, arm), f"{group[0]['epochs']:.0f}", str(len(group)), *cells])
    return out


# ============================================================================ translation language modelling (XLM)
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
        return translation_gain(self.model, self.data, **kwargs)

    def fill_mask(self, first: str, second: str, **kwargs) -> list[list[tuple[str, float]]]:
        """tlm_fill_mask() with this run's model and tokenizer."""
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


_CJK_RE = re.compile(r"([\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef])")


def space_cjk(text: str) -> str:
    """Put spaces around every Chinese character and CJK punctuation mark, as BERT's tokenizer does for Chinese: one
    character, one word."""
    return " ".join(_CJK_RE.sub(r" \1 ", unicodedata.normalize("NFKC", text)).split())


def load_parallel(path: str | Path | None = None) -> list[tuple[str, str]]:
    """(english, chinese) pairs from a TSV file; by default data/samples/parallel_en_zh.tsv (hand-made, 109 pairs).
    The Chinese side comes back with its characters spaced (`space_cjk`)."""
    if path is None:
        from ptmlab.data.manifest import data_dir

        path = data_dir() / "samples" / "parallel_en_zh.tsv"
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"No parallel text at {path}.",
            fix="Restore data/samples/parallel_en_zh.tsv from git, or pass the path of a TSV file with one "
            "'english<TAB>chinese' pair per line.",
        )
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not all(c.strip() for c in columns):
            raise DataError(
                f"Line {number} of {path} is not 'english<TAB>chinese': {line[:60]!r}.",
                fix="Separate the two sentences with one tab character.",
            )
        pairs.append((columns[0].strip(), space_cjk(columns[1])))
    if not pairs:
        raise DataError(f"{path} holds no sentence pairs.", fix="Add lines of the form 'english<TAB>chinese'.")
    return pairs


def _pair_ids(tokenizer: Tokenizer, first: str, second: str) -> list[int]:
    encode = tokenizer.encode
    return [
        tokenizer.cls_id,
        *encode(first, add_special_tokens=False),
        tokenizer.sep_id,
        *encode(second, add_special_tokens=False),
        tokenizer.sep_id,
    ]


def pack_pairs(tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]], max_len: int = 64) -> torch.Tensor:
    """[N, T] ids '[CLS] a [SEP] b [SEP]', right-padded with [PAD] to the longest pair (T <= max_len)."""
    if not pairs:
        raise InputError("No sentence pairs to pack.", fix="Pass at least one (english, chinese) pair.")
    rows = [_pair_ids(tokenizer, a, b) for a, b in pairs]
    for (a, _), ids in zip(pairs, rows):
        if len(ids) > max_len:
            raise InputError(
                f"The pair {a[:30]!r} is {len(ids)} tokens long; max_len is {max_len}.",
                fix="Use shorter sentences or a larger max_len.",
            )
    longest = max(len(r) for r in rows)
    return torch.tensor([r + [tokenizer.pad_id] * (longest - len(r)) for r in rows])


def _first_sentence(ids: torch.Tensor) -> torch.Tensor:
    """Bool [B, T]: the real (non-special) tokens of the first sentence of each pair."""
    special = special_positions(ids, list(range(len(SPECIAL_TOKENS))))
    return (language_and_positions(ids)[0] == 0) & ~special


@torch.no_grad()
def translation_gain(
    model, pairs_ids: torch.Tensor, *, mask_prob: float = 0.15, mask_id: int = 4, seed: int = 0, draws: int = 5
) -> dict[str, float]:
    """Accuracy on masked tokens of the SECOND sentence, with the first sentence visible vs hidden from attention.

    If TLM learned to translate, seeing the English sentence should raise the accuracy on masked Chinese words."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    real = pairs_ids != 0
    first = _first_sentence(pairs_ids)
    candidates = real & ~first & ~special_positions(pairs_ids, list(range(len(SPECIAL_TOKENS))))
    hits, total = {"with_first": 0, "without_first": 0}, 0
    model.eval()
    for _ in range(draws):
        chosen = (torch.rand(pairs_ids.shape, generator=generator) < mask_prob) & candidates
        inputs = torch.where(chosen, torch.full_like(pairs_ids, mask_id), pairs_ids)
        for key, visible in (("with_first", real), ("without_first", real & ~first)):
            out = model(inputs.to(device), visible.long().to(device), predict_positions=chosen.to(device))
            hits[key] += int((out.extras["logits"].argmax(-1).cpu() == pairs_ids[chosen]).sum())
        total += int(chosen.sum())
    return {k: v / max(1, total) for k, v in hits.items()} | {"n_predicted": total}


@torch.no_grad()
def tlm_fill_mask(
    model, tokenizer: Tokenizer, first: str, second: str, *, top_k: int = 5, hide_first: bool = False
) -> list[list[tuple[str, float]]]:
    """Fill the [MASK]s of a sentence pair with a TLM model: e.g. first='the cat is eating fish .',
    second='猫在吃[MASK]。'. hide_first=True hides the first sentence from attention, to see what it contributed."""
    second = space_cjk(second)
    if "[MASK]" not in first + second:
        raise InputError("Neither sentence has a [MASK] to fill.", fix="Write [MASK] where a word should be predicted.")
    ids = torch.tensor([_pair_ids(tokenizer, first, second)])
    if ids.shape[1] > model.config.max_len:
        raise InputError(
            f"The pair is {ids.shape[1]} tokens long; the model takes {model.config.max_len}.",
            fix="Use shorter sentences.",
        )
    device = next(model.parameters()).device
    visible = torch.ones_like(ids)
    if hide_first:
        visible[_first_sentence(ids)] = 0
    model.eval()
    out = model(ids.to(device), visible.to(device), predict_positions=(ids == tokenizer.mask_id).to(device))
    probs = out.extras["logits"].float().softmax(-1).cpu()
    probs[:, : len(SPECIAL_TOKENS)] = 0
    values, indices = probs.topk(top_k, dim=-1)
    return [
        [(tokenizer.id_to_token(i), float(p)) for p, i in zip(v.tolist(), ix.tolist())]
        for v, ix in zip(values, indices)
    ]


EXPERIMENT = MaskingExperiment()
STATIC_DYNAMIC = StaticDynamicExperiment()
