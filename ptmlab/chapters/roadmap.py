"""Chapter 00, the roadmap: a first BERT-style masked language model trained small on real Wikipedia text.

Devlin et al. 2019 (BERT, the MLM objective), as mapped by Qiu et al. 2020 (the survey, Figure 3). The tour's MLM is also
what `ptmlab train` and the explorer train; presets size it for tests, a 2-core CPU or a GPU."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from ptmlab.data.tokenizers import Tokenizer, tokenizer_from_dict
from ptmlab.experiment import ChapterPreset, Comparison, Experiment, LearningCheck, resolve_preset
from ptmlab.train.callbacks import EmbeddingRecorder


@dataclass(frozen=True)
class MLMPreset(ChapterPreset):
    corpus: str = "wiki"
    max_sentences: int | None = None
    tokenizer: str = "wordpiece"
    vocab_size: int = 4000
    block_len: int = 64
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0  # a few minutes of training underfits: dropout only slows the escape from the unigram plateau
    steps: int = 2400
    batch_size: int = 16  # small batches, many updates: leaves the plateau with half the tokens of batch 64 (measured)
    lr: float = 1e-3
    eval_every: int = 400
    seed: int = 0
    snapshots: int = 12  # how often the embeddings of the most frequent tokens are recorded for the replay
    expected_accuracy: float = (
        0.0  # what the notebook tells the learner to expect (masked-token accuracy on held-out text)
    )
    expected_minutes: float = 0.0


# The fields of the run cache key, exactly as before the chapter moved here (seeds and expected are not in it), so the
# runs instructors cached still load.
RUN_KEY_FIELDS = ("corpus", "max_sentences", "tokenizer", "vocab_size", "block_len", "d_model", "n_layers", "n_heads",
                  "dropout", "steps", "batch_size", "lr", "eval_every", "seed", "snapshots", "expected_accuracy",
                  "expected_minutes")  # fmt: skip


def _expected(accuracy: float, minutes: float, note: str) -> str:
    return f"a held-out masked-token accuracy of about {accuracy:.2f} in about {minutes:g} min ({note})"


# cpu: measured on a 2-core CPU with torch 2.13 (see expected_*). Masked-token accuracy climbs slowly at first: a small MLM
# sits on the "guess the frequent tokens" plateau (about the unigram baseline) until it learns to use the context. Batch
# 64 x 1200 steps (lr 2e-3, dropout 0.1) reached 0.113 in 4.5 min; batch 16 x 2400 steps (lr 1e-3, dropout 0) sees half
# the tokens and reached 0.123 (unigram baseline 0.046; eval loss 6.39) in 146 s of training, 2 min 37 s wall for
# `ptmlab train --preset cpu` on an idle 2-core machine (16.8k tokens/s). GPU figures are targets, not measurements.
MLM_PRESETS: dict[str, MLMPreset] = {
    "smoke": MLMPreset(max_sentences=3000, vocab_size=1500, block_len=32, d_model=64, n_heads=2, steps=40,
                       batch_size=16, lr=2e-3, eval_every=0, expected_accuracy=0.01, expected_minutes=0.3,
                       expected=_expected(0.01, 0.3, "a plumbing check: far too short to learn")),
    "cpu": MLMPreset(expected_accuracy=0.12, expected_minutes=2.6,
                     expected=_expected(0.12, 2.6, "measured on an idle 2-core CPU; unigram baseline 0.046")),
    "gpu": MLMPreset(vocab_size=8000, block_len=128, d_model=256, n_layers=4, n_heads=4, dropout=0.1, steps=3000,
                     batch_size=128, lr=1e-3, eval_every=500, expected_accuracy=0.50, expected_minutes=2.0,
                     expected=_expected(0.50, 2.0, "target, not measured")),
}  # fmt: skip


@dataclass
class PretrainedRun:
    model: torch.nn.Module
    tokenizer: Tokenizer
    preset: MLMPreset
    history: list[dict]
    evals: list[dict]
    from_cache: bool
    seconds: float
    unigram_accuracy: float = float("nan")
    embedding_snapshots: dict | None = None  # {"steps", "tokens", "coords"}: see EmbeddingRecorder
    meta: dict = dataclasses.field(default_factory=dict, repr=False)  # the cached run's meta (config included)
    check: Any = None  # the "did it learn?" verdict, once the Experiment has judged it

    @property
    def accuracy(self) -> float:
        return self.evals[-1].get("eval_accuracy", float("nan")) if self.evals else float("nan")

    def report(self) -> str:
        source = "loaded from cache" if self.from_cache else f"trained in {self.seconds:.0f} s"
        return (f"MLM ({self.preset.n_layers} layers, d={self.preset.d_model}, {self.preset.steps} steps) {source}: "
                f"held-out masked-token accuracy {self.accuracy:.3f} (expected about {self.preset.expected_accuracy:.2f})")  # fmt: skip


def run_config(preset: MLMPreset, corpus) -> dict[str, Any]:
    """The cache key of one MLM run (unchanged from ptmlab.train.recipes)."""
    fields = {name: getattr(preset, name) for name in RUN_KEY_FIELDS}
    return {"recipe": "mlm", **fields, "corpus": corpus.name, "corpus_size": len(corpus.sentences)}


def pretrain_mlm(preset: MLMPreset | str | None = None, *, corpus=None, retrain: bool = False,
                 live_plot: bool | None = None, **overrides: Any) -> PretrainedRun:  # fmt: skip
    """Train (or load from cache) a BERT-style MLM. `corpus` defaults to the preset's (the Wikipedia extract)."""
    from ptmlab.data.batching import pack_sentences
    from ptmlab.data.corpora import load_corpus
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.runtime import get_device
    from ptmlab.train.cache import load_or_train
    from ptmlab.train.trainer import TrainConfig, Trainer

    preset = resolve_preset(MLM_PRESETS, preset, **overrides)
    if corpus is None:
        corpus = load_corpus(preset.corpus, max_sentences=preset.max_sentences)

    def train() -> tuple[torch.nn.Module, dict]:
        train_part, valid_part = corpus.split(0.05, seed=preset.seed)
        tokenizer = train_tokenizer(train_part.sentences, kind=preset.tokenizer, vocab_size=preset.vocab_size)
        train_blocks = pack_sentences(tokenizer, train_part.sentences, preset.block_len)
        valid_blocks = pack_sentences(tokenizer, valid_part.sentences, preset.block_len)
        config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=preset.block_len, d_model=preset.d_model,
                                   n_layers=preset.n_layers, n_heads=preset.n_heads, dropout=preset.dropout)  # fmt: skip
        torch.manual_seed(preset.seed)
        objective = MaskedLM(tokenizer.vocab_size)
        model = objective.build_model(config)
        train_config = TrainConfig(
            steps=preset.steps,
            batch_size=preset.batch_size,
            lr=preset.lr,
            warmup=max(1, preset.steps // 20),
            eval_every=preset.eval_every,
            seed=preset.seed,
            eval_batches=max(4, 256 // preset.batch_size),
        )  # the same 256 held-out blocks
        recorder = EmbeddingRecorder(
            model.body.tok_emb, train_blocks, tokenizer, every=preset.steps // preset.snapshots
        )
        result = Trainer(model, objective, train_blocks, train_config, eval_data=valid_blocks[:256],
                         callbacks=[recorder], live_plot=live_plot, title="MLM").fit()  # fmt: skip
        meta = {"history": result.history, "evals": result.evals, "tokenizer": tokenizer.to_dict(),
                "unigram_accuracy": unigram_baseline(train_blocks, valid_blocks, len(tokenizer.special_ids)),
                "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
                "interrupted": result.interrupted, "embedding_snapshots": recorder.projected()}  # fmt: skip
        return result.model.cpu(), meta

    run = load_or_train("mlm", run_config(preset, corpus), train, retrain=retrain)
    meta = run.meta
    return PretrainedRun(run.model.to(get_device()).eval(), tokenizer_from_dict(meta["tokenizer"]), preset,
                         meta.get("history", []), meta.get("evals", []), run.from_cache, meta.get("seconds", 0.0),
                         meta.get("unigram_accuracy", float("nan")), meta.get("embedding_snapshots"), meta)  # fmt: skip


def unigram_baseline(train_blocks: torch.Tensor, valid_blocks: torch.Tensor, n_special: int) -> float:
    """Accuracy of always guessing the training text's most frequent token: what a model ignoring context gets."""
    counts = torch.bincount(train_blocks.flatten())
    counts[:n_special] = 0
    valid = valid_blocks[valid_blocks >= n_special]
    return float((valid == counts.argmax()).float().mean()) if valid.numel() else float("nan")


REFERENCE_RUN = ("reference run (CURRICULUM.md, 2-core CPU)", "0.49", "2 layers, d=128, seq 64, vocab 4000, 150 s")


def scoreboard_rows(run: PretrainedRun) -> list[tuple[str, str, str]]:
    """(model, accuracy, setting): our held-out accuracy, the unigram baseline, the reference run, the expectation."""
    p = run.preset
    return [
        ("this run, held-out masked-token accuracy", f"{run.accuracy:.3f}",
         f"{p.n_layers} layers, d={p.d_model}, {p.steps} steps, {run.seconds:.0f} s"),
        ("unigram baseline (most frequent token, no context)", f"{run.unigram_accuracy:.3f}", "same held-out text"),
        REFERENCE_RUN,
        ("expected for this preset", f"{p.expected_accuracy:.2f}", "written in MLM_PRESETS"),
    ]  # fmt: skip


def mlm_scoreboard(run: PretrainedRun):
    """A table: our held-out masked-token accuracy beside the unigram baseline and the curriculum's reference run."""
    import plotly.graph_objects as go

    columns = list(zip(*scoreboard_rows(run)))
    figure = go.Figure(go.Table(header=dict(values=["model", "accuracy", "setting"], align="left"),
                                cells=dict(values=columns, align="left")))  # fmt: skip
    figure.update_layout(height=230, margin=dict(l=0, r=0, t=10, b=0))
    return figure


# ============================================================================ the chapter on the Experiment protocol
class RoadmapExperiment(Experiment[MLMPreset]):
    """One arm, BERT's MLM: its held-out masked-token accuracy (the scoreboard's number) beside the unigram baseline.

    The "did it learn?" check asks whether the model beats always guessing the most frequent token."""

    name = "00_roadmap"
    title = "A first masked language model (BERT's MLM) on Wikipedia"
    presets = MLM_PRESETS
    arms = ("mlm",)
    arm_names = {"mlm": "MLM (BERT, 15% masked)"}
    arm_colours = {"mlm": "#e69f00"}
    metrics = {"accuracy": "held-out masked-token accuracy", "unigram_accuracy": "unigram baseline (no context)"}

    def data(self, preset: MLMPreset):
        from ptmlab.data.corpora import load_corpus

        return load_corpus(preset.corpus, max_sentences=preset.max_sentences)

    def pretrain(self, arm: str, preset: MLMPreset, seed: int, data=None) -> PretrainedRun:
        return pretrain_mlm(dataclasses.replace(preset, seed=seed), corpus=data, live_plot=False)

    def score(self, arm: str, run: PretrainedRun, data, preset: MLMPreset, seed: int) -> dict[str, float]:
        return {"accuracy": run.accuracy, "unigram_accuracy": run.unigram_accuracy}

    def check(self, arm: str, run: PretrainedRun, data, preset: MLMPreset) -> LearningCheck:
        return LearningCheck(run.accuracy > run.unigram_accuracy, "held-out masked-token accuracy", run.accuracy,
                             run.unigram_accuracy, "always the most frequent token")  # fmt: skip

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        """Our accuracy (mean ± sd over seeds) beside the unigram baseline and the curriculum's reference run."""
        summary = comparison.summary()
        rows = []
        for stats in summary.values():
            for metric, label in self.metrics.items():
                mean, sd, n = stats[metric]
                rows.append([f"ours: {label}", f"{mean:.3f} ± {sd:.3f}", f"{n} seed(s)"])
        return ["model", "accuracy", "setting"], [*rows, list(REFERENCE_RUN)]


EXPERIMENT = RoadmapExperiment()
