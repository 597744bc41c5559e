"""Static (non-contextual) word embeddings: skip-gram and CBOW with negative sampling, GloVe, fastText subwords.

Mikolov et al. 2013 (word2vec, arXiv:1301.3781 and 1310.4546), Pennington et al. 2014 (GloVe), Bojanowski et al. 2017
(fastText); survey Section 2.1 (Qiu et al. 2020). The models, vocabulary, sampling and n-grams; the training loops (plain
vectorised SGD in PyTorch, fast on 2 CPU cores) are in ptmlab.train.static_embeddings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.heads import register_model


# ============================================================================ vocabulary
@dataclass
class Vocab:
    """Words sorted by descending count (ties alphabetically), so the first N are the N most frequent."""

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if len(self.words) != len(self.counts):
            raise InputError(f"{len(self.words)} words but {len(self.counts)} counts.", fix="Give one count per word.")
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None) -> Vocab:
        counter = Counter(w for sentence in token_lists for w in sentence)
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[:max_size]
        if not kept:
            raise InputError(
                f"No word occurs at least {min_count} times, so the vocabulary is empty.",
                fix="Give more text or lower min_count.",
            )
        return cls([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def encode(self, token_lists: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, sentence_ids): one flat stream of in-vocabulary token ids and the sentence each came from.

        Out-of-vocabulary tokens are dropped, as word2vec does (so windows reach across them)."""
        ids, sentence_ids = [], []
        index = self.index
        for number, sentence in enumerate(token_lists):
            row = [index[w] for w in sentence if w in index]
            ids.extend(row)
            sentence_ids.extend([number] * len(row))
        return np.asarray(ids, dtype=np.int64), np.asarray(sentence_ids, dtype=np.int64)


# ============================================================================ noise and subsampling
def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """P_n(w) ∝ count(w)^power. The 3/4 power (Mikolov et al. 2013b) flattens the unigram distribution, so rare words
    are drawn as negatives more often than their frequency alone would give."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def unigram_table(counts: np.ndarray, size: int = 1_000_000, power: float = 0.75) -> np.ndarray:
    """word2vec.c's table: `size` slots filled with word ids in proportion to count^power.

    Drawing a uniform slot is then drawing from the noise distribution in O(1)."""
    cumulative = np.cumsum(noise_distribution(counts, power))
    slots = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.minimum(np.searchsorted(cumulative, slots), len(cumulative) - 1).astype(np.int64)


def keep_probability(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word when subsampling frequent words.

    With f = count / total, word2vec.c (and gensim) keep a token with (sqrt(f / t) + 1) * t / f, capped at 1: words
    rarer than about t are always kept, "the" mostly dropped. The paper's simpler form is discard = 1 - sqrt(t / f)."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    frequency = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(frequency / sample) + 1.0) * sample / frequency)


def subsample(
    ids: np.ndarray, sentence_ids: np.ndarray, keep: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each token with probability 1 - keep[id] (a fresh draw every epoch)."""
    mask = rng.random(len(ids)) < keep[ids]
    return ids[mask], sentence_ids[mask]


def context_windows(sentence_ids: np.ndarray, window: int, rng: np.random.Generator, shrink: bool = True) -> np.ndarray:
    """[n_tokens, 2 * window] positions of each token's context words, -1 where there is none.

    Columns are offsets -window..-1, +1..+window. With `shrink`, each centre draws its own window size b in 1..window
    and ignores farther words, as word2vec does: near words count more often than far ones."""
    n = len(sentence_ids)
    reach = rng.integers(1, window + 1, size=n) if shrink else np.full(n, window)
    positions = np.full((n, 2 * window), -1, dtype=np.int64)
    base = np.arange(n)
    for column, offset in enumerate([*range(-window, 0), *range(1, window + 1)]):
        other = base + offset
        inside = (other >= 0) & (other < n) & (abs(offset) <= reach)
        inside[inside] &= sentence_ids[other[inside]] == sentence_ids[inside]  # never across a sentence boundary
        positions[inside, column] = other[inside]
    return positions


