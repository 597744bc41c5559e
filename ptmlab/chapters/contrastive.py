"""Chapter 08, contrastive tasks: replaced-token detection vs masked LM at equal compute, and NSP vs SOP cross-evaluated.

Clark et al. 2020, ELECTRA Table 1 (ELECTRA-Small 79.9 vs BERT-Small 75.1 GLUE at equal compute); Lan et al. 2020, ALBERT
Table 5 (NSP-trained models solve NSP, 90.5, but sit near chance on SOP, 52.0; SOP solves both, 78.9 / 86.5). Every run
goes through ptmlab.train.pretrain.pretrain_objective (the one Trainer, cached with load_or_train); InfoNCE (InfoWord) is
a short demo run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from ptmlab.data.tokenizers import SPECIAL_TOKENS, Tokenizer
from ptmlab.errors import InputError
from ptmlab.experiment import ChapterPreset, Comparison, Experiment, resolve_preset
from ptmlab.objectives.sentence import PAIR_KINDS, SentencePairObjective, make_pairs, pair_accuracy
from ptmlab.tasks.entities import EntityTypeData, entity_type_data, entity_type_probe
from ptmlab.train.cache import Run
from ptmlab.train.pretrain import pretrain_objective

# The papers' numbers (/work/shared/PAPER_NUMBERS.md items 3 and 4).
ALBERT_TABLE5 = {  # intrinsic accuracy (%) on MLM / NSP / SOP, and the downstream average
    "none": {"mlm": 54.9, "nsp": 52.4, "sop": 53.3, "avg": 79.0},
    "nsp": {"mlm": 54.5, "nsp": 90.5, "sop": 52.0, "avg": 79.2},
    "sop": {"mlm": 54.0, "nsp": 78.9, "sop": 86.5, "avg": 80.1},
}
ELECTRA_TABLE1 = {"mlm": 75.1, "rtd": 79.9}  # GLUE dev, Small models at equal compute
KIND_LABELS = {"none": "none (MLM only)", "nsp": "NSP + MLM", "sop": "SOP + MLM"}
ENCODER_LABELS = {"untrained": "untrained encoder", "mlm": "MLM (BERT-style)", "rtd": "RTD (ELECTRA discriminator)"}
ENCODER_COLOURS = {"untrained": "#999999", "mlm": "#0072b2", "rtd": "#d55e00"}
PAIR_COLOURS = {"none": "#999999", "nsp": "#cc79a7", "sop": "#0072b2"}


# ============================================================================ presets
@dataclass(frozen=True)
class ContrastivePreset(ChapterPreset):
    """Sizes for chapter 08. Pre-training reads the English documents of worlds 0..pretrain_worlds-1; every evaluation
    uses a world never seen in pre-training (heldout_world). `seeds` are the RTD vs MLM seeds, `pair_seeds` those of
    the NSP / SOP cross-evaluation."""

    pretrain_worlds: int = 2
    heldout_world: int = 1000
    documents_per_world: int | None = None  # None: all (about 470 per world)
    vocab_size: int = 1000
    max_len: int = 32  # block length for RTD, MLM and InfoNCE
    pair_len: int = 32  # "[CLS] A [SEP] B [SEP]"; longer pairs lose tokens from the end (BERT's truncation)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    batch_size: int = 32  # RTD / MLM / InfoNCE blocks
    lr: float = 2e-3
    # ALBERT Table 5: stage 1 (MLM on pairs, once), then stage 2 per sentence task and seed
    pair_batch_size: int = 64
    pair_base_steps: int = 300
    pair_steps: int = 250
    pair_lr: float = 2e-3
    pair_seeds: tuple[int, ...] = (0, 1, 2)
    eval_pairs: int = 600  # held-out pairs per task
    # ELECTRA Table 1: MLM gets mlm_steps; RTD gets the steps that cost the same estimated FLOPs
    mlm_steps: int = 300
    seeds: tuple[int, ...] = (0, 1, 2)  # the RTD vs MLM seeds
    generator_fraction: float = 0.25
    probe_sentences: int = 1200  # held-out sentences for the entity-type probe
    probe_steps: int = 150
    infonce_steps: int = 100
    cache_fill_minutes: float = 0.0  # training every run once (expected_minutes: with every run cached)


# The cpu preset is the default; its numbers are measured. smoke only checks the pipeline.
PRESETS: dict[str, ContrastivePreset] = {
    "smoke": ContrastivePreset(
        pretrain_worlds=1, documents_per_world=150, vocab_size=600, d_model=32, n_layers=1, n_heads=2,
        batch_size=16, pair_batch_size=16, pair_base_steps=8, pair_steps=8, eval_pairs=96,
        mlm_steps=10, seeds=(0,), probe_sentences=120, probe_steps=30, infonce_steps=5,
        expected="smoke: checks the pipeline only; far too short to learn (accuracies at chance, no ordering).",
        expected_minutes=0.5, cache_fill_minutes=0.5),
    "cpu": ContrastivePreset(  # measured 26 Nov 2026 on 2 shared cores (load 8-17), seeds 0-2, mean ± sd
        expected="cpu (measured): probe bal. acc. untrained 28.3 ± 1.4, MLM 25.6 ± 2.6, RTD 32.2 ± 4.5; "
                 "NSP model on NSP / SOP 49.6 ± 1.0 / 46.6 ± 2.5, SOP model 49.8 ± 0.4 / 56.1 ± 2.4; "
                 "InfoNCE held-out retrieval 0.25 (chance 0.08).",
        expected_minutes=2.5, cache_fill_minutes=3.9),  # idle 2 cores, `ptmlab prepare` (25 at load 8-17)
    "gpu": ContrastivePreset(
        pretrain_worlds=8, vocab_size=2000, max_len=64, pair_len=64, d_model=128, n_layers=4, lr=1e-3,
        batch_size=128, pair_batch_size=128, pair_base_steps=2000, pair_steps=1500, pair_lr=5e-4,
        pair_seeds=(0, 1, 2, 3, 4), eval_pairs=2000,
        mlm_steps=3000, seeds=(0, 1, 2, 3, 4), probe_sentences=2500, probe_steps=300, infonce_steps=600,
        expected="gpu: target, not measured (no GPU was available when this chapter was written).",
        expected_minutes=2.0, cache_fill_minutes=10.0),
}  # fmt: skip


def model_config(preset: ContrastivePreset, vocab_size: int, n_segments: int = 0):
    """The encoder every run shares; pair models (n_segments=2) take pair_len positions, the others max_len."""
    from ptmlab.models.transformer import TransformerConfig

    return TransformerConfig(
        vocab_size=vocab_size,
        max_len=preset.pair_len if n_segments else preset.max_len,
        d_model=preset.d_model,
        n_layers=preset.n_layers,
        n_heads=preset.n_heads,
        n_segments=n_segments,
    )


def _cache_key(preset: ContrastivePreset, **run: Any) -> dict[str, Any]:
    """Everything that changes a run's result: the data and model sizes of the preset, plus the run's own settings."""
    sizes = ("pretrain_worlds", "documents_per_world", "vocab_size", "max_len", "pair_len", "d_model", "n_layers",
             "n_heads", "batch_size", "pair_batch_size", "lr")  # fmt: skip
    # "tokenizer": runs cached before the chapter's tokenizer was saved (see _chapter_data) are not reused
    return {"chapter": "08", "tokenizer": "saved", **{name: getattr(preset, name) for name in sizes}, **run}


# ============================================================================ data: worlds, tokenizer, blocks
@dataclass
class ChapterData:
    tokenizer: Tokenizer
    pretrain_documents: list  # world Documents of the pre-training worlds
    heldout_documents: list  # a world never seen in pre-training
    blocks: torch.Tensor  # packed [CLS] ... [SEP] blocks of the pre-training text (RTD, MLM)

    def __repr__(self) -> str:
        sentences = sum(len(d.sentences) for d in self.pretrain_documents)
        return (
            f"ChapterData({len(self.pretrain_documents)} pre-training documents, {sentences} sentences, "
            f"{len(self.blocks)} blocks; {len(self.heldout_documents)} held-out documents; "
            f"vocab {self.tokenizer.vocab_size})"
        )


def chapter_data(preset: ContrastivePreset) -> ChapterData:
    p = preset
    return _chapter_data(p.pretrain_worlds, p.heldout_world, p.documents_per_world, p.vocab_size, p.max_len)


@lru_cache(maxsize=4)
def _chapter_data(worlds: int, heldout_world: int, per_world: int | None, vocab_size: int, max_len: int) -> ChapterData:
    from ptmlab.data.batching import pack_sentences
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world

    if heldout_world < worlds:
        raise InputError("The held-out world must not be a pre-training world.", fix="Use heldout_world=1000.")
    documents = [doc for seed in range(worlds) for doc in make_world(seed=seed).documents(per_world)]
    sentences = [s.text for doc in documents for s in doc.sentences]
    # train_tokenizer caches subword tokenizers by their text: a later process gets the same ids its cached runs saw.
    tokenizer = train_tokenizer(sentences, kind="wordpiece", vocab_size=vocab_size)
    heldout = make_world(seed=heldout_world).documents(per_world)
    return ChapterData(tokenizer, documents, heldout, pack_sentences(tokenizer, sentences, max_len))


# ============================================================================ ALBERT Table 5: none / NSP / SOP
def pretrain_pair_base(preset: ContrastivePreset | str | None = None, *, retrain: bool = False,
                       live_plot: bool | None = False):  # fmt: skip
    """Stage 1, shared by every pair model: MLM alone on in-order sentence pairs (seed 0); cached.

    A model this small first sits on a plateau where it predicts token frequencies and ignores context, and a sentence
    head trained from there learns little. Paying the plateau once and branching afterwards keeps the comparison fair:
    the models of stage 2 differ only in their sentence task."""
    preset = resolve_preset(PRESETS, preset)
    data = chapter_data(preset)
    vocab = data.tokenizer.vocab_size
    return pretrain_objective(
        "ch08-pairs-base",
        _cache_key(preset, run="pairs-base", steps=preset.pair_base_steps),
        SentencePairObjective(vocab, "none"),
        model_config(preset, vocab, n_segments=2),
        make_pairs(data.pretrain_documents, data.tokenizer, preset.pair_len, "none", seed=0),
        steps=preset.pair_base_steps,
        batch_size=preset.pair_batch_size,
        lr=preset.lr,
        seed=0,
        title="stage 1: MLM on sentence pairs",
        live_plot=live_plot,
        retrain=retrain,
    )


def pretrain_pair_model(kind: str, preset: ContrastivePreset | str | None = None, seed: int = 0, *,
                        retrain: bool = False, live_plot: bool | None = False):  # fmt: skip
    """Stage 2: from the stage-1 model, MLM + NSP or MLM + SOP for pair_steps; cached.

    kind "none" (ALBERT's MLM-only row) is the stage-1 model itself with its never-trained pair head re-drawn from
    `seed`: a model trained without a sentence task answers NSP and SOP with an untrained head, so its spread over
    seeds is the spread of random heads (its MLM column has pair_steps fewer MLM steps than the other rows)."""
    import copy

    from ptmlab.models.transformer import _init_weights

    if kind not in PAIR_KINDS:
        raise InputError(f"Unknown pair kind {kind!r}.", fix=f"Use one of {', '.join(PAIR_KINDS)}.")
    preset = resolve_preset(PRESETS, preset)
    data = chapter_data(preset)
    vocab = data.tokenizer.vocab_size
    base = pretrain_pair_base(preset, retrain=retrain, live_plot=live_plot)
    key = _cache_key(preset, run="pairs", kind=kind, seed=seed, base_steps=preset.pair_base_steps,
                     steps=preset.pair_steps, pair_lr=preset.pair_lr)  # fmt: skip
    if kind == "none":
        model = copy.deepcopy(base.model)
        torch.manual_seed(seed)
        model.pair_head.apply(_init_weights)
        meta = {"seconds": 0.0, "base_seconds": base.meta.get("seconds", 0.0),
                "config": {"base": base.meta.get("config"), "pair_head_seed": seed}}  # fmt: skip
        return Run(model, meta, from_cache=base.from_cache)
    return pretrain_objective(
        f"ch08-pairs-{kind}",
        key,
        SentencePairObjective(vocab, kind),
        model_config(preset, vocab, n_segments=2),
        make_pairs(data.pretrain_documents, data.tokenizer, preset.pair_len, kind, seed=seed + 1),
        steps=preset.pair_steps,
        batch_size=preset.pair_batch_size,
        lr=preset.pair_lr,
        seed=seed,
        start_from=base.model,
        title=f"stage 2: {KIND_LABELS[kind]} (seed {seed})",
        live_plot=live_plot,
        meta={"base_seconds": base.meta.get("seconds", 0.0)},
        retrain=retrain,
    )


def evaluation_pairs(preset: ContrastivePreset, seed: int = 12345) -> dict[str, torch.Tensor]:
    """Held-out NSP and SOP pairs from the world never trained on (about half negatives each)."""
    data = chapter_data(preset)
    out = {}
    for kind in ("nsp", "sop"):
        pairs = make_pairs(data.heldout_documents, data.tokenizer, preset.pair_len, kind, seed=seed)
        order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
        out[kind] = pairs[order[: preset.eval_pairs]]
    return out


@torch.no_grad()
def heldout_mlm_accuracy(model, pairs: torch.Tensor, seed: int = 0, batch_size: int = 256) -> float:
    """Masked-token accuracy on held-out pairs (the MLM column of ALBERT Table 5), with a fixed masking seed."""
    objective = SentencePairObjective(model.config.vocab_size, "none")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    for first in range(0, len(pairs), batch_size):
        batch = objective.corrupt(pairs[first : first + batch_size], generator).to(device)
        out = model(batch.input_ids, batch.attention_mask, batch.extra["token_type_ids"], batch.loss_mask)
        targets = batch.targets[batch.loss_mask]
        correct += int((out.extras["logits"].argmax(-1) == targets).sum())
        total += targets.numel()
    model.train(was_training)
    return correct / max(1, total)


# ======================================================================= ELECTRA Table 1: RTD vs MLM, equal compute
def steps_for_equal_compute(preset: ContrastivePreset, vocab_size: int) -> dict[str, Any]:
    """MLM gets preset.mlm_steps; RTD the number of steps with the same estimated training FLOPs (its steps also pay
    for the generator, so it gets fewer)."""
    from ptmlab.objectives.rtd import training_step_flops

    config = model_config(preset, vocab_size)
    per_step = {kind: training_step_flops(kind, config, preset.batch_size, preset.max_len,
                                          generator_fraction=preset.generator_fraction)
                for kind in ("mlm", "rtd")}  # fmt: skip
    budget = per_step["mlm"] * preset.mlm_steps
    steps = {"mlm": preset.mlm_steps, "rtd": max(1, int(budget // per_step["rtd"]))}
    return {**steps, "flops_per_step": per_step, "budget_flops": budget}


def pretrain_encoder(kind: str, preset: ContrastivePreset | str | None = None, seed: int = 0, *,
                     retrain: bool = False, live_plot: bool | None = False):  # fmt: skip
    """An MLM (BERT) or RTD (ELECTRA) encoder on the pre-training worlds, within the same FLOPs budget; cached."""
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.objectives.rtd import ReplacedTokenDetection

    if kind not in ("mlm", "rtd"):
        raise InputError(f"Unknown encoder objective {kind!r}.", fix="Use 'mlm' or 'rtd'.")
    preset = resolve_preset(PRESETS, preset)
    data = chapter_data(preset)
    vocab = data.tokenizer.vocab_size
    steps = steps_for_equal_compute(preset, vocab)[kind]
    if kind == "mlm":
        objective = MaskedLM(vocab)
    else:
        objective = ReplacedTokenDetection(vocab, generator_fraction=preset.generator_fraction)
    return pretrain_objective(
        f"ch08-encoder-{kind}",
        _cache_key(
            preset, run="encoder", kind=kind, seed=seed, steps=steps, generator_fraction=preset.generator_fraction
        ),
        objective,
        model_config(preset, vocab),
        data.blocks,
        steps=steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        title=f"{ENCODER_LABELS[kind]} (seed {seed})",
        live_plot=live_plot,
        retrain=retrain,
    )


# ============================================================================ InfoNCE / DIM: a short demo run
def sentence_rows(tokenizer: Tokenizer, documents: Sequence, max_len: int) -> torch.Tensor:
    """One padded "[CLS] sentence [SEP]" row per sentence of the documents (longer sentences are left out)."""
    from ptmlab.data.batching import pad_batch

    rows = [ids for doc in documents for s in doc.sentences if len(ids := tokenizer.encode(s.text)) <= max_len]
    if not rows:
        raise InputError("No sentence fits max_len.", fix="Use a longer max_len.")
    return pad_batch(rows, tokenizer.pad_id)[0]


def pretrain_infonce(preset: ContrastivePreset | str | None = None, seed: int = 0, *, retrain: bool = False,
                     live_plot: bool | None = False):  # fmt: skip
    """InfoWord-style InfoNCE on the pre-training sentences (global masked sentence vs local n-gram); cached."""
    from ptmlab.objectives.contrastive import InfoNCEObjective

    preset = resolve_preset(PRESETS, preset)
    data = chapter_data(preset)
    vocab = data.tokenizer.vocab_size
    return pretrain_objective(
        "ch08-infonce",
        _cache_key(preset, run="infonce", seed=seed, steps=preset.infonce_steps),
        InfoNCEObjective(vocab),
        model_config(preset, vocab),
        sentence_rows(data.tokenizer, data.pretrain_documents, preset.max_len),
        steps=preset.infonce_steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        title="InfoNCE (InfoWord)",
        live_plot=live_plot,
        retrain=retrain,
    )


def infonce_heldout(model, preset: ContrastivePreset, n: int = 12, seed: int = 0) -> dict[str, Any]:
    """Score n held-out sentences (one n-gram masked in each) against their n n-grams: the score matrix, the retrieval
    accuracy (chance 1/n) and the InfoNCE bound log(n) - loss on the mutual information."""
    from ptmlab.objectives.contrastive import InfoNCEObjective

    data = chapter_data(preset)
    rows = sentence_rows(data.tokenizer, data.heldout_documents, preset.max_len)
    pick = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:n]
    objective = InfoNCEObjective(data.tokenizer.vocab_size)
    batch = objective.corrupt(rows[pick], torch.Generator().manual_seed(seed))
    scores = objective.score_matrix(model, batch.to(next(model.parameters()).device))
    targets = torch.arange(len(scores))
    return {
        "scores": scores,
        "accuracy": float((scores.argmax(-1) == targets).float().mean()),
        "chance": 1 / len(scores),
        "mi_bound": math.log(len(scores)) - float(F.cross_entropy(scores, targets)),
        "sentences": [" ".join(data.tokenizer.convert_ids_to_tokens(r[r != 0].tolist())) for r in batch.input_ids],
        "ngrams": [
            " ".join(data.tokenizer.convert_ids_to_tokens(r[r >= len(SPECIAL_TOKENS)].tolist()))
            for r in batch.extra["ngram_ids"]
        ],  # fmt: skip
    }


# ============================================================================ the two experiments
class _ChapterExperiment(Experiment[ContrastivePreset]):
    """What both comparisons share: the presets, and a score cache key that ignores seed lists and timings."""

    presets = PRESETS
    seeds_field = "seeds"  # the preset field holding this experiment's seeds

    def run(self, preset: ContrastivePreset | str | None = None, *, seeds: Sequence[int] | None = None, **kwargs):
        preset = self.preset(preset)
        return super().run(preset, seeds=seeds if seeds is not None else getattr(preset, self.seeds_field), **kwargs)

    def score_config(self, arm: str, run: Any, preset: ContrastivePreset, seed: int) -> dict[str, Any] | None:
        key = super().score_config(arm, run, preset, seed)
        if key is not None:
            key["preset"] = {k: v for k, v in key["preset"].items() if k not in ("pair_seeds", "cache_fill_minutes")}
        return key


@dataclass
class EncoderData:
    """What every encoder and seed shares: the worlds and tokenizer, the entity-type probe's held-out sentences, and
    the equal-compute budget (steps per objective)."""

    chapter: ChapterData
    probe: EntityTypeData
    budget: dict[str, Any]


def encoder_budget(preset: ContrastivePreset) -> dict[str, Any]:
    """steps_for_equal_compute with the chapter tokenizer's vocabulary size."""
    return steps_for_equal_compute(preset, chapter_data(preset).tokenizer.vocab_size)


class RTDvsMLMExperiment(_ChapterExperiment):
    """ELECTRA Table 1 in miniature: MLM and RTD encoders of the same size and training FLOPs, plus an untrained one,
    each scored by the entity-type probe (frozen features, split by word) on a held-out world."""

    name = "08_contrastive"
    title = "RTD (ELECTRA) vs MLM (BERT) at equal compute"
    arms = ("untrained", "mlm", "rtd")
    arm_names = ENCODER_LABELS
    arm_colours = ENCODER_COLOURS
    metrics = {"balanced_accuracy": "entity-type probe, balanced accuracy", "accuracy": "entity-type probe, accuracy"}
    direction = ("balanced_accuracy", "rtd", "mlm")  # ELECTRA: RTD beats MLM at equal compute

    def data(self, preset: ContrastivePreset) -> EncoderData:
        chapter = chapter_data(preset)
        probe = entity_type_data(chapter.tokenizer, chapter.heldout_documents, preset.max_len, preset.probe_sentences)
        return EncoderData(chapter, probe, encoder_budget(preset))

    def pretrain(self, arm: str, preset: ContrastivePreset, seed: int, data: EncoderData | None = None) -> Run:
        if arm == "untrained":
            from ptmlab.models.heads import MaskedLanguageModel

            vocab = (data.chapter if data is not None else chapter_data(preset)).tokenizer.vocab_size
            torch.manual_seed(seed)
            return Run(MaskedLanguageModel(model_config(preset, vocab)), {"seconds": 0.0})
        return pretrain_encoder(arm, preset, seed)

    def score(self, arm: str, run: Run, data: EncoderData, preset: ContrastivePreset, seed: int) -> dict[str, Any]:
        return entity_type_probe(run.model, data.probe, preset.probe_steps, seed=seed)

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        return electra_table(comparison, encoder_budget(comparison.preset))


def electra_table(comparison: Comparison, budget: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Encoder | probe (ours, mean ± sd, %) | paper GLUE | steps | training TFLOPs | training seconds (mean)."""
    header = ["encoder", "entity-type probe, bal. acc % (ours)", "GLUE (paper, Table 1)", "steps", "train TFLOPs",
              "train seconds"]  # fmt: skip
    rows = []
    for arm, stats in comparison.summary(["balanced_accuracy"]).items():
        mean, sd, _ = stats["balanced_accuracy"]
        steps = budget.get(arm, 0)
        flops = budget["flops_per_step"].get(arm, 0.0) * steps
        seconds = statistics.fmean(r["train_seconds"] for r in comparison.rows if r["arm"] == arm)
        rows.append([ENCODER_LABELS[arm], f"{100 * mean:.1f} ± {100 * sd:.1f}", str(ELECTRA_TABLE1.get(arm, "-")),
                     str(steps), f"{flops / 1e12:.2f}", f"{seconds:.0f}"])  # fmt: skip
    return header, rows


class SentencePairExperiment(_ChapterExperiment):
    """ALBERT Table 5 in miniature: per seed a none / NSP / SOP model (stage 2 from one shared stage-1 MLM model), each
    evaluated with its own pair head on held-out NSP and SOP pairs, and by masked-token accuracy.

    ALBERT's intrinsic evaluation: an NSP head is asked the SOP question as it is (label 1 = "B follows A" / "in
    order"); the "none" model answers with a head that was never trained, so it sits at chance by construction."""

    name = "08_contrastive_pairs"
    title = "NSP vs SOP, cross-evaluated (ALBERT Table 5)"
    seeds_field = "pair_seeds"
    arms = PAIR_KINDS
    arm_names = KIND_LABELS
    arm_colours = PAIR_COLOURS
    metrics = {"mlm": "held-out MLM accuracy", "nsp": "evaluated on NSP", "sop": "evaluated on SOP"}
    direction = ("sop", "sop", "nsp")  # ALBERT: the SOP model beats the NSP model on SOP

    def data(self, preset: ContrastivePreset) -> dict[str, torch.Tensor]:
        return evaluation_pairs(preset)

    def pretrain(self, arm: str, preset: ContrastivePreset, seed: int, data: Any = None) -> Run:
        return pretrain_pair_model(arm, preset, seed)

    def score(self, arm: str, run: Run, data: dict[str, torch.Tensor], preset: ContrastivePreset,
              seed: int) -> dict[str, Any]:  # fmt: skip
        scores = {task: pair_accuracy(run.model, pairs) for task, pairs in data.items()}
        scores["mlm"] = heldout_mlm_accuracy(run.model, data["nsp"])
        return scores

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        """Trained with | MLM | NSP | SOP: ours (mean ± sd over seeds, %) with the paper's number beside each."""
        rows = []
        for arm, tasks in comparison.summary().items():
            cells = [f"{100 * tasks[t][0]:.1f} ± {100 * tasks[t][1]:.1f} (paper {ALBERT_TABLE5[arm][t]})"
                     for t in ("mlm", "nsp", "sop")]  # fmt: skip
            rows.append([self.label(arm), *cells])
        return ["trained with", "MLM acc %", "NSP acc %", "SOP acc %"], rows

    def claims(self, comparison: Comparison) -> list[str]:
        """ALBERT's two claims, checked seed by seed: SOP beats NSP on SOP; NSP's SOP accuracy is near chance."""
        if not {"nsp", "sop"} <= set(comparison.arms):
            return []
        lines = []
        for task in ("sop", "nsp"):
            d = comparison.direction(task, "sop", "nsp")
            lines.append(f"SOP model - NSP model, evaluated on {task.upper()}: {100 * d['mean_difference']:+.1f} points "
                         f"({d['wins']}/{d['seeds']} seeds better, clear: {d['clear']})")  # fmt: skip
        mean, sd, _ = comparison.summary(["sop"])["nsp"]["sop"]
        lines.append(f"NSP model evaluated on SOP: {100 * mean:.1f} ± {100 * sd:.1f} (chance 50; paper 52.0)")
        return lines


EXPERIMENT = RTDvsMLMExperiment()
PAIR_EXPERIMENT = SentencePairExperiment()


# ============================================================================ looking inside the models
@dataclass
class RTDExample:
    """One sentence through ELECTRA: what the generator wrote and what the discriminator thinks of every token."""

    original: list[str]
    shown: list[str]  # the discriminator's input
    replaced: list[bool]
    probabilities: list[float]
    masked: list[bool]  # the slots the generator filled (a sample may equal the original)

    def html(self, title: str = "") -> str:
        from ptmlab.viz.contrastive import replaced_token_html

        return replaced_token_html(self.shown, self.probabilities, self.replaced, self.original, title)

    def corruption_html(self, title: str = "") -> str:
        """The same sentence in the corruption view: generator-replaced tokens as REPLACED, masked slots where the
        generator happened to sample the original as UNCHANGED (the discriminator must call them original)."""
        from ptmlab.viz.contrastive import rtd_corruption_html

        return rtd_corruption_html(self.original, self.shown, self.replaced, self.masked, title)

    @property
    def detection_accuracy(self) -> float:
        hits = [(p > 0.5) == r for p, r in zip(self.probabilities, self.replaced)]
        return sum(hits) / max(1, len(hits))


def rtd_example(model, tokenizer, text: str, seed: int = 0, mask_prob: float = 0.15,
                use_generator: bool = True) -> RTDExample:  # fmt: skip
    """Run ELECTRA on `text`: mask `mask_prob` of the tokens, let the generator sample replacements (seeded), then score
    every token with the discriminator. With use_generator=False the sentence is scored exactly as typed (change a
    word yourself and see whether the discriminator notices)."""
    from ptmlab.data.tokenizers import encode_for_model
    from ptmlab.objectives.rtd import ReplacedTokenDetection

    ids = torch.tensor([encode_for_model(tokenizer, text, model.config.max_len)])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        if use_generator:
            objective = ReplacedTokenDetection(model.config.vocab_size, mask_prob=mask_prob)
            batch = objective.corrupt(ids, torch.Generator().manual_seed(seed)).to(device)
            _, shown_ids, replaced = objective.generate(model, batch)
            masked = batch.loss_mask
        else:
            shown_ids, replaced = ids.to(device), torch.zeros_like(ids, dtype=torch.bool)
            masked = replaced
        probabilities = model.replaced_probabilities(shown_ids)[0].tolist()
    model.train(was_training)
    return RTDExample(
        tokenizer.convert_ids_to_tokens(ids[0].tolist()),
        tokenizer.convert_ids_to_tokens(shown_ids[0].tolist()),
        [bool(r) for r in replaced[0].tolist()],
        probabilities,
        [bool(m) for m in masked[0].tolist()],
    )


def pair_judgement(models: dict, tokenizer, first: str, second: str) -> list[dict]:
    """For each named pair model: P(positive) for (first, second) and for the swapped (second, first).

    An NSP head answers "does B follow A?", an SOP head "are they in order?"; both read label 1 as positive."""
    from ptmlab.objectives.sentence import IDS, SEGMENTS, pair_row

    a = tokenizer.encode(first, add_special_tokens=False)
    b = tokenizer.encode(second, add_special_tokens=False)
    if not a or not b:
        raise InputError("Both sentences need some text.", fix="Type a sentence in each box.")
    rows = []
    for name, model in models.items():
        device = next(model.parameters()).device
        pairs = torch.stack([pair_row(a, b, tokenizer, model.config.max_len),
                             pair_row(b, a, tokenizer, model.config.max_len)]).to(device)  # fmt: skip
        was_training = model.training
        model.eval()
        with torch.no_grad():
            ids = pairs[:, IDS]
            logits = model(ids, (ids != 0).long(), token_type_ids=pairs[:, SEGMENTS]).extras["pair_logits"]
        model.train(was_training)
        p = logits.float().softmax(-1)[:, 1].tolist()
        rows.append({"model": name, "a_then_b": p[0], "b_then_a": p[1]})
    return rows


# ============================================================================ the chapter's result figures
def cross_evaluation_figure(comparison: Comparison):
    """ALBERT Table 5 as a matrix (rows: trained with none / NSP / SOP; columns: evaluated on NSP / SOP): ours (mean ±
    sd over seeds) beside the paper's, as two heatmaps. `comparison` is PAIR_EXPERIMENT.run(...)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    stats = comparison.summary(["nsp", "sop"])
    kinds, tasks = list(stats), ["nsp", "sop"]
    ours = [[100 * stats[k][t][0] for t in tasks] for k in kinds]
    text_ours = [[f"{100 * stats[k][t][0]:.1f} ± {100 * stats[k][t][1]:.1f}" for t in tasks] for k in kinds]
    paper = [[ALBERT_TABLE5[k][t] for t in tasks] for k in kinds]
    x, y = ["evaluated on NSP", "evaluated on SOP"], [KIND_LABELS[k] for k in kinds]
    figure = make_subplots(1, 2, subplot_titles=("ours (held-out world, mean ± sd over seeds)", "ALBERT Table 5"))
    for col, (z, text) in enumerate(((ours, text_ours), (paper, [[f"{v:.1f}" for v in row] for row in paper])), 1):
        figure.add_trace(go.Heatmap(z=z, x=x, y=y, text=text, texttemplate="%{text}", zmin=40, zmax=100,
                                    colorscale="Blues", showscale=col == 2), 1, col)  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=60, b=10), title="Trained with (rows) × evaluated on")
    return figure


def equal_compute_figure(comparison: Comparison, budget: dict[str, Any] | None = None):
    """ELECTRA Table 1 in miniature: probe score per run against its training FLOPs (equal for MLM and RTD) and its
    measured wall time. `comparison` is EXPERIMENT.run(...); budget: encoder_budget(preset) unless given."""
    from plotly.subplots import make_subplots

    budget = budget or encoder_budget(comparison.preset)
    figure = make_subplots(1, 2, shared_yaxes=True, subplot_titles=("vs estimated FLOPs", "vs measured seconds"))
    for kind in comparison.arms:
        runs = [r for r in comparison.rows if r["arm"] == kind]
        tflops = budget["flops_per_step"].get(kind, 0.0) * budget.get(kind, 0) / 1e12
        y = [100 * r["balanced_accuracy"] for r in runs]
        style = dict(mode="markers", marker=dict(size=11, color=ENCODER_COLOURS[kind]),
                     text=[f"seed {r['seed']}" for r in runs])  # fmt: skip
        figure.add_scatter(x=[tflops] * len(runs), y=y, name=ENCODER_LABELS[kind], **style, row=1, col=1)
        figure.add_scatter(x=[r["train_seconds"] for r in runs], y=y, showlegend=False, **style, row=1, col=2)
    figure.update_xaxes(title_text="training FLOPs (× 10^12)", row=1, col=1)
    figure.update_xaxes(title_text="training seconds on this machine", row=1, col=2)
    figure.update_yaxes(title_text="entity-type probe, balanced accuracy %", row=1, col=1)
    figure.update_layout(title="Held-out entity-type probe per run", height=360, margin=dict(l=40, r=10, t=60, b=40))
    return figure
