"""Pre-train one objective on one tensor of blocks with the one Trainer, or load the run from the cache.

What every chapter's pre-training shares: the backbone sizes from a preset and load-or-train around Trainer.fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ptmlab.errors import InputError


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


@torch.no_grad()
def init_output_bias(bias: torch.nn.Parameter, blocks: torch.Tensor, n_special: int) -> None:
    """Start an output layer's bias at the log unigram of the training text (add-half smoothed; special tokens at
    the smallest): a fresh model then predicts the frequencies from step 0 instead of spending steps learning them."""
    counts = torch.bincount(blocks.long().flatten(), minlength=len(bias)).float()[: len(bias)] + 0.5
    log_p = (counts / counts.sum()).log()
    log_p[:n_special] = log_p.min()
    bias.copy_(log_p - log_p.mean())


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