def skipgram_pairs(
    ids: np.ndarray, sentence_ids: np.ndarray, window: int, rng: np.random.Generator, shuffle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Every (centre, context) id pair of one pass, in one vectorised step (then shuffled)."""
    positions = context_windows(sentence_ids, window, rng)
    rows, columns = np.nonzero(positions >= 0)
    centres, contexts = ids[rows], ids[positions[rows, columns]]
    if shuffle:
        order = rng.permutation(len(centres))
        centres, contexts = centres[order], contexts[order]
    return centres, contexts


def cbow_examples(
    ids: np.ndarray, sentence_ids: np.ndarray, window: int, rng: np.random.Generator, shuffle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(centres [n], contexts [n, 2 * window] of word ids with -1 padding) for every centre with a context."""
    positions = context_windows(sentence_ids, window, rng)
    keep = (positions >= 0).any(1)
    positions, centres = positions[keep], ids[keep]
    contexts = np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)
    if shuffle:
        order = rng.permutation(len(centres))
        centres, contexts = centres[order], contexts[order]
    return centres, contexts


# ============================================================================ fastText subwords
def char_ngrams(word: str, minn: int = 3, maxn: int = 6) -> list[str]:
    """Character n-grams of '<word>' for n in minn..maxn, in order of position then length.

    Bojanowski et al. 2017's example: char_ngrams('where', 3, 3) == ['<wh', 'whe', 'her', 'ere', 're>']. The word
    itself gets its own vector as well (not returned here)."""
    if minn < 1 or maxn < minn:
        raise InputError(f"Bad n-gram range {minn}..{maxn}.", fix="Use 1 <= minn <= maxn, e.g. 3..6.")
    marked = f"<{word}>"
    return [marked[i : i + n] for i in range(len(marked)) for n in range(minn, maxn + 1) if i + n <= len(marked)]


def fnv1a_hash(text: str) -> int:
    """32-bit FNV-1a over the UTF-8 bytes: the hash fastText uses to put n-grams into buckets."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def ngram_buckets(word: str, buckets: int, minn: int = 3, maxn: int = 6) -> list[int]:
    """The hashed bucket of each character n-gram of `word` (collisions are allowed: that bounds memory)."""
    return [fnv1a_hash(g) % buckets for g in char_ngrams(word, minn, maxn)]


def subword_rows(
    words: Sequence[str],
    vocab_size: int,
    buckets: int,
    minn: int = 3,
    maxn: int = 6,
    word_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """[len(words), width] rows of a fastText input table, -1 padded: the word's own row (its id, when `word_ids`
    gives one >= 0), then row vocab_size + h for each n-gram bucket h."""
    parts = []
    for i, word in enumerate(words):
        own = [word_ids[i]] if word_ids is not None and word_ids[i] >= 0 else []
        parts.append(own + [vocab_size + b for b in ngram_buckets(word, buckets, minn, maxn)])
    table = np.full((len(words), max(1, max(len(p) for p in parts))), -1, dtype=np.int64)
    for i, row in enumerate(parts):
        table[i, : len(row)] = row
    return table


# ============================================================================ models
@dataclass(frozen=True)
class StaticConfig:
    kind: str  # "skipgram" | "cbow" | "fasttext" | "glove"
    vocab_size: int
    dim: int
    buckets: int = 0  # fastText only
    minn: int = 3
    maxn: int = 6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _threads(n: int | None):
    """Run the SGD loop on `n` threads. Its ops are small: on 2 shared cores extra threads mostly wait on each other
    (measured: 2 threads ~10x slower than 1 under load), so the trainers default to one."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@register_model
