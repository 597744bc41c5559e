"""Recipes: corpus -> tokenizer -> blocks -> model -> trained run, cached, in one call per objective.

The MLM recipe is the tour of chapter 00 and `ptmlab train`; presets size it for tests, a 2-core CPU or a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ptmlab.data.tokenizers import Tokenizer, tokenizer_from_dict


@dataclass(frozen=True)
class MLMPreset:
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
    expected_accuracy: float = 0.0  # what the notebook tells the learner to expect (masked-token accuracy on held-out text)
    expected_minutes: float = 0.0


# cpu: measured on a 2-core CPU with torch 2.13 (see expected_*). Masked-token accuracy climbs slowly at first: a small MLM
# sits on the "guess the frequent tokens" plateau (about the unigram baseline) until it learns to use the context. Batch
# 64 x 1200 steps (lr 2e-3, dropout 0.1) reached 0.113 in 4.5 min; batch 16 x 2400 steps (lr 1e-3, dropout 0) sees half
# the tokens and reached 0.123 (unigram baseline 0.046; eval loss 6.39) in 146 s of training, 2 min 37 s wall for
# `ptmlab train --preset cpu` on an idle 2-core machine (16.8k tokens/s). GPU figures are targets, not measurements.
MLM_PRESETS: dict[str, MLMPreset] = {
    "smoke": MLMPreset(max_sentences=3000, vocab_size=1500, block_len=32, d_model=64, n_heads=2, steps=40,
                       batch_size=16, lr=2e-3, eval_every=0, expected_accuracy=0.01, expected_minutes=0.3),
    "cpu": MLMPreset(expected_accuracy=0.12, expected_minutes=2.6),
    "gpu": MLMPreset(vocab_size=8000, block_len=128, d_model=256, n_layers=4, n_heads=4, dropout=0.1, steps=3000,
                     batch_size=128, lr=1e-3, eval_every=500, expected_accuracy=0.50, expected_minutes=2.0),
}


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

    @property
    def accuracy(self) -> float:
        return self.evals[-1].get("eval_accuracy", float("nan")) if self.evals else float("nan")

    def report(self) -> str:
        source = "loaded from cache" if self.from_cache else f"trained in {self.seconds:.0f} s"
        return (f"MLM ({self.preset.n_layers} layers, d={self.preset.d_model}, {self.preset.steps} steps) {source}: "
                f"held-out masked-token accuracy {self.accuracy:.3f} (expected about {self.preset.expected_accuracy:.2f})")


def pretrain_mlm(preset: MLMPreset | str | None = None, *, corpus=None, retrain: bool = False,
                 live_plot: bool | None = None, **overrides: Any) -> PretrainedRun:
    """Train (or load from cache) a BERT-style MLM. `corpus` defaults to the preset's (the Wikipedia extract)."""
    from ptmlab.data.batching import pack_sentences
    from ptmlab.data.corpora import load_corpus
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.runtime import pick_preset
    from ptmlab.train.cache import load_or_train
    from ptmlab.train.trainer import TrainConfig, Trainer

    if not isinstance(preset, MLMPreset):
        preset = pick_preset(MLM_PRESETS, preset, **overrides)
    elif overrides:
        from dataclasses import replace

        preset = replace(preset, **overrides)
    if corpus is None:
        corpus = load_corpus(preset.corpus, max_sentences=preset.max_sentences)
    key_config = {"recipe": "mlm", **asdict(preset), "corpus": corpus.name, "corpus_size": len(corpus.sentences)}

    def train() -> tuple[torch.nn.Module, dict]:
        train_part, valid_part = corpus.split(0.05, seed=preset.seed)
        tokenizer = train_tokenizer(train_part.sentences, kind=preset.tokenizer, vocab_size=preset.vocab_size)
        train_blocks = pack_sentences(tokenizer, train_part.sentences, preset.block_len)
        valid_blocks = pack_sentences(tokenizer, valid_part.sentences, preset.block_len)
        config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=preset.block_len, d_model=preset.d_model,
                                   n_layers=preset.n_layers, n_heads=preset.n_heads, dropout=preset.dropout)
        torch.manual_seed(preset.seed)
        objective = MaskedLM(tokenizer.vocab_size)
        model = objective.build_model(config)
        train_config = TrainConfig(steps=preset.steps, batch_size=preset.batch_size, lr=preset.lr,
                                   warmup=max(1, preset.steps // 20), eval_every=preset.eval_every, seed=preset.seed,
                                   eval_batches=max(4, 256 // preset.batch_size))  # the same 256 held-out blocks
        recorder = EmbeddingRecorder(model.body.tok_emb, train_blocks, tokenizer, every=preset.steps // preset.snapshots)
        result = Trainer(model, objective, train_blocks, train_config, eval_data=valid_blocks[:256],
                         callbacks=[recorder], live_plot=live_plot, title="MLM").fit()
        meta = {"history": result.history, "evals": result.evals, "tokenizer": tokenizer.to_dict(),
                "unigram_accuracy": unigram_baseline(train_blocks, valid_blocks, len(tokenizer.special_ids)),
                "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
                "interrupted": result.interrupted, "embedding_snapshots": recorder.projected()}
        return result.model.cpu(), meta

    run = load_or_train("mlm", key_config, train, retrain=retrain)
    meta = run.meta
    from ptmlab.runtime import get_device

    return PretrainedRun(run.model.to(get_device()).eval(), tokenizer_from_dict(meta["tokenizer"]), preset,
                         meta.get("history", []), meta.get("evals", []), run.from_cache, meta.get("seconds", 0.0),
                         meta.get("unigram_accuracy", float("nan")), meta.get("embedding_snapshots"))


class EmbeddingRecorder:
    """A Trainer callback that copies the input embeddings of the most frequent tokens every `every` steps.

    `projected()` puts every snapshot in the 2-D PCA plane of the last one, so a replay shows the points moving into the
    final layout (same axes throughout) rather than each frame re-rotated by its own PCA."""

    def __init__(self, embedding: torch.nn.Embedding, blocks: torch.Tensor, tokenizer: Tokenizer, every: int,
                 n_tokens: int = 300):
        counts = torch.bincount(blocks.flatten(), minlength=embedding.num_embeddings)
        counts[: len(tokenizer.special_ids)] = 0
        self.ids = [int(i) for i in counts.argsort(descending=True)[:n_tokens] if counts[i] > 0]
        self.tokens = [tokenizer.id_to_token(i) for i in self.ids]
        self.embedding, self.every = embedding, max(1, every)
        self.steps: list[int] = []
        self.vectors: list[torch.Tensor] = []
        self._last_step = 0
        self._record(0)  # the random start

    def _record(self, step: int) -> None:
        self.steps.append(step)
        self.vectors.append(self.embedding.weight.detach()[self.ids].float().cpu().clone())

    def __call__(self, row: dict) -> None:
        self._last_step = row["step"]
        if row["step"] % self.every == 0 and row["step"] != self.steps[-1]:
            self._record(row["step"])

    def projected(self, digits: int = 4) -> dict:
        if self.steps[-1] != self._last_step:
            self._record(self._last_step)  # the trained state itself is always the last frame
        final = self.vectors[-1]
        centre = final.mean(0, keepdim=True)
        _, _, v = torch.linalg.svd(final - centre, full_matrices=False)
        coords = [((x - centre) @ v[:2].T).round(decimals=digits).tolist() for x in self.vectors]
        return {"steps": self.steps, "tokens": self.tokens, "coords": coords}


def unigram_baseline(train_blocks: torch.Tensor, valid_blocks: torch.Tensor, n_special: int) -> float:
    """Accuracy of always guessing the training text's most frequent token: what a model ignoring context gets."""
    counts = torch.bincount(train_blocks.flatten())
    counts[:n_special] = 0
    valid = valid_blocks[valid_blocks >= n_special]
    return float((valid == counts.argmax()).float().mean()) if valid.numel() else float("nan")


def mlm_scoreboard(run: PretrainedRun):
    """A table: our held-out masked-token accuracy beside the unigram baseline and the curriculum's reference run."""
    import plotly.graph_objects as go

    rows = [
        ("this run, held-out masked-token accuracy", f"{run.accuracy:.3f}",
         f"{run.preset.n_layers} layers, d={run.preset.d_model}, {run.preset.steps} steps, {run.seconds:.0f} s"),
        ("unigram baseline (most frequent token, no context)", f"{run.unigram_accuracy:.3f}", "same held-out text"),
        ("reference run (CURRICULUM.md, 2-core CPU)", "0.49", "2 layers, d=128, seq 64, vocab 4000, 150 s"),
        ("expected for this preset", f"{run.preset.expected_accuracy:.2f}", "written in MLM_PRESETS"),
    ]
    columns = list(zip(*rows))
    figure = go.Figure(go.Table(header=dict(values=["model", "accuracy", "setting"], align="left"),
                                cells=dict(values=columns, align="left")))
    figure.update_layout(height=230, margin=dict(l=0, r=0, t=10, b=0))
    return figure
