"""Training loops of the static word embeddings: word2vec (skip-gram, CBOW), fastText and GloVe, each run cached.

Mikolov et al. 2013, Bojanowski et al. 2017, Pennington et al. 2014; gensim's own Word2Vec and FastText as the reference
implementation on the same tokens. The models, vocabulary and sampling are in ptmlab.models.static."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ptmlab.errors import InputError
from ptmlab.models.static import (
    FastText,
    GloVe,
    StaticConfig,
    Vocab,
    Word2Vec,
    WordVectors,
    _threads,
    cbow_examples,
    cooccurrence,
    keep_probability,
    skipgram_pairs,
    subsample,
    unigram_table,
)


@dataclass
class EmbeddingRun:
    """One trained set of vectors: the vectors, how long training took, and the loss curve."""

    name: str
    vectors: WordVectors
    seconds: float
    history: list[float] = field(default_factory=list)  # mean loss per logged chunk of batches
    model: nn.Module | None = None
    from_cache: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def meta(self) -> dict[str, Any]:
        """What a cached ptmlab.train.cache.Run carries (the Experiment protocol reads seconds and config from it)."""
        return {"seconds": self.seconds, "config": self.config, "history": self.history}

    def __repr__(self) -> str:
        cached = ", loaded from cache" if self.from_cache else ""
        return f"EmbeddingRun({self.name!r}, {len(self.vectors)} words, trained in {self.seconds:.1f} s{cached})"


def corpus_fingerprint(token_lists: Sequence[Sequence[str]]) -> str:
    """A short hash of the exact token stream: part of the cache key of every run."""
    digest = hashlib.sha256()
    for sentence in token_lists:
        digest.update(" ".join(sentence).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def _progress(total: int, description: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="ex", unit_scale=True, disable=not show, leave=True)


def _noise_sampler(counts: np.ndarray, generator: torch.Generator, device: torch.device):
    table = torch.from_numpy(unigram_table(counts, size=max(1_000_000, 20 * len(counts)))).to(device)

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        return table[torch.randint(len(table), shape, generator=generator).to(device)]

    return draw


def _run_config(kind: str, token_lists: Sequence[Sequence[str]], settings: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "corpus": corpus_fingerprint(token_lists), "version": 1, **settings}


def _cached_or_trained(
    kind: str,
    config: dict[str, Any],
    train: Callable[[], tuple[nn.Module, dict]],
    use_cache: bool,
    words_to_model: Callable[[nn.Module, dict], None] | None = None,
):
    """Load a finished run with the same config from ptmlab's run cache, else train and save it."""
    from ptmlab.train.cache import load_or_train

    if not use_cache:
        model, meta = train()
        return model, meta, False
    run = load_or_train(f"embeddings-{kind}", config, train)
    if run.from_cache and words_to_model is not None:
        words_to_model(run.model, run.meta)
    return run.model, run.meta, run.from_cache


