"""The training recipe the probe chapters share: pre-train an objective, fit a small head on top, score over seeds.

Chapters 05-07 compare pre-training objectives the same way (SpanBERT Table 6, BART Table 1, XLNet Table 6 in miniature).

API (everything a chapter needs; each function documents its arguments):
    ProbePreset: the frozen preset fields every such chapter shares (world, backbone sizes, seeds, probe sizes);
        a chapter subclasses it and adds its own fields; SMOKE_SIZES / GPU_SIZES: the sizes their smoke and
        gpu presets share.
    backbone_config(preset, vocab_size, **overrides) -> TransformerConfig
        the encoder sizes read from any preset with block_len, d_model, n_layers, n_heads, dropout.
    pretrain_objective(key, config, objective, model_config, data, *, steps, batch_size, lr, seed,
                       eval_data=None, start_from=None, eval_batches=2, title="", live_plot=False,
                       meta=None, retrain=False) -> ptmlab.train.cache.Run
        load-or-train one Trainer run; `config` (a dict) is the cache key; run.meta has history, evals, seconds.
    fit_linear_probe(features [N, D], labels [N], n_classes, *, steps=150, lr=0.05, weight_decay=1e-4, seed=0)
        -> LinearProbe (call it on features to get logits): a head trained on frozen features.
    finetune(model, batch_loss, *, steps, lr, seed=0, warmup=None, weight_decay=0.01, grad_clip=1.0, title="")
        -> list[float]: fine-tune a model (a body under a new head) with `batch_loss(model, generator) -> loss`.
    mean_sd(values) -> (mean, sd, n);  summarize(rows, metrics, by="objective") -> {group: {metric: (mean, sd, n)}}
    paired_direction(rows, metric, a, b, by="objective") -> dict: does `a` beat `b`, seed by seed?
    final_loss(history, fraction=0.1) -> float: the mean training loss over the last steps.
    seeds_figure(rows, metrics, *, by="objective", labels=None, colours=None, title="") -> plotly Figure
    table_figure(header, rows, title="") -> plotly Figure;  table_text(header, rows) -> str"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ptmlab.errors import InputError


# ============================================================================ presets and pre-training
@dataclass(frozen=True)
class ProbePreset:
    """What a 'pre-train on the world, then probe' chapter sizes: subclass it and add the chapter's own fields."""

    world_seed: int = 0
    test_fraction: float = 0.1  # held-out documents: the downstream tasks' test side
    vocab_size: int = 2000
    block_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0
    batch_size: int = 32
    lr: float = 3e-3
    seeds: tuple[int, ...] = (0, 1, 2)
    span_examples: int = 600  # held-out entity mentions to recover
    ner_train_sentences: int = 600
    ner_test_sentences: int = 300
    probe_steps: int = 150
    expected: str = ""  # the numbers this preset gives (measured, or 'target, not measured')
    expected_minutes: float = 0.0


# The smoke presets of these chapters: far too small to learn anything, big enough to run every step of the pipeline.
SMOKE_SIZES = dict(
    vocab_size=600,
    block_len=32,
    d_model=32,
    n_layers=1,
    n_heads=2,
    span_examples=60,
    ner_train_sentences=60,
    ner_test_sentences=40,
    probe_steps=15,
)
# ... and their gpu presets (targets, not measured on a GPU here).
GPU_SIZES = dict(
    block_len=128,
    d_model=128,
    n_layers=4,
    n_heads=4,
    batch_size=64,
    lr=1e-3,
    span_examples=2000,
    ner_train_sentences=2000,
    ner_test_sentences=800,
    probe_steps=300,
)


def backbone_config(preset: Any, vocab_size: int, **overrides):
    """The encoder a chapter's runs share, from a preset's block_len, d_model, n_layers, n_heads and dropout."""
    from ptmlab.models.transformer import TransformerConfig

    sizes = {
        "vocab_size": vocab_size,
        "max_len": preset.block_len,
        "d_model": preset.d_model,
        "n_layers": preset.n_layers,
        "n_heads": preset.n_heads,
        "dropout": preset.dropout,
    }
    return TransformerConfig(**(sizes | overrides))


