"""Chapter 07, permuted language modelling: a permuted LM (XLNet) and a masked LM (BERT) on the same backbone, data and budget.

Yang et al. 2019, XLNet Table 6 (BERT-Base vs DAE + Transformer-XL vs XLNet-Base on RACE / SQuAD 2.0 / MNLI); here both
are scored on the synthetic world: NER span F1 of a linear probe, and recovering held-out entity mentions in context."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from ptmlab.errors import InputError
from ptmlab.experiment import GPU_SIZES, SMOKE_SIZES, Comparison, Experiment, ProbePreset
from ptmlab.objectives.plm import permutation_masks
from ptmlab.tasks.stats import final_loss, summarize
from ptmlab.train.pretrain import backbone_config, pretrain_objective

# XLNet Table 6 (Yang et al. 2019; PAPER_NUMBERS.md item 8): base-size models pre-trained on the same BooksCorpus +
# Wikipedia data with the same hyper-parameters. Columns: RACE accuracy, SQuAD 2.0 F1, MNLI-m accuracy.
XLNET_TABLE6_COLUMNS = ("RACE", "SQuAD 2.0 F1", "MNLI-m")
XLNET_TABLE6 = {
    "BERT-Base (MLM)": (64.3, 76.30, 84.34),
    "DAE + Transformer-XL": (65.03, 79.56, 84.88),
    "XLNet-Base, K = 7 (PLM)": (66.05, 81.33, 85.84),
}
OBJECTIVES = ("none", "mlm", "plm", "plm_ctx")
OBJECTIVE_NAMES = {
    "none": "no pre-training",
    "mlm": "MLM (BERT, 15% masked)",
    "plm": "PLM (XLNet, paper's masks)",
    "plm_ctx": "PLM (XLNet, code's masks)",
}
METRICS = {
    "cloze_em": "cloze facts: exact match",
    "cloze_token_acc": "cloze facts: piece accuracy",
    "span_em": "entity recovery: exact match",
    "span_token_acc": "entity recovery: piece accuracy",
    "ner_f1": "NER span F1 (linear probe)",
}


@dataclass(frozen=True)
class PLMPreset(ProbePreset):
    """Sizes for chapter 07. MLM and PLM share everything but the objective: data, tokenizer, backbone, steps, batch,
    learning rate, and the number of predicted tokens per sequence (PLM's K = 1 / 0.15 matches MLM's 15%)."""

    tokenizer: str = "wordpiece"
    vocab_size: int = 1200
    dropout: float = 0.1
    steps: int = 500
    lr: float = 2e-3
    mask_prob: float = 0.15
    plm_k: float = 1 / 0.15
    arms: tuple[str, ...] = ("none", "mlm", "plm")  # what this preset compares (gpu adds plm_ctx)
    cloze_examples: int = 600  # the world's facts as cloze statements


PRESETS: dict[str, PLMPreset] = {
    "smoke": PLMPreset(
        **SMOKE_SIZES,
        steps=6,
        batch_size=8,
        seeds=(0, 1, 2),
        cloze_examples=30,
        expected="smoke: far too short to learn; checks the pipeline only (every score near 0).",
        expected_minutes=0.2,
    ),
    "cpu": PLMPreset(
        block_len=32,
        dropout=0.0,
        steps=1500,
        lr=3e-3,
        expected=(
            "cpu (measured once, 3 seeds, mean ± sd): NER span F1 MLM 0.250 ± 0.005, PLM 0.020 ± 0.005, untrained "
            "0.034 ± 0.009; cloze and entity recovery ~0 for all. PLM stays on the unigram plateau in 1500 steps. "
            "From an empty cache: 4.7 minutes on an idle 2-core machine (`ptmlab prepare`; 27 at load 8-12); "
            "seconds once cached."
        ),
        expected_minutes=4.7,
    ),
    "gpu": PLMPreset(
        **GPU_SIZES,
        vocab_size=2000,
        steps=3000,
        arms=("none", "mlm", "plm", "plm_ctx"),
        seeds=(0, 1, 2, 3, 4),
        cloze_examples=2000,
        expected="gpu: target, not measured.",
        expected_minutes=4.0,
    ),
}


# ============================================================================ data, objectives, pre-training
@dataclass
class WorldData:
    """The world's documents split by document (whole documents held out), a tokenizer trained on the training part,
    and the training / held-out text packed into blocks '[CLS] sentence [SEP] sentence [SEP] ... [SEP]'."""

    tokenizer: Any
    train_documents: list
    test_documents: list
    train_blocks: torch.Tensor  # [N, block_len]
    test_blocks: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"WorldData({len(self.train_documents)} training / {len(self.test_documents)} held-out documents, "
            f"{len(self.train_blocks)} / {len(self.test_blocks)} blocks of {self.train_blocks.shape[1]} tokens, "
            f"vocab {self.tokenizer.vocab_size})"
        )


def world_data(preset: PLMPreset) -> WorldData:
    """Built once per process and setting (the same split and tokenizer for every objective and seed)."""
    return _world_data(preset.world_seed, preset.test_fraction, preset.tokenizer, preset.vocab_size, preset.block_len)


@lru_cache(maxsize=4)
def _world_data(world_seed: int, test_fraction: float, kind: str, vocab_size: int, block_len: int) -> WorldData:
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.data.world import make_world, split_documents, world_sentences
    from ptmlab.objectives.masking import pack_with_spans

    train_docs, test_docs = split_documents(make_world(seed=world_seed).documents(), test_fraction, seed=world_seed)
    train_sentences, test_sentences = world_sentences(train_docs), world_sentences(test_docs)
    tokenizer = train_tokenizer([t for t, _ in train_sentences], kind=kind, vocab_size=vocab_size)
    return WorldData(
        tokenizer,
        train_docs,
        test_docs,
        pack_with_spans(tokenizer, train_sentences, block_len)[:, 0],
        pack_with_spans(tokenizer, test_sentences, block_len)[:, 0],
    )


def make_objective(name: str, preset: PLMPreset, vocab_size: int):
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.objectives.plm import PermutedLM

    if name == "mlm":
        return MaskedLM(vocab_size, preset.mask_prob)
    if name in ("plm", "plm_ctx"):
        return PermutedLM(k=preset.plm_k, context_sees_all=name == "plm_ctx")
    raise InputError(f"Unknown objective {name!r}.", fix=f"Use one of {[o for o in OBJECTIVES if o != 'none']}.")


_PRETRAIN_FIELDS = (
    "world_seed",
    "test_fraction",
    "tokenizer",
    "vocab_size",
    "block_len",
    "d_model",
    "n_layers",
    "n_heads",
    "dropout",
    "steps",
    "batch_size",
    "lr",
)


def pretrain_config(name: str, preset: PLMPreset, seed: int) -> dict[str, Any]:
    """The cache key of one run: everything that changes it."""
    setting = {"mlm": {"mask_prob": preset.mask_prob}, "plm": {"k": preset.plm_k}, "plm_ctx": {"k": preset.plm_k}}.get(
        name, {}
    )
    return {
        "recipe": "plm-vs-mlm",
        "version": 1,
        "objective": name,
        "seed": seed,
        **setting,
        **{k: getattr(preset, k) for k in _PRETRAIN_FIELDS},
    }


def pretrain(
    name: str, preset: PLMPreset, seed: int, *, data=None, live_plot: bool | None = False, retrain: bool = False
):
    """Pre-train (or load from the cache) one model; returns a ptmlab.train.cache.Run.

    'mlm' trains a MaskedLanguageModel, 'plm' / 'plm_ctx' a TwoStreamLM, 'none' returns the untrained, seeded
    TwoStreamLM (its body is an ordinary Transformer, the same as the MLM's)."""
    import ptmlab.models.two_stream  # noqa: F401  (registers TwoStreamLM, so cached runs can be rebuilt)
    from ptmlab.models.two_stream import TwoStreamLM
    from ptmlab.train.cache import Run

    if name not in OBJECTIVES:
        raise InputError(f"Unknown objective {name!r}.", fix=f"Use one of {list(OBJECTIVES)}.")
    data = data or world_data(preset)
    config = backbone_config(preset, data.tokenizer.vocab_size)
    if name == "none":
        torch.manual_seed(seed)
        return Run(TwoStreamLM(config).eval(), {"history": [], "seconds": 0.0})
    return pretrain_objective(
        "plm-vs-mlm",
        pretrain_config(name, preset, seed),
        make_objective(name, preset, data.tokenizer.vocab_size),
        config,
        data.train_blocks,
        steps=preset.steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seed=seed,
        eval_data=data.test_blocks,
        title=f"{OBJECTIVE_NAMES[name]}, seed {seed}",
        live_plot=live_plot,
        meta={"objective": name},
        retrain=retrain,
    )


# ============================================================================ entity recovery with the query stream
def query_stream_predictor(context_sees_all: bool = False, seed: int = 0) -> Callable:
    """PLM's way to recover a span (for ptmlab.tasks.spans.evaluate_span_recovery): the factorization order puts every
    other token first (in a seeded random order) and the span's pieces last, left to right, so piece k is predicted by
    the query stream from the context and pieces 1..k-1. Exact match under this teacher forcing equals exact match of
    greedy left-to-right decoding: all pieces are right given the gold prefix exactly when greedy gets them all right."""
    rng = random.Random(seed)

    def predict(model, ids: torch.Tensor, span: torch.Tensor, chunk: Sequence) -> torch.Tensor:
        device = next(model.parameters()).device
        width = ids.shape[1]
        rank = torch.full_like(ids, width)  # padding: last
        for row, e in enumerate(chunk):
            context = [p for p in range(len(e.ids)) if not e.start <= p < e.end]
            rng.shuffle(context)
            rank[row, context] = torch.arange(len(context))
            rank[row, e.start : e.end] = torch.arange(len(context), len(context) + e.end - e.start)
        mask = (ids != 0).long()
        content, query = permutation_masks(rank, mask, (mask.bool() & ~span) if context_sees_all else None)
        out = model(
            ids.to(device),
            mask.to(device),
            content_mask=content.to(device),
            query_mask=query.to(device),
            predict_positions=span.to(device),
        )
        return out.extras["logits"].argmax(-1).cpu()

    return predict


def plm_span_recovery(
    model, examples: Sequence, *, context_sees_all: bool = False, seed: int = 0, batch_size: int = 128
) -> dict[str, Any]:
    """Recover each held-out mention with a two-stream model's query stream (see `query_stream_predictor`).

    `examples` are ptmlab.tasks.spans.SpanExample (ids, start, end, label); same scores as evaluate_span_recovery."""
    from ptmlab.tasks.spans import evaluate_span_recovery

    predict = query_stream_predictor(context_sees_all, seed)
    return evaluate_span_recovery(model, examples, batch_size=batch_size, predict=predict)


def cloze_examples(tokenizer, world_seed: int = 0, max_examples: int | None = None, seed: int = 0) -> list:
    """LAMA-style facts of the world ('Otto Blackwood was born in [BLANK].' -> 'Umbermoor') as span examples: the
    statement with its answer written in, and where the answer's pieces are. One sentence, no document: answering
    needs what the model stored in its weights during pre-training."""
    from ptmlab.data.world import make_world
    from ptmlab.objectives.masking import encode_with_spans
    from ptmlab.tasks.spans import SpanExample

    facts = make_world(seed=world_seed).cloze_facts()
    random.Random(seed).shuffle(facts)  # a seeded sample, encoded only as far as needed
    examples = []
    for statement, answer in facts:
        if max_examples is not None and len(examples) >= max_examples:
            break
        start = statement.index("[BLANK]")
        text = statement.replace("[BLANK]", answer, 1)
        ids, labels = encode_with_spans(tokenizer, text, [(start, start + len(answer))])
        positions = [p for p, label in enumerate(labels) if label == 1]
        if positions and tokenizer.unk_id not in [ids[p] for p in positions]:
            row = (tokenizer.cls_id, *ids, tokenizer.sep_id)
            examples.append(SpanExample(row, 1 + positions[0], 2 + positions[-1], "fact"))
    return examples


def span_recovery(name: str, model, examples: Sequence, mask_id: int) -> dict[str, Any]:
    """Each model recovers mentions the way it was trained to predict: MLM from [MASK]s (all pieces at once), PLM
    with its query stream (pieces left to right). An untrained model is read both ways; both give near zero."""
    from ptmlab.tasks.spans import evaluate_span_recovery

    if name == "mlm":
        return evaluate_span_recovery(model, examples, mask_id)
    return plm_span_recovery(model, examples, context_sees_all=name == "plm_ctx")


# ============================================================================ scoring and the comparison
def task_examples(data, preset: PLMPreset) -> tuple[list, list]:
    """(held-out entity mentions, cloze facts) as span examples: built once, shared by every model scored."""
    from ptmlab.tasks.spans import span_recovery_examples

    mentions = span_recovery_examples(data.tokenizer, data.test_documents, preset.block_len, preset.span_examples)
    return mentions, cloze_examples(data.tokenizer, preset.world_seed, preset.cloze_examples)


def score(name: str, model, data, preset: PLMPreset, seed: int, examples: tuple | None = None) -> dict[str, Any]:
    """Downstream scores of one model: entity recovery (its own way of predicting) and the NER linear probe on its
    frozen final-layer features with full bidirectional attention (how XLNet is fine-tuned: no query stream).
    `examples`: task_examples(data, preset), when several models are scored."""
    from ptmlab.tasks.ner import ner_probe

    mentions, cloze = examples or task_examples(data, preset)
    recovery = span_recovery(name, model, mentions, data.tokenizer.mask_id)
    facts = span_recovery(name, model, cloze, data.tokenizer.mask_id)
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
        "cloze_em": facts["exact_match"],
        "cloze_token_acc": facts["token_accuracy"],
        "span_em": recovery["exact_match"],
        "span_token_acc": recovery["token_accuracy"],
        "ner_f1": ner["f1"],
    }