def train_word2vec(
    token_lists: Sequence[Sequence[str]],
    *,
    kind: str = "skipgram",
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    lr: float = 0.025,
    batch_size: int = 8192,
    group: int = 64,
    shared_negatives: int = 8,
    buckets: int = 100_000,
    minn: int = 3,
    maxn: int = 6,
    seed: int = 0,
    device: str | torch.device | None = None,
    threads: int | None = 1,
    progress: bool = True,
    cache: bool = True,
    name: str | None = None,
) -> EmbeddingRun:
    """Train skip-gram ('skipgram'), CBOW ('cbow') or subword skip-gram ('fasttext') with negative sampling.

    Each epoch subsamples frequent words, builds every (centre, context) example with numpy, shuffles, and runs
    vectorised SGD on batches of `batch_size` with a learning rate decaying linearly to ~0 (word2vec's schedule).
    Negatives: `shared_negatives` noise words per `group` examples, weighted so each example sees `negative` in
    expectation. Runs are cached by their full config (`cache=False` to always train)."""
    if kind not in ("skipgram", "cbow", "fasttext"):
        raise InputError(f"Unknown word2vec kind {kind!r}.", fix="Use 'skipgram', 'cbow' or 'fasttext'.")
    if batch_size % group:
        raise InputError(f"batch_size {batch_size} is not a multiple of group {group}.", fix="Use e.g. 8192 and 64.")
    device = torch.device(device) if device is not None else torch.device("cpu")
    settings = dict(
        dim=dim,
        window=window,
        negative=negative,
        min_count=min_count,
        sample=sample,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        group=group,
        shared_negatives=shared_negatives,
        seed=seed,
        **({"buckets": buckets, "minn": minn, "maxn": maxn} if kind == "fasttext" else {}),
    )
    config = _run_config(kind, token_lists, settings)
    display = name or {"skipgram": "ptmlab skip-gram", "cbow": "ptmlab CBOW", "fasttext": "ptmlab fastText"}[kind]

    def train() -> tuple[nn.Module, dict[str, Any]]:
        started = time.perf_counter()  # everything counts, vocabulary included, as in gensim's timing
        vocab = Vocab.build(token_lists, min_count)
        ids, sentence_ids = vocab.encode(token_lists)
        generator = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        model_config = StaticConfig(kind, len(vocab), dim, buckets if kind == "fasttext" else 0, minn, maxn)
        model = (
            FastText(model_config, generator, vocab.words) if kind == "fasttext" else Word2Vec(model_config, generator)
        ).to(device)
        draw_noise = _noise_sampler(vocab.counts, generator, device)
        keep = keep_probability(vocab.counts, sample)
        make = cbow_examples if kind == "cbow" else skipgram_pairs
        step = model.cbow_step if kind == "cbow" else model.skipgram_step
        # the schedule needs the total up front: estimate it from the first epoch's examples
        first = make(*subsample(ids, sentence_ids, keep, rng), window, rng)
        total = max(1, len(first[0]) * epochs)
        history, losses, done, steps = [], [], 0, 0
        with _threads(threads), _progress(total, display, progress) as bar:
            for epoch in range(epochs):
                centres, contexts = first if epoch == 0 else make(*subsample(ids, sentence_ids, keep, rng), window, rng)
                usable = len(centres) // group * group  # drop the last < group examples so every group is full
                centres_t = torch.from_numpy(centres[:usable]).to(device)
                contexts_t = torch.from_numpy(contexts[:usable]).to(device)
                for start in range(0, usable, batch_size):
                    c, x = centres_t[start : start + batch_size], contexts_t[start : start + batch_size]
                    rate = lr * max(1e-4, 1.0 - done / total)
                    loss = step(
                        c, x, draw_noise((len(c) // group, shared_negatives)), rate, negative, with_loss=steps % 5 == 0
                    )  # reading the loss costs time (a sync on GPU)
                    if loss is not None:
                        losses.append(loss)
                    done, steps = done + len(c), steps + 1
                    if len(losses) == 10:
                        history.append(float(np.mean(losses)))
                        bar.set_postfix(loss=f"{history[-1]:.3f}", epoch=epoch + 1)
                        losses = []
                    bar.update(len(c))
        if losses:
            history.append(float(np.mean(losses)))
        if not all(math.isfinite(h) for h in history):
            raise InputError(
                f"{display} diverged (loss {history[-1]}).",
                fix="Lower lr or batch_size (large batches sum many updates of frequent words).",
            )
        meta = {
            "words": vocab.words,
            "counts": vocab.counts.tolist(),
            "history": history,
            "seconds": time.perf_counter() - started,
        }
        return model.cpu(), meta

    def restore(model: nn.Module, meta: dict) -> None:
        if isinstance(model, FastText):
            model.set_words(meta["words"])

    model, meta, from_cache = _cached_or_trained(kind, config, train, cache, restore)
    return EmbeddingRun(
        display, _vectors_of(model, meta, display), meta["seconds"], meta["history"], model, from_cache, config
    )


def _vectors_of(model: nn.Module, meta: dict, name: str) -> WordVectors:
    oov = model.vectors_for if isinstance(model, FastText) else None
    return WordVectors(meta["words"], model.word_vectors(), meta["counts"], name, oov)


def train_glove(
    token_lists: Sequence[Sequence[str]],
    *,
    dim: int = 100,
    window: int = 10,
    min_count: int = 5,
    epochs: int = 15,
    lr: float = 0.05,
    x_max: float = 10.0,
    alpha: float = 0.75,
    batch_size: int = 16384,
    seed: int = 0,
    device: str | torch.device | None = None,
    threads: int | None = 1,
    progress: bool = True,
    cache: bool = True,
    name: str = "ptmlab GloVe",
) -> EmbeddingRun:
    """Train GloVe: count co-occurrences once (weighted 1/distance), then AdaGrad on the weighted least squares over
    the non-zero entries, shuffled every epoch."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    settings = dict(
        dim=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        lr=lr,
        x_max=x_max,
        alpha=alpha,
        batch_size=batch_size,
        seed=seed,
    )
    config = _run_config("glove", token_lists, settings)

    def train() -> tuple[nn.Module, dict[str, Any]]:
        started = time.perf_counter()
        vocab = Vocab.build(token_lists, min_count)
        rows, cols, values = cooccurrence(*vocab.encode(token_lists), len(vocab), window)
        generator = torch.Generator().manual_seed(seed)
        model = GloVe(StaticConfig("glove", len(vocab), dim), generator).to(device)
        rows_t, cols_t = torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)
        values_t = torch.from_numpy(values).float().to(device)
        history = []
        with _threads(threads), _progress(len(values) * epochs, name, progress) as bar:
            for epoch in range(epochs):
                order = torch.randperm(len(values), generator=generator).to(device)
                losses = []
                for start in range(0, len(values), batch_size):
                    take = order[start : start + batch_size]
                    losses.append(model.adagrad_step(rows_t[take], cols_t[take], values_t[take], lr, x_max, alpha))
                    bar.update(len(take))
                history.append(float(np.mean(losses)))
                bar.set_postfix(loss=f"{history[-1]:.4f}", epoch=epoch + 1)
                if not math.isfinite(history[-1]):
                    raise InputError(
                        f"{name} diverged (loss {history[-1]}).",
                        fix="Lower lr or batch_size (a batch sums the updates of a row that recurs).",
                    )
        meta = {
            "words": vocab.words,
            "counts": vocab.counts.tolist(),
            "history": history,
            "seconds": time.perf_counter() - started,
            "nonzero": int(len(values)),
        }
        return model.cpu(), meta

    model, meta, from_cache = _cached_or_trained("glove", config, train, cache)
    return EmbeddingRun(
        name, _vectors_of(model, meta, name), meta["seconds"], meta["history"], model, from_cache, config
    )


# ============================================================================ gensim, the reference implementation
def train_gensim(
    kind: str,
    token_lists: Sequence[Sequence[str]],
    *,
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    lr: float = 0.025,
    buckets: int = 100_000,
    seed: int = 0,
    workers: int = 2,
    name: str | None = None,
) -> EmbeddingRun:
    """gensim's own Word2Vec (kind 'skipgram' or 'cbow') or FastText ('fasttext') on the same tokens and settings.

    gensim is imported here only, so `import ptmlab` stays fast. Its FastText defaults to 2M buckets (800 MB at 100
    dims): we pass the same `buckets` as ours."""
    from gensim.models import FastText as GensimFastText
    from gensim.models import Word2Vec as GensimWord2Vec

    if kind not in ("skipgram", "cbow", "fasttext"):
        raise InputError(f"Unknown gensim kind {kind!r}.", fix="Use 'skipgram', 'cbow' or 'fasttext'.")
    common = dict(
        vector_size=dim,
        window=window,
        negative=negative,
        hs=0,
        min_count=min_count,
        sample=sample,
        epochs=epochs,
        alpha=lr,
        seed=seed,
        workers=workers,
    )
    sentences = [list(s) for s in token_lists]
    started = time.perf_counter()
    if kind == "fasttext":
        model = GensimFastText(sentences, sg=1, min_n=3, max_n=6, bucket=buckets, **common)
    else:
        model = GensimWord2Vec(sentences, sg=int(kind == "skipgram"), **common)
    seconds = time.perf_counter() - started
    display = name or {"skipgram": "gensim skip-gram", "cbow": "gensim CBOW", "fasttext": "gensim FastText"}[kind]
    return EmbeddingRun(
        display,
        WordVectors.from_gensim(model.wv, display),
        seconds,
        [],
        None,
        False,
        {"kind": kind, "gensim": True, **common},
    )