def pretrain_objective(
    key: str,
    config: Mapping[str, Any],
    objective,
    model_config,
    data: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_data: torch.Tensor | None = None,
    start_from: torch.nn.Module | None = None,
    eval_batches: int = 2,
    title: str = "",
    live_plot: bool | None = False,
    meta: Mapping[str, Any] | None = None,
    retrain: bool = False,
):
    """Pre-train `objective.build_model(model_config)` on `data` with the one Trainer, or load the cached run.

    config: everything that changes the result (it is the cache key: sizes, steps, seed, corpus, objective settings).
    start_from: a model whose weights the new one starts from (a second pre-training stage). meta: extra JSON-able
    facts saved with the run (e.g. the tokenizer). Returns a ptmlab.train.cache.Run whose meta holds 'history' (step,
    loss), 'evals', 'seconds' and 'interrupted'. An interrupted run is returned but never cached (load_or_train)."""
    from ptmlab.train.cache import load_or_train
    from ptmlab.train.trainer import TrainConfig, Trainer

    if steps < 1 or batch_size < 1:
        raise InputError(f"steps={steps}, batch_size={batch_size}.", fix="Use at least one step and one row.")

    def train():
        torch.manual_seed(seed)  # the initial weights; the Trainer's own generator drives batches and corruption
        model = objective.build_model(model_config)
        if start_from is not None:
            model.load_state_dict(start_from.state_dict())
        train_config = TrainConfig(
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            warmup=max(1, steps // 20),
            eval_every=0,
            eval_batches=eval_batches,
            seed=seed,
        )
        evaluation = eval_data if eval_data is not None else data[:batch_size]
        result = Trainer(model, objective, data, train_config, eval_data=evaluation, live_plot=live_plot, title=title)
        result = result.fit()
        saved = {
            "history": [{"step": r["step"], "loss": round(r["loss"], 4)} for r in result.history],
            "evals": result.evals,
            "seconds": result.seconds,
            "interrupted": result.interrupted,
            **(meta or {}),
        }
        return result.model.cpu(), saved

    return load_or_train(key, dict(config), train, retrain=retrain)


def final_loss(history: Sequence[Mapping[str, float]], fraction: float = 0.1) -> float:
    """Mean training loss over the last `fraction` of the steps (one step's loss is too noisy to compare runs)."""
    if not history:
        return float("nan")
    tail = history[-max(1, int(len(history) * fraction)) :]
    return statistics.fmean(r["loss"] for r in tail)


# ============================================================================ heads on top of a pre-trained body
class LinearProbe:
    """A linear classifier on standardised frozen features: logits = ((x - mean) / scale) @ weight + bias."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        self.mean, self.scale, self.weight, self.bias = mean, scale, weight, bias

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return ((features.float() - self.mean) / self.scale) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self(features).argmax(-1)


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    *,
    steps: int = 150,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> LinearProbe:
    """Train a linear head on frozen features [N, D] for labels [N] (full-batch Adam, L2 penalty `weight_decay`).

    Features are centred and divided by ONE overall scale, so rare, nearly constant columns stay bounded."""
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise InputError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not match.",
            fix="Pass features [N, D] and one label per row [N].",
        )
    if len(labels) == 0:
        raise InputError("No examples to fit the probe on.", fix="Pass at least one labelled feature row.")
    features = features.float()
    mean = features.mean(0)
    scale = (features - mean).std().clamp_min(1e-6) if len(features) > 1 else torch.tensor(1.0)
    x = (features - mean) / scale
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(x.shape[1], n_classes, generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(x @ weight + bias, labels) + weight_decay * weight.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return LinearProbe(mean, scale, weight.detach(), bias.detach())


def finetune(
    model: torch.nn.Module,
    batch_loss: Callable[[torch.nn.Module, torch.Generator], torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int = 0,
    warmup: int | None = None,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    title: str = "fine-tune",
    progress: bool = True,
) -> list[float]:
    """Fine-tune every parameter of `model` (already on its device) for `steps` steps; returns the loss per step.

    batch_loss(model, generator) draws a batch with `generator` (seeded by `seed`) and returns its loss. AdamW with the
    Trainer's schedule (linear warmup, cosine decay) and gradient clipping."""
    from ptmlab.train.trainer import TrainConfig, _progress, lr_at

    schedule = TrainConfig(steps=steps, lr=lr, warmup=max(1, steps // 10) if warmup is None else warmup)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    bar = _progress(steps, title) if progress else None
    losses = []
    model.train()
    for step in range(steps):
        loss = batch_loss(model, generator)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, schedule)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(round(loss.item(), 4))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    model.eval()
    return losses


# ============================================================================ many seeds: mean, spread, direction
def mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, n); the sd of a single value is 0.0."""
    values = [float(v) for v in values]
    if not values:
        raise InputError("No values to average.", fix="Run at least one seed.")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def summarize(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], by: str = "objective"
) -> dict[str, dict[str, tuple[float, float, int]]]:
    """group -> metric -> (mean, sd, n) over the rows (one row per run) sharing the value of `by`, in first-seen order."""
    out = {}
    for group in dict.fromkeys(r[by] for r in rows):
        members = [r for r in rows if r[by] == group]
        out[group] = {m: mean_sd([r[m] for r in members]) for m in metrics}
    return out


def paired_direction(
    rows: Sequence[Mapping[str, Any]], metric: str, a: str, b: str, by: str = "objective"
) -> dict[str, Any]:
    """Does `a` beat `b` on `metric`? Seeds are paired (same seed = same data order and initial weights): the mean
    difference a - b, the number of seeds where a wins, and `clear`: |mean| > 2 standard errors of the differences (a
    rule of thumb, not a significance test; never clear with one seed)."""
    by_seed = {name: {r["seed"]: r[metric] for r in rows if r[by] == name} for name in (a, b)}
    seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
    if not seeds:
        raise InputError(f"No seed has both {a!r} and {b!r}.", fix="Run both with the same seeds.")
    diffs = [by_seed[a][s] - by_seed[b][s] for s in seeds]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("inf")
    return {
        "metric": metric,
        "a": a,
        "b": b,
        "mean_difference": mean,
        "wins": sum(d > 0 for d in diffs),
        "seeds": len(seeds),
        "clear": abs(mean) > 2 * se,
    }


def seeds_figure(
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, str],
    *,
    by: str = "objective",
    labels: Mapping[str, str] | None = None,
    colours: Mapping[str, str] | None = None,
    title: str = "",
):
    """One panel per metric ({key: title}): per group a bar at the mean with ± sd, and a dot per seed."""
    from plotly.subplots import make_subplots

    summary = summarize(rows, list(metrics), by)
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics.values()))
    for col, metric in enumerate(metrics, start=1):
        for group, stats in summary.items():
            label = (labels or {}).get(group, group)
            mean, sd, _ = stats[metric]
            figure.add_bar(
                x=[label],
                y=[mean],
                error_y=dict(type="data", array=[sd]),
                marker_color=(colours or {}).get(group, "#9ecae1"),
                showlegend=False,
                name=label,
                row=1,
                col=col,
            )
            values = [r[metric] for r in rows if r[by] == group]
            figure.add_scatter(
                x=[label] * len(values),
                y=values,
                mode="markers",
                marker=dict(color="#222", size=7),
                showlegend=False,
                name=f"{label}: seeds",
                row=1,
                col=col,
            )
        figure.update_xaxes(tickangle=-30, row=1, col=col)
    figure.update_layout(
        title=title or "bars: mean ± sd over seeds; dots: one seed each",
        height=420,
        margin=dict(l=40, r=10, t=70, b=40),
    )
    return figure


def table_figure(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""):
    """A plotly table (pandas is not a dependency)."""
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Table(
            header=dict(values=list(header), align="left"),
            cells=dict(values=[list(column) for column in zip(*rows)], align="left"),
        )
    )
    figure.update_layout(title=title, height=90 + 34 * len(rows), margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return figure


def table_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as aligned plain text (logs, closing notes)."""
    body = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(r[c]) for r in body) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in body)
