"""Trainer callbacks: small objects called with each step's row (step, loss, ...) while a model trains.

EmbeddingRecorder records the input embeddings of the most frequent tokens, for a replay of how the space organised."""

from __future__ import annotations

import torch

from ptmlab.data.tokenizers import Tokenizer


class EmbeddingRecorder:
    """A Trainer callback that copies the input embeddings of the most frequent tokens every `every` steps.

    `projected()` puts every snapshot in the 2-D PCA plane of the last one, so a replay shows the points moving into the
    final layout (same axes throughout) rather than each frame re-rotated by its own PCA."""

    def __init__(self, embedding: torch.nn.Embedding, blocks: torch.Tensor, tokenizer: Tokenizer, every: int,
                 n_tokens: int = 300):  # fmt: skip
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