class Word2Vec(nn.Module):
    """Two tables: input vectors (the embeddings we keep) and output vectors (used only by the objective).

    Skip-gram predicts each context word from the centre; CBOW predicts the centre from the mean of its context.
    Both replace the full softmax by negative sampling: raise σ(u_o·v) for the true word, lower σ(u_n·v) for k noise
    words drawn from P_n (Mikolov et al. 2013b, a simplified noise-contrastive estimation)."""

    config_class = StaticConfig

    def __init__(self, config: StaticConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        rows = config.vocab_size + config.buckets
        # word2vec's init: small uniform input vectors, zero output vectors
        self.input_vectors = nn.Parameter((torch.rand(rows, config.dim, generator=generator) - 0.5) / config.dim)
        self.output_vectors = nn.Parameter(torch.zeros(config.vocab_size, config.dim))

    # -- the objective, written plainly (tests and monitoring; training uses the fused SGD steps below) ------------
    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """Skip-gram: the centre's input vector ([B] ids). CBOW: the mean input vector of the context ([B, 2w], -1 pads)."""
        if inputs.dim() == 1:
            return self.input_vectors[inputs]
        mask = (inputs >= 0).unsqueeze(-1).float()
        return (self.input_vectors[inputs.clamp_min(0)] * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Mean negative-sampling loss -log σ(u_t·h) - Σ_k log σ(-u_k·h) with negatives [B, k].

        Skip-gram: inputs = centre ids, targets = context ids. CBOW: inputs = contexts [B, 2w], targets = centres."""
        h = self.hidden(inputs)
        positive = (self.output_vectors[targets] * h).sum(-1)
        negative = torch.einsum("bkd,bd->bk", self.output_vectors[negatives], h)
        return -(nn.functional.logsigmoid(positive) + nn.functional.logsigmoid(-negative).sum(-1)).mean()

    # -- vectorised SGD ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _output_step(
        self, h: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor, lr: float, k: int, with_loss: bool
    ) -> tuple[torch.Tensor, float | None]:
        """One SGD step on the output vectors for hidden vectors h [B, D] and their true words `targets` [B].

        Negatives are shared inside groups of rows: noise [groups, K], group = B / groups. Each row's k negatives are
        replaced by its group's K, each weighted k/K: the same expected gradient, but one small matrix product per
        group instead of B*k separate dot products and row updates. Returns (gradient for h, loss or None)."""
        out = self.output_vectors.data
        n_groups, n_noise = noise.shape
        dim = h.shape[1]
        u = out.index_select(0, targets)
        noise_vectors = out.index_select(0, noise.reshape(-1)).view(n_groups, n_noise, dim)
        h_grouped = h.view(n_groups, -1, dim)
        positive = (h * u).sum(1)
        negative = torch.bmm(h_grouped, noise_vectors.transpose(1, 2))  # [groups, group, K]
        # d log σ(s)/ds = 1 - σ(s) and d log σ(-s)/ds = -σ(s): gradient *ascent* on the log-likelihood
        g_positive = (1.0 - torch.sigmoid(positive)) * lr
        g_negative = torch.sigmoid(negative) * (-lr * k / n_noise)
        grad_h = torch.baddbmm((g_positive[:, None] * u).view_as(h_grouped), g_negative, noise_vectors)
        out.index_add_(0, targets, g_positive[:, None] * h)
        out.index_add_(0, noise.reshape(-1), torch.bmm(g_negative.transpose(1, 2), h_grouped).view(-1, dim))
        loss = None
        if with_loss:
            log_noise = nn.functional.logsigmoid(-negative).mean() * k
            loss = -float(nn.functional.logsigmoid(positive).mean() + log_noise)
        return grad_h.view(-1, dim), loss

    @torch.no_grad()
    def skipgram_step(
        self,
        centres: torch.Tensor,
        contexts: torch.Tensor,
        noise: torch.Tensor,
        lr: float,
        k: int = 5,
        with_loss: bool = True,
    ) -> float | None:
        """SGD on a batch of (centre, context) pairs with shared negatives `noise` [groups, K]. Returns the loss."""
        h = self.input_vectors.data.index_select(0, centres)
        grad_h, loss = self._output_step(h, contexts, noise, lr, k, with_loss)
        self.input_vectors.data.index_add_(0, centres, grad_h)
        return loss

    @torch.no_grad()
    def cbow_step(
        self,
        centres: torch.Tensor,
        contexts: torch.Tensor,
        noise: torch.Tensor,
        lr: float,
        k: int = 5,
        with_loss: bool = True,
    ) -> float | None:
        """SGD on centres [B] with their contexts [B, 2w] (-1 pads): the mean context vector predicts the centre."""
        mask = contexts >= 0
        owner = mask.nonzero()[:, 0]
        flat = contexts[mask]
        inputs = self.input_vectors.data
        h = torch.zeros(len(centres), inputs.shape[1], device=inputs.device)
        h.index_add_(0, owner, inputs.index_select(0, flat)).div_(mask.sum(1, keepdim=True).clamp_min(1))
        grad_h, loss = self._output_step(h, centres, noise, lr, k, with_loss)
        # word2vec.c (cbow_mean=1) adds the whole error to every context word, not error / count
        inputs.index_add_(0, flat, grad_h.index_select(0, owner))
        return loss

    def word_vectors(self) -> np.ndarray:
        return self.input_vectors.data[: self.config.vocab_size].float().cpu().numpy()


@register_model
class FastText(Word2Vec):
    """Skip-gram whose centre vector is the mean of the word's own vector and its character n-gram vectors.

    N-grams (3 to 6 characters of '<word>') are hashed into `buckets` shared rows after the vocabulary's rows, so an
    unseen word still gets a vector from the n-grams it shares with seen words (Bojanowski et al. 2017)."""

    shared_update_cap = 32.0  # see skipgram_step

    def __init__(
        self, config: StaticConfig, generator: torch.Generator | None = None, words: Sequence[str] | None = None
    ):
        if config.buckets < 1:
            raise InputError("A FastText model needs buckets >= 1.", fix="Use e.g. buckets=100_000.")
        super().__init__(config, generator)
        # the input-table rows of each vocabulary word; derived from the words, so not saved (set_words after loading)
        self.register_buffer("parts", torch.zeros(config.vocab_size, 1, dtype=torch.long), persistent=False)
        self.words: list[str] = []
        if words is not None:
            self.set_words(words)

    def set_words(self, words: Sequence[str]) -> None:
        if len(words) != self.config.vocab_size:
            raise InputError(
                f"{len(words)} words for a vocabulary of {self.config.vocab_size}.",
                fix="Pass the vocabulary the model was built with.",
            )
        self.words = list(words)
        self._word_ids = {w: i for i, w in enumerate(self.words)}
        rows = self._rows(self.words, range(len(self.words)))
        self.parts = torch.from_numpy(rows).to(self.input_vectors.device)

    def _rows(self, words: Sequence[str], word_ids: Sequence[int]) -> np.ndarray:
        c = self.config
        return subword_rows(words, c.vocab_size, c.buckets, c.minn, c.maxn, list(word_ids))

    @staticmethod
    def _compose(
        table: torch.Tensor, parts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean of the `table` rows listed in parts [n, width] (-1 pads): (vectors, flat rows, owner, 1/count)."""
        mask = parts >= 0
        owner = mask.nonzero()[:, 0]
        flat = parts[mask]
        inverse_count = 1.0 / mask.sum(1, keepdim=True).clamp_min(1).to(table.dtype)
        summed = torch.zeros(len(parts), table.shape[1], device=table.device, dtype=table.dtype)
        summed = summed.index_add(0, owner, table.index_select(0, flat))
        return summed * inverse_count, flat, owner, inverse_count

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 1:
            raise InputError("This FastText model is a skip-gram: pass centre ids [batch].", fix="Use kind='fasttext'.")
        return self._compose(self.input_vectors, self.parts[inputs])[0]

    @torch.no_grad()
    def skipgram_step(
        self,
        centres: torch.Tensor,
        contexts: torch.Tensor,
        noise: torch.Tensor,
        lr: float,
        k: int = 5,
        with_loss: bool = True,
    ) -> float | None:
        inputs = self.input_vectors.data
        # compose each distinct centre word once per batch, then share it among its pairs
        unique, inverse = torch.unique(centres, return_inverse=True)
        composed, flat, owner, _ = self._compose(inputs, self.parts[unique])
        grad_h, loss = self._output_step(composed.index_select(0, inverse), contexts, noise, lr, k, with_loss)
        grad_unique = torch.zeros_like(composed).index_add_(0, inverse, grad_h)
        # fastText's sequential SGD gives every part the whole gradient of its word. Summed over a big batch, that
        # blows up n-grams shared by many of the batch's words ("ion", "the"): a row shared by m > cap distinct words
        # gets their summed gradient scaled down to cap words' worth. Measured on the extract (WordSim353 rho /
        # syntactic analogies): mean over the m words (cap 1) 0.14 / 5%, cap 8 0.19 / 15%, cap 32 0.23 / 20%,
        # cap 128 0.24 / 21%; gensim 0.26 / 22%. Uncapped sums diverge.
        sharing = torch.bincount(flat)[flat].to(grad_h.dtype)
        scale = (self.shared_update_cap / sharing).clamp_max(1.0)
        inputs.index_add_(0, flat, grad_unique.index_select(0, owner) * scale[:, None])
        return loss

    def cbow_step(self, *args: Any, **kwargs: Any) -> float | None:
        raise InputError("This FastText model trains as a skip-gram only.", fix="Call skipgram_step.")

    @torch.no_grad()
    def word_vectors(self) -> np.ndarray:
        table = self.input_vectors.data
        with _threads(1):
            vectors = torch.cat([self._compose(table, chunk)[0] for chunk in self.parts.split(4096)])
        return vectors.float().cpu().numpy()

    @torch.no_grad()
    def vectors_for(self, words: Sequence[str]) -> np.ndarray:
        """Vectors for any words, seen or not: mean of their n-gram vectors, plus their own vector when known."""
        ids = [self._word_ids.get(w, -1) for w in words] if self.words else [-1] * len(words)
        parts = torch.from_numpy(self._rows(words, ids)).to(self.input_vectors.device)
        with _threads(1):
            return self._compose(self.input_vectors.data, parts)[0].float().cpu().numpy()


@register_model
class GloVe(nn.Module):
    """Word vectors w_i, context vectors c_j and biases fitted so that w_i·c_j + b_i + b'_j ≈ log X_ij, weighted by
    f(X_ij) (Pennington et al. 2014). The vectors we keep are w + c, as in the paper."""

    config_class = StaticConfig

    def __init__(self, config: StaticConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        v, d = config.vocab_size, config.dim
        self.word = nn.Parameter((torch.rand(v, d, generator=generator) - 0.5) / d)
        self.context = nn.Parameter((torch.rand(v, d, generator=generator) - 0.5) / d)
        self.word_bias = nn.Parameter(torch.zeros(v))
        self.context_bias = nn.Parameter(torch.zeros(v))
        # AdaGrad's running sums of squared gradients, one per row (glove.c keeps one per element; a row-wise sum, as
        # in large recommender embeddings, halves the memory traffic of each step). Start at 1 as glove.c does.
        self.register_buffer("g_word", torch.ones(v))
        self.register_buffer("g_context", torch.ones(v))
        self.register_buffer("g_word_bias", torch.ones(v))
        self.register_buffer("g_context_bias", torch.ones(v))

    def loss(
        self, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75
    ) -> torch.Tensor:
        """Mean of f(X_ij) (w_i·c_j + b_i + b'_j - log X_ij)^2 over the given co-occurrence entries."""
        diff = (self.word[rows] * self.context[cols]).sum(1) + self.word_bias[rows] + self.context_bias[cols]
        diff = diff - torch.log(counts)
        return (glove_weight(counts, x_max, alpha) * diff**2).mean()

    @torch.no_grad()
    def adagrad_step(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        counts: torch.Tensor,
        lr: float = 0.05,
        x_max: float = 100.0,
        alpha: float = 0.75,
    ) -> float:
        """AdaGrad on a batch of co-occurrence entries; updates of a row that occurs twice are summed, as glove.c's
        lock-free threads would do."""
        w, c = self.word.data.index_select(0, rows), self.context.data.index_select(0, cols)
        diff = (w * c).sum(1) + self.word_bias.data[rows] + self.context_bias.data[cols] - torch.log(counts)
        weighted = glove_weight(counts, x_max, alpha) * diff
        grad_w, grad_c = weighted[:, None] * c, weighted[:, None] * w
        for table, sums, index, grad in (
            (self.word, self.g_word, rows, grad_w),
            (self.context, self.g_context, cols, grad_c),
            (self.word_bias, self.g_word_bias, rows, weighted),
            (self.context_bias, self.g_context_bias, cols, weighted),
        ):
            scale = sums.index_select(0, index).rsqrt_() * -lr
            squared = grad * grad if grad.dim() == 1 else (grad * grad).mean(1)
            table.data.index_add_(0, index, grad * (scale if grad.dim() == 1 else scale[:, None]))
            sums.index_add_(0, index, squared)
        return float((weighted * diff).mean())

    def word_vectors(self) -> np.ndarray:
        return (self.word.data + self.context.data).float().cpu().numpy()


def glove_weight(x, x_max: float = 100.0, alpha: float = 0.75):
    """GloVe's weighting f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count little, frequent ones are
    capped. Works on numbers, numpy arrays and tensors."""
    if isinstance(x, torch.Tensor):
        return (x / x_max).clamp(max=1.0).pow(alpha)
    return np.minimum(np.asarray(x, dtype=np.float64) / x_max, 1.0) ** alpha


def cooccurrence(
    ids: np.ndarray, sentence_ids: np.ndarray, vocab_size: int, window: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric co-occurrence counts within `window` words, each pair weighted 1/distance as in glove.c.

    Returns COO arrays (rows, cols, values) with one entry per distinct (i, j)."""
    keys, weights = [], []
    n = len(ids)
    for offset in range(1, window + 1):
        same = sentence_ids[: n - offset] == sentence_ids[offset:]
        left, right = ids[: n - offset][same], ids[offset:][same]
        for a, b in ((left, right), (right, left)):
            keys.append(a * vocab_size + b)
            weights.append(np.full(len(a), 1.0 / offset))
    if not keys or sum(len(k) for k in keys) == 0:
        raise InputError(
            "No co-occurrences: the text has no sentence of two or more known words.",
            fix="Give more text or lower min_count.",
        )
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    values = np.bincount(inverse, weights=np.concatenate(weights))
    return unique // vocab_size, unique % vocab_size, values


# ============================================================================ word vectors for evaluation and widgets
class WordVectors:
    """Trained vectors with their vocabulary (most frequent first); optionally a subword function for unseen words.

    The common currency of the chapter: ptmlab's models and gensim's both end up here, so both are evaluated, searched
    and drawn by the same code."""

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        counts: Sequence[int] | None = None,
        name: str = "",
        oov: Callable[[Sequence[str]], np.ndarray] | None = None,
    ):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(words):
            raise InputError(f"{len(words)} words but vectors of shape {vectors.shape}.", fix="Give one row per word.")
        self.words = list(words)
        self.vectors = vectors
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.name = name
        self.index = {w: i for i, w in enumerate(self.words)}
        self._oov = oov
        self._unit: np.ndarray | None = None

    @classmethod
    def from_gensim(cls, keyed_vectors: Any, name: str = "") -> WordVectors:
        """Wrap gensim KeyedVectors (FastTextKeyedVectors keep answering unseen words from their n-grams)."""
        words = list(keyed_vectors.index_to_key)
        try:
            counts = [keyed_vectors.get_vecattr(w, "count") for w in words]
        except (KeyError, AttributeError):
            counts = None
        oov = None
        if hasattr(keyed_vectors, "buckets_word") or type(keyed_vectors).__name__ == "FastTextKeyedVectors":

            def oov(batch: Sequence[str]) -> np.ndarray:
                return np.stack([keyed_vectors.get_vector(w) for w in batch])

        return cls(words, np.asarray(keyed_vectors.vectors), counts, name, oov)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        sub = ", subwords" if self.has_subwords else ""
        return f"WordVectors({self.name!r}: {len(self)} words x {self.dim} dims{sub})"

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def has_subwords(self) -> bool:
        return self._oov is not None

    def can_embed(self, word: str) -> bool:
        """In the vocabulary, or answerable from character n-grams."""
        return word in self.index or self._oov is not None

    @property
    def unit(self) -> np.ndarray:
        """Rows scaled to length 1 (cosine similarity is then a dot product)."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-9)
        return self._unit

    def vectors_for(self, words: Sequence[str]) -> np.ndarray:
        """Vectors for `words`: looked up when known, built from n-grams when not (subword models only)."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        missing = [i for i, w in enumerate(words) if w not in self.index]
        if missing and self._oov is None:
            shown = ", ".join(repr(words[i]) for i in missing[:5])
            raise InputError(
                f"{shown} not in the vocabulary of {self.name or 'these vectors'}.",
                fix="Pick known words (see .words), lower min_count, or use a subword (fastText) model.",
            )
        known = [i for i in range(len(words)) if words[i] in self.index]
        out[known] = self.vectors[[self.index[words[i]] for i in known]]
        if missing:
            out[missing] = self._oov([words[i] for i in missing])
        return out

    def vector(self, word: str) -> np.ndarray:
        return self.vectors_for([word])[0]

    def similarity(self, first: str, second: str) -> float:
        a, b = self.vectors_for([first, second])
        return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-9))

    def most_similar(
        self,
        positive: str | Sequence[str] | np.ndarray,
        negative: Sequence[str] = (),
        k: int = 10,
        restrict: int | None = None,
    ) -> list[tuple[str, float]]:
        """Words nearest by cosine to sum(unit(positive)) - sum(unit(negative)), the query words left out (3CosAdd)."""
        if isinstance(positive, str):
            positive = [positive]
        if isinstance(positive, np.ndarray):
            query, exclude = positive.astype(np.float32), set()
        else:
            words = list(positive) + list(negative)
            vectors = self.vectors_for(words)
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            signs = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
            query, exclude = (signs[:, None] * vectors).sum(0), set(words)
        unit = self.unit[:restrict] if restrict else self.unit
        scores = unit @ (query / max(np.linalg.norm(query), 1e-9))
        top = np.argsort(-scores)[: k + len(exclude)]
        return [(self.words[i], float(scores[i])) for i in top if self.words[i] not in exclude][:k]

    def analogy(self, a: str, b: str, c: str, k: int = 1, restrict: int | None = None) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the words nearest to b - a + c (e.g. man : king :: woman : queen)."""
        return self.most_similar([b, c], [a], k=k, restrict=restrict)
