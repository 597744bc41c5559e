"""Shared by tests/test_seq2seq.py and tests/test_dae.py: a few training steps of a
seq2seq objective on a tiny encoder-decoder (MASS, T5 span corruption, BART's noisings)."""

import torch


def first_and_last_loss(objective, data: torch.Tensor, vocab_size: int, steps: int = 60) -> tuple[float, float]:
    """Train objective.build_model(a 1-layer, d=32 config) on `data` for `steps` steps; the mean training loss of the
    first five and of the last five steps."""
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=vocab_size, max_len=data.shape[1], d_model=32, n_layers=1, n_heads=2, dropout=0.0
    )
    model = objective.build_model(config)
    train = TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=5, eval_every=0, seed=0)
    history = Trainer(model, objective, data, train, device="cpu", live_plot=False).fit().history
    return sum(r["loss"] for r in history[:5]) / 5, sum(r["loss"] for r in history[-5:]) / 5
