"""Counting the neighbours: the count-based baseline every masked or causal language model must beat.

A smoothed bigram model read from both sides (a naive-Bayes combination of P(w | left word) and P(w | right word), in
the spirit of Kneser & Ney 1995 / Chen & Goodman 1998's smoothed n-grams): no network, trained in seconds by counting."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class _PairCounts:
    """Sparse counts of (context token, token) pairs, stored sorted by key = context * vocab + token."""

    keys: torch.Tensor  # [n_pairs] int64, sorted
    counts: torch.Tensor  # [n_pairs] float
    context_totals: torch.Tensor  # [vocab] float: how often each token was a context

    @classmethod
    def count(cls, context: torch.Tensor, token: torch.Tensor, vocab_size: int) -> _PairCounts:
        keys, counts = torch.unique(context.long() * vocab_size + token.long(), return_counts=True)
        totals = torch.bincount(context.long(), minlength=vocab_size).float()
        return cls(keys, counts.float(), totals)

    def rows(self, context: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """[n, vocab] dense counts c(context_i, w) for each context token in `context` (a 1-d tensor)."""
        out = torch.zeros(len(context), vocab_size)
        starts = torch.searchsorted(self.keys, context.long() * vocab_size)
        ends = torch.searchsorted(self.keys, (context.long() + 1) * vocab_size)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
            if b > a:
                out[i, self.keys[a:b] % vocab_size] = self.counts[a:b]
        return out


class NeighbourCounts:
    """Predict a hidden token from its left and right neighbours by counting, nothing else.

        counts = NeighbourCounts.fit(train_blocks, vocab_size, n_special=5)
        scores = counts.log_scores(left_ids, right_ids)    # [n, vocab]; argmax is the guess

    score(w) = log P(w | left) + log P(w | right) - log P(w), each conditional smoothed towards the unigram
    P(w) with `strength` pseudo-counts (Dirichlet smoothing). A neighbour that is special ([MASK], [PAD], [CLS]) or
    unknown carries no information and falls back to the unigram: the baseline sees exactly what the model sees."""

    def __init__(self, vocab_size: int, n_special: int, unigram: torch.Tensor, left: _PairCounts, right: _PairCounts,
                 strength: float = 1.0):  # fmt: skip
        self.vocab_size, self.n_special, self.strength = vocab_size, n_special, strength
        self.unigram, self.left, self.right = unigram, left, right

    @classmethod
    def fit(cls, blocks: torch.Tensor, vocab_size: int, n_special: int, strength: float = 1.0) -> NeighbourCounts:
        """Count unigrams and neighbour pairs in [n_blocks, block_len] token ids (special tokens never predicted)."""
        blocks = blocks.long()
        counts = torch.bincount(blocks.flatten(), minlength=vocab_size).float()
        counts[:n_special] = 0.0
        unigram = (counts + 0.5) / (counts + 0.5).sum()  # add-half: an unseen token is unlikely, not impossible
        unigram[:n_special] = 0.0
        unigram = unigram / unigram.sum()
        left_ctx, token, right_ctx = blocks[:, :-1].flatten(), blocks[:, 1:].flatten(), blocks[:, 1:].flatten()
        left = _PairCounts.count(left_ctx, token, vocab_size)  # context = the token on the left
        right = _PairCounts.count(right_ctx, blocks[:, :-1].flatten(), vocab_size)  # context = the token on the right
        return cls(vocab_size, n_special, unigram, left, right, strength)

    def _conditional(self, pairs: _PairCounts, context: torch.Tensor) -> torch.Tensor:
        rows = pairs.rows(context, self.vocab_size)
        totals = pairs.context_totals[context.long()].unsqueeze(1)
        smoothed = (rows + self.strength * self.unigram) / (totals + self.strength)
        informative = (context >= self.n_special).unsqueeze(1)  # a special neighbour: no information, the unigram
        return torch.where(informative, smoothed, self.unigram.expand_as(smoothed))

    def log_scores(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """[n, vocab] log scores for n hidden positions with these left and right neighbour ids (1-d tensors)."""
        tiny = 1e-12
        scores = (self._conditional(self.left, left) + tiny).log() + (self._conditional(self.right, right) + tiny).log()
        scores = scores - (self.unigram + tiny).log()
        scores[:, : self.n_special] = float("-inf")
        return scores

    def predict(self, input_ids: torch.Tensor, positions: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
        """The guessed token at each True of `positions` in [batch, seq] `input_ids` (as the model saw them)."""
        rows, cols = positions.nonzero(as_tuple=True)
        padded = torch.nn.functional.pad(input_ids.long(), (1, 1), value=pad_id)  # a neighbour off the edge: [PAD]
        left, right = padded[rows, cols], padded[rows, cols + 2]
        guesses = []
        for start in range(0, len(rows), 4096):  # [chunk, vocab] at a time: memory stays small for any vocabulary
            guesses.append(self.log_scores(left[start : start + 4096], right[start : start + 4096]).argmax(-1))
        return torch.cat(guesses) if guesses else torch.zeros(0, dtype=torch.long)


def most_frequent_token(blocks: torch.Tensor, n_special: int) -> int:
    """The training text's most frequent non-special token: the unigram baseline's only guess."""
    counts = torch.bincount(blocks.long().flatten())
    counts[:n_special] = 0
    return int(counts.argmax())
