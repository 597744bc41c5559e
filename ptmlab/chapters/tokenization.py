"""Chapter 02, tokenization: words, characters and subwords (BPE, WordPiece, Unigram) compared on held-out text.

Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with Subword Units" (BPE, Section 3.2); the
algorithm itself is in ptmlab.data.bpe. Here: the presets, the Experiment (arms = the tokenizers compared at one
vocabulary size, scored by held-out OOV rate and sequence length), the vocabulary sweep, rare words, and the Chinese
characters-vs-words study."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ptmlab.data.bpe import learn_bpe, measure, word_frequencies
from ptmlab.data.tokenizers import train_tokenizer
from ptmlab.errors import DataError, InputError
from ptmlab.experiment import ChapterPreset, Experiment


# ----------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class TokenizationPreset(ChapterPreset):
    """Sizes for chapter 02 (no GPU involved: tokenizers train on the CPU in every preset). `seeds` stays (0,):
    training a tokenizer draws no random numbers (Hugging Face's BPE breaks some ties at random, see `expected`)."""

    train_sentences: int | None = 1500  # sentences of the Wikipedia extract to use (None: all ~17k)
    heldout_fraction: float = 0.2  # share of documents kept aside to measure OOV rate and sequence length
    bpe_merges: int = 300  # merges our from-scratch BPE learns (and Hugging Face's, for the comparison)
    compare_vocab_size: int = 1000  # vocabulary size of the tokenizers compared side by side (the Experiment's arms)
    sweep_vocab_sizes: tuple[int, ...] = (250, 500, 1000)  # vocabulary sizes for the OOV / sequence-length curves
    unigram_vocab_sizes: tuple[int, ...] = (1000,)  # fewer points for Unigram, whose EM training is the slow one


PRESETS: dict[str, TokenizationPreset] = {
    "smoke": TokenizationPreset(
        train_sentences=1500,
        heldout_fraction=0.2,
        bpe_merges=300,
        compare_vocab_size=1000,
        sweep_vocab_sizes=(250, 500, 1000),
        unigram_vocab_sizes=(1000,),
        expected=(
            "ours = Hugging Face merge for merge until the first tie between end-of-word characters (run-dependent: step"
            " 111, 269 or none in three runs), 100% same set; held-out OOV at 1000: word ~37%, subword kinds < 0.1%"
        ),
    ),
    "cpu": TokenizationPreset(
        train_sentences=None,
        heldout_fraction=0.1,
        bpe_merges=3000,
        compare_vocab_size=8000,
        sweep_vocab_sizes=(500, 1000, 2000, 4000, 8000, 16000),
        unigram_vocab_sizes=(2000, 8000, 16000),
        expected=(
            "ours = Hugging Face merge for merge until the first tie between end-of-word characters (step 2403 in 3 of 3"
            " runs: ic+k</w> vs ic+t</w>, both 57; HF's order there is random per run), 100% same set, 100% same"
            " held-out splits; held-out OOV at 8k: word 13.2%, every subword kind 0.02% (unseen characters);"
            " tokens/sentence at 8k: word 24.1, BPE 32.1, WordPiece 31.9, Unigram 32.2, characters 128.9"
        ),
    ),
    "gpu": TokenizationPreset(  # nothing here uses a GPU: the cpu preset with a longer BPE and a 32k point
        train_sentences=None,
        heldout_fraction=0.1,
        bpe_merges=6000,
        compare_vocab_size=16000,
        sweep_vocab_sizes=(500, 1000, 2000, 4000, 8000, 16000, 32000),
        unigram_vocab_sizes=(1000, 4000, 16000, 32000),
        expected="target, not measured: as cpu, with 6000 merges and a 32k point",
    ),
}


# ----------------------------------------------------------------------------- the Experiment: tokenizers side by side
ARMS = ("word", "char", "bpe_ours", "bpe", "wordpiece", "unigram")
ARM_NAMES = {
    "word": "word",
    "char": "char",
    "bpe_ours": "BPE (ours)",
    "bpe": "BPE (Hugging Face)",
    "wordpiece": "WordPiece",
    "unigram": "Unigram",
}
METRICS = {
    "oov_rate": "held-out OOV rate",
    "mean_length": "tokens per sentence",
    "tokens_per_word": "tokens per word",
    "vocab_size": "vocabulary size",
}


@dataclass
class TokenizationData:
    """The Wikipedia extract split by document, the training side's word frequencies, and the tokenizers trained so
    far ((arm, vocabulary size or merges) -> tokenizer: `sweep` fills it too, so nothing trains twice)."""

    train: Any  # ptmlab.data.corpora.Corpus
    heldout: Any
    freqs: Counter
    tokenizers: dict[tuple[str, int | None], Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"TokenizationData({len(self.train.sentences)} training / {len(self.heldout.sentences)} held-out sentences, "
            f"{sum(self.freqs.values())} words, {len(self.freqs)} distinct; tokenizers {sorted(self.tokenizers)})"
        )


@lru_cache(maxsize=4)
def _data(train_sentences: int | None, heldout_fraction: float) -> TokenizationData:
    from ptmlab.data.corpora import load_corpus

    corpus = load_corpus("wiki", max_sentences=train_sentences)
    train, heldout = corpus.split(heldout_fraction, seed=0)
    return TokenizationData(train, heldout, word_frequencies(train.sentences))


@dataclass
class TokenizerRun:
    """What `pretrain` gives for one arm: a trained tokenizer (the protocol's Run, for a model with no weights)."""

    tokenizer: Any
    meta: dict = field(default_factory=dict)
    from_cache: bool = False
    check: Any = None


class TokenizationExperiment(Experiment[TokenizationPreset]):
    """Every tokenizer at the preset's `compare_vocab_size` (ours: `bpe_merges` merges), measured on held-out text.
    Nothing here is random (one seed); the sweep over vocabulary sizes is `sweep(preset)`."""

    name = "02_tokenization"
    title = "Tokenizers compared on held-out text"
    presets = PRESETS
    arms = ARMS
    arm_names = ARM_NAMES
    metrics = METRICS

    def data(self, preset: TokenizationPreset) -> TokenizationData:
        return _data(preset.train_sentences, preset.heldout_fraction)

    def pretrain(self, arm: str, preset: TokenizationPreset, seed: int, data: TokenizationData) -> TokenizerRun:
        size = preset.bpe_merges if arm == "bpe_ours" else None if arm == "char" else preset.compare_vocab_size
        config = {"arm": arm, "size": size, "train_sentences": preset.train_sentences,
                  "heldout_fraction": preset.heldout_fraction}  # fmt: skip
        if (arm, size) in data.tokenizers:
            return TokenizerRun(data.tokenizers[arm, size], {"config": config, "seconds": 0.0}, from_cache=True)
        start = time.perf_counter()
        if arm == "bpe_ours":
            tokenizer = learn_bpe(data.freqs, preset.bpe_merges, progress=False)
        else:
            tokenizer = train_tokenizer(data.train.sentences, kind=arm, vocab_size=size or 0)
        data.tokenizers[arm, size] = tokenizer
        return TokenizerRun(tokenizer, {"config": config, "seconds": time.perf_counter() - start})

    def score(self, arm: str, run: TokenizerRun, data: TokenizationData, preset: TokenizationPreset, seed: int):
        record = measure(run.tokenizer, data.heldout.sentences)
        return {k: record[k] for k in METRICS}

    def score_config(self, arm, run, preset, seed):
        # JSON-normal (tuples as lists), so the key read back from the score cache compares equal to it
        return json.loads(json.dumps(super().score_config(arm, run, preset, seed)))

    def keep(self, arm: str, tokenizer: Any, preset: TokenizationPreset | str | None = None) -> None:
        """Use a tokenizer trained elsewhere (the notebook's own BPE, learned while tracking words) as `arm`'s."""
        preset = self.preset(preset)
        size = preset.bpe_merges if arm == "bpe_ours" else None if arm == "char" else preset.compare_vocab_size
        self.data(preset).tokenizers[arm, size] = tokenizer

    def tokenizers(self, preset: TokenizationPreset | str | None = None) -> dict[str, Any]:
        """{arm name: tokenizer} of every arm (trained now where not yet), for TokenizerComparison."""
        preset = self.preset(preset)
        data = self.data(preset)
        return {self.label(arm): self.pretrain(arm, preset, 0, data).tokenizer for arm in self.arms_of(preset)}


EXPERIMENT = TokenizationExperiment()


def sweep(preset: TokenizationPreset | str | None = None, progress: bool = True) -> Sweep:
    """The preset's vocabulary sweep on its data; its tokenizers at `compare_vocab_size` are then the Experiment's
    arms (EXPERIMENT.run reuses them instead of training them again)."""
    preset = EXPERIMENT.preset(preset)
    data = EXPERIMENT.data(preset)
    result = sweep_vocab_sizes(data.train.sentences, data.heldout.sentences, preset.sweep_vocab_sizes,
                               sizes_for={"unigram": preset.unigram_vocab_sizes}, progress=progress)  # fmt: skip
    data.tokenizers.update({key: tok for key, tok in result.tokenizers.items() if key not in data.tokenizers})
    return result


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


# ----------------------------------------------------------------------------- the vocabulary sweep
@dataclass
class Sweep:
    """What `sweep_vocab_sizes` returns: one record per trained tokenizer, and the tokenizers themselves."""

    records: list[dict]
    tokenizers: dict[tuple[str, int | None], object]  # (kind, requested vocab size) -> tokenizer

    def best(self, kind: str, vocab_size: int):
        """The tokenizer of `kind` whose requested size is closest to `vocab_size`."""
        options = [(k, v) for k, v in self.tokenizers if k == kind]
        if not options:
            raise InputError(f"No {kind!r} tokenizer in this sweep.", fix=f"Include {kind!r} in kinds.")
        return self.tokenizers[min(options, key=lambda kv: abs((kv[1] or vocab_size) - vocab_size))]


def sweep_vocab_sizes(
    train_texts: Sequence[str],
    heldout_texts: Sequence[str],
    vocab_sizes: Sequence[int],
    kinds: Sequence[str] = ("word", "char", "bpe", "wordpiece", "unigram"),
    sizes_for: Mapping[str, Sequence[int]] | None = None,
    progress: bool = True,
) -> Sweep:
    """Train every kind at every vocabulary size; measure held-out OOV rate and sequence length of each.

    `sizes_for` overrides the sizes of one kind (Unigram's EM training is the slow one). The character tokenizer has one
    vocabulary (every character seen), so it is trained once. Records hold kind, requested, vocab_size (what the
    trainer really produced: it can be smaller on a small corpus), oov_rate, mean_length, tokens_per_word, seconds."""
    sizes_for = dict(sizes_for or {})
    jobs = []
    for kind in kinds:
        sizes = [None] if kind == "char" else list(sizes_for.get(kind, vocab_sizes))
        jobs.extend((kind, size) for size in sizes)
    bar = _progress(len(jobs), "tokenizers") if progress else None
    records, tokenizers = [], {}
    for kind, size in jobs:
        if bar is not None:
            bar.set_postfix_str(f"{kind} {size or ''}")
        start = time.perf_counter()
        tokenizer = train_tokenizer(train_texts, kind=kind, vocab_size=size or 0)
        seconds = time.perf_counter() - start
        record = measure(tokenizer, heldout_texts)
        record.update(requested=size, seconds=seconds)
        records.append(record)
        tokenizers[kind, size] = tokenizer
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return Sweep(records, tokenizers)


# ----------------------------------------------------------------------------- Chinese: characters vs words
def chinese_samples(path: str | Path | None = None) -> list[tuple[str, list[str]]]:
    """Hand-written Chinese sentences with a word segmentation: [(sentence, [word, ...]), ...].

    Reads data/samples/chinese_sentences.tsv (sentence<TAB>space-separated words). The synthetic world's Chinese
    documents will replace this small sample when they exist."""
    if path is None:
        path = _data_dir() / "samples" / "chinese_sentences.tsv"
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No Chinese sample at {path}.", fix="Run from a source checkout of ptmlab (data/samples/).")
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(
                f"{path.name} line {number} should be 'sentence<TAB>words'.", fix="Fix or restore the file."
            )
        sentence, words = parts[0].strip(), parts[1].split()
        if "".join(words) != sentence.replace(" ", ""):
            raise DataError(
                f"{path.name} line {number}: the words do not spell the sentence.", fix="Fix the segmentation."
            )
        samples.append((sentence, words))
    return samples


def _data_dir() -> Path:
    try:
        from ptmlab.data.manifest import data_dir

        return data_dir()
    except (ImportError, DataError):
        return Path(__file__).resolve().parents[2] / "data"


def unit_vocabulary_study(train: Sequence[Sequence[str]], test: Sequence[Sequence[str]], name: str = "") -> dict:
    """Vocabulary size learned from `train` units and the OOV rate / sequence length on `test` units.

    Units are characters or words of segmented sentences; the same function serves both, which is the point."""
    vocab = {u for units in train for u in units}
    test_units = [u for units in test for u in units]
    if not test_units:
        raise InputError("No test units.", fix="Pass at least one non-empty test sentence.")
    oov = [u for u in test_units if u not in vocab]
    return {
        "units": name,
        "vocab_size": len(vocab),
        "oov_rate": len(oov) / len(test_units),
        "mean_length": len(test_units) / len(test),
        "oov_examples": sorted(set(oov))[:12],
    }


def chinese_characters_vs_words(samples: Sequence[tuple[str, Sequence[str]]], n_test: int = 10) -> list[dict]:
    """Train on all but the last `n_test` sentences; compare character and word vocabularies on the rest."""
    if len(samples) <= n_test:
        raise InputError(f"Need more than {n_test} sentences, got {len(samples)}.", fix="Use a smaller n_test.")
    train, test = samples[:-n_test], samples[-n_test:]
    chars = lambda rows: [[c for c in s if not c.isspace()] for s, _ in rows]  # noqa: E731
    words = lambda rows: [list(w) for _, w in rows]  # noqa: E731
    return [
        unit_vocabulary_study(chars(train), chars(test), "characters"),
        unit_vocabulary_study(words(train), words(test), "words"),
    ]


def rare_words(
    train_texts: Sequence[str], heldout_texts: Sequence[str], n: int = 8, max_train_count: int = 1
) -> list[str]:
    """Held-out words seen at most `max_train_count` times in training (0 = unseen), longest first: good stress tests."""
    train = word_frequencies(train_texts)
    held = word_frequencies(heldout_texts)
    candidates = [w for w in held if train.get(w, 0) <= max_train_count and w.isalpha() and len(w) >= 7]
    candidates.sort(key=lambda w: (-len(w), w))
    picked, step = [], max(1, len(candidates) // max(n, 1))
    for w in candidates[::step]:  # spread over lengths rather than only the very longest
        picked.append(w)
        if len(picked) == n:
            break
    return picked


def timed(fn: Callable, *args, **kwargs):
    """(result, seconds): a one-line timer for the notebook."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