@dataclass
class ChapterData:
    """What every arm and seed shares: the world split and tokenizer, and the examples every model is scored on."""

    world: WorldData
    mentions: list  # held-out entity mentions (span examples)
    cloze: list  # the world's facts as cloze statements (span examples)


TABLE_HEADER = [
    "model",
    "paper: RACE / SQuAD 2.0 F1 / MNLI-m",
    *(f"ours: {v}" for v in METRICS.values()),
    "pre-training s / run",
]


class PermutedLMExperiment(Experiment[PLMPreset]):
    """XLNet Table 6 in miniature: no pre-training, MLM and PLM on one backbone, scored on the world's span tasks."""

    name = "07_permuted_lm"
    title = "PLM (XLNet) vs MLM (BERT) on the same backbone"
    presets = PRESETS
    arms = OBJECTIVES
    arm_names = OBJECTIVE_NAMES
    arm_colours = {"none": "#bbbbbb", "mlm": "#e69f00", "plm": "#0072b2", "plm_ctx": "#56b4e9"}
    metrics = METRICS
    direction = ("ner_f1", "plm", "mlm")  # XLNet: PLM beats MLM at equal data and size

    def data(self, preset: PLMPreset) -> ChapterData:
        world = world_data(preset)
        return ChapterData(world, *task_examples(world, preset))

    def pretrain(self, arm: str, preset: PLMPreset, seed: int, data: ChapterData | None = None):
        return pretrain(arm, preset, seed, data=data.world if data is not None else None)

    def score(self, arm: str, run, data: ChapterData, preset: PLMPreset, seed: int) -> dict[str, Any]:
        scores = score(arm, run.model, data.world, preset, seed, (data.mentions, data.cloze))
        return scores | {"final_loss": final_loss(run.meta.get("history", []))}

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        return TABLE_HEADER, table6_rows(comparison.rows)


def table6_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The paper's rows beside ours (mean ± sd over seeds); the paper's numbers are fine-tuned base-size models, ours
    are probes of tiny models on the synthetic world, so only the direction can be compared."""
    summary = summarize(rows, list(METRICS), by="arm")
    paper_for = {"mlm": "BERT-Base (MLM)", "plm": "XLNet-Base, K = 7 (PLM)", "plm_ctx": "XLNet-Base, K = 7 (PLM)"}
    out = [
        [f"paper: {name}", " / ".join(f"{v:g}" for v in values), *([""] * (len(METRICS) + 1))]
        for name, values in XLNET_TABLE6.items()
    ]
    for name in OBJECTIVES:
        if name not in summary:
            continue
        s = summary[name]
        seconds = [r["train_seconds"] for r in rows if r["arm"] == name and not r["from_cache"]]
        paper = " / ".join(f"{v:g}" for v in XLNET_TABLE6[paper_for[name]]) if name in paper_for else "-"
        out.append(
            [
                f"ours: {OBJECTIVE_NAMES[name]} ({s['ner_f1'][2]} seeds)",
                paper,
                *(f"{s[m][0]:.3f} ± {s[m][1]:.3f}" for m in METRICS),
                f"{statistics.fmean(seconds):.0f}" if seconds else "cached",
            ]
        )
    return out


EXPERIMENT = PermutedLMExperiment()
