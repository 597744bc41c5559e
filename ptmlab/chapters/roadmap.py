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
    alibi: bool = True  # ALiBi's distance penalty (see TransformerConfig): without it the run stays on the plateau
    embed_std: float = 0.02  # token and position embedding init (see TransformerConfig)
    dropout: float = 0.0  # a few minutes of training underfits: dropout only slows the escape from the unigram plateau
    steps: int = 3400
    batch_size: int = 16  # small batches, many updates (measured: batch 64 saw more tokens and learned less)
    lr: float = 2e-3  # 3e-3 reached 0.103 on [MASK] positions, 2e-3 0.166, 1e-3 0.167 (3000 steps, 15% masked)
    warmup_fraction: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    mask_prob: float = 0.4  # the training masking rate (Wettig et al. 2023: 40%); the evaluation always hides BERT's 15%
    unigram_bias: bool = True  # start the output bias at the log unigram: the model need not learn the frequencies
    valid_fraction: float = 0.1  # held-out documents (whole articles: no sentence leaks across)
    eval_blocks: int = 256  # drawn round-robin across the held-out articles, so no single article dominates
    eval_every: int = 400
    seed: int = 0
    snapshots: int = 12  # how often the embeddings of the most frequent tokens are recorded for the replay
    expected_accuracy: float = 0.0  # what the notebook tells the learner to expect (accuracy on [MASK] positions)
    expected_minutes: float = 0.0


RECIPE_VERSION = 2  # 2: held-out articles spread, [MASK]-position accuracy and the counting baseline recorded
# What the notebook says and how often it is run do not change the model, so they are not in the run's cache key.
NOT_IN_RUN_KEY = ("seeds", "expected", "expected_minutes", "expected_accuracy")


def _expected(accuracy: float, minutes: float, note: str) -> str:
    return f"accuracy on held-out [MASK] positions of about {accuracy:.2f} in about {minutes:g} min ({note})"


MLM_PRESETS: dict[str, MLMPreset] = {
    "smoke": MLMPreset(max_sentences=3000, vocab_size=1500, block_len=32, d_model=64, n_heads=2, steps=40,
                       batch_size=16, lr=2e-3, eval_every=0, eval_blocks=64, expected_accuracy=0.01,
                       expected_minutes=0.3, expected=_expected(0.01, 0.3, "a plumbing check: far too short to learn")),
    "cpu": MLMPreset(expected_accuracy=0.22, expected_minutes=3.1,
                     expected=_expected(0.22, 3.1, "measured on a 2-core CPU over seeds 0-2: 0.219 ± 0.002, counting "
                                                   "the neighbours 0.210")),
    "gpu": MLMPreset(vocab_size=8000, block_len=128, d_model=256, n_layers=4, n_heads=4, dropout=0.1, steps=3000,
                     batch_size=128, lr=1e-3, eval_every=500, expected_accuracy=0.40, expected_minutes=2.0,
                     expected=_expected(0.40, 2.0, "target, not measured")),
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
    unigram_accuracy: float = float("nan")  # the most frequent token, on the held-out [MASK] positions
    embedding_snapshots: dict | None = None  # {"steps", "tokens", "coords"}: see EmbeddingRecorder
    meta: dict = dataclasses.field(default_factory=dict, repr=False)  # the cached run's meta (config included)
    check: Any = None  # the "did it learn?" verdict, once the Experiment has judged it

    def _last(self, key: str) -> float:
        return self.evals[-1].get(key, float("nan")) if self.evals else float("nan")

    @property
    def masked_accuracy(self) -> float:
        """Held-out accuracy on the positions shown as [MASK]: the honest number (the input really was hidden)."""
        return self._last("eval_masked_accuracy")

    @property
    def accuracy(self) -> float:
        """Held-out accuracy on every predicted position, the 10% left unchanged (copyable) included."""
        return self._last("eval_accuracy")

    @property
    def counts_accuracy(self) -> float:
        """Counting the neighbours (ptmlab.models.counting) on the same held-out [MASK] positions."""
        return self.meta.get("baselines", {}).get("counts_masked", float("nan"))

    def report(self) -> str:
        source = "loaded from cache" if self.from_cache else f"trained in {self.seconds:.0f} s"
        p = self.preset
        return (f"MLM ({p.n_layers} layers, d={p.d_model}, {p.steps} steps) {source}: held-out accuracy on [MASK] "
                f"positions {self.masked_accuracy:.3f}; counting the neighbours {self.counts_accuracy:.3f}, the most "
                f"frequent token {self.unigram_accuracy:.3f} (expected about {p.expected_accuracy:.2f})")  # fmt: skip


def run_config(preset: MLMPreset, corpus) -> dict[str, Any]:
    """The cache key of one MLM run: every field that changes the model, the recipe's version and the corpus."""
    fields = {k: v for k, v in dataclasses.asdict(preset).items() if k not in NOT_IN_RUN_KEY}
    return {"recipe": "mlm", "recipe_version": RECIPE_VERSION, **fields, "corpus": corpus.name,
            "corpus_size": len(corpus.sentences)}  # fmt: skip


def held_out_documents(corpus) -> list[list[str]]:
    return corpus.documents if corpus.documents is not None else [corpus.sentences]


def train_mlm(preset: MLMPreset, corpus, *, live_plot: bool | None = None) -> tuple[torch.nn.Module, dict]:
    """Train one BERT-style MLM on `corpus` (no cache): the model and its meta (history, evals, baselines, ...).

    The held-out articles are the same for every seed (split seed 0), so seeds differ only in the model's luck."""
    from ptmlab.data.batching import pack_sentences, spread_blocks
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.objectives.mlm import MaskedLM
    from ptmlab.train.baselines import masked_baselines
    from ptmlab.train.pretrain import init_output_bias
    from ptmlab.train.trainer import TrainConfig, Trainer

    train_part, valid_part = corpus.split(preset.valid_fraction, seed=0)
    tokenizer = train_tokenizer(train_part.sentences, kind=preset.tokenizer, vocab_size=preset.vocab_size)
    train_blocks = pack_sentences(tokenizer, train_part.sentences, preset.block_len)
    valid_blocks = spread_blocks(tokenizer, held_out_documents(valid_part), preset.block_len, preset.eval_blocks)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=preset.block_len, d_model=preset.d_model,
                               n_layers=preset.n_layers, n_heads=preset.n_heads, dropout=preset.dropout,
                               embed_std=preset.embed_std, alibi=preset.alibi)  # fmt: skip
    torch.manual_seed(preset.seed)
    n_special = len(tokenizer.special_ids)
    objective = MaskedLM(tokenizer.vocab_size, mask_prob=preset.mask_prob)
    evaluation = MaskedLM(tokenizer.vocab_size)  # BERT's 15%, whatever the training rate
    model = objective.build_model(config)
    if preset.unigram_bias:
        init_output_bias(model.mlm_head.bias, train_blocks, n_special)
    eval_batches = -(-len(valid_blocks) // preset.batch_size)  # every held-out block
    train_config = TrainConfig(steps=preset.steps, batch_size=preset.batch_size, lr=preset.lr,
                               warmup=max(1, round(preset.steps * preset.warmup_fraction)), betas=preset.betas,
                               eval_every=preset.eval_every, seed=preset.seed, eval_batches=eval_batches)  # fmt: skip
    recorder = EmbeddingRecorder(model.body.tok_emb, train_blocks, tokenizer, every=preset.steps // preset.snapshots)
    result = Trainer(model, objective, train_blocks, train_config, eval_data=valid_blocks, callbacks=[recorder],
                     live_plot=live_plot, title="MLM", eval_objective=evaluation).fit()  # fmt: skip
    baselines = masked_baselines(evaluation, train_blocks, valid_blocks, vocab_size=tokenizer.vocab_size,
                                 n_special=n_special, mask_id=evaluation.mask_id, batch_size=preset.batch_size,
                                 n_batches=eval_batches)  # fmt: skip
    meta = {"history": result.history, "evals": result.evals, "tokenizer": tokenizer.to_dict(),
            "unigram_accuracy": baselines.unigram_masked, "baselines": baselines.to_dict(),
            "held_out": {"documents": len(held_out_documents(valid_part)), "blocks": len(valid_blocks)},
            "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
            "interrupted": result.interrupted, "embedding_snapshots": recorder.projected()}  # fmt: skip
    return result.model.cpu(), meta


def pretrain_mlm(preset: MLMPreset | str | None = None, *, corpus=None, retrain: bool = False,
                 live_plot: bool | None = None, **overrides: Any) -> PretrainedRun:  # fmt: skip
    """Train (or load from cache) a BERT-style MLM. `corpus` defaults to the preset's (the Wikipedia extract)."""
    from ptmlab.data.corpora import load_corpus
    from ptmlab.runtime import get_device
    from ptmlab.train.cache import load_or_train

    preset = resolve_preset(MLM_PRESETS, preset, **overrides)
    if corpus is None:
        corpus = load_corpus(preset.corpus, max_sentences=preset.max_sentences)
    run = load_or_train("mlm", run_config(preset, corpus), lambda: train_mlm(preset, corpus, live_plot=live_plot),
                        retrain=retrain)  # fmt: skip
    meta = run.meta
    return PretrainedRun(run.model.to(get_device()).eval(), tokenizer_from_dict(meta["tokenizer"]), preset,
                         meta.get("history", []), meta.get("evals", []), run.from_cache, meta.get("seconds", 0.0),
                         meta.get("unigram_accuracy", float("nan")), meta.get("embedding_snapshots"), meta)  # fmt: skip


def scoreboard_rows(run: PretrainedRun) -> list[tuple[str, str, str]]:
    """(model, accuracy on held-out [MASK] positions, setting): the network beside counting and the unigram guess."""
    p, held = run.preset, run.meta.get("held_out", {})
    where = f"{held.get('blocks', '?')} blocks from {held.get('documents', '?')} held-out articles"
    return [
        ("this network (MLM)", f"{run.masked_accuracy:.3f}",
         f"{p.n_layers} layers, d={p.d_model}, {p.steps} steps, {run.seconds:.0f} s"),
        ("counting the neighbours (left and right word)", f"{run.counts_accuracy:.3f}",
         "bigram counts of the same training text, seconds to build"),
        ("the most frequent token (no context)", f"{run.unigram_accuracy:.3f}", where),
        ("expected for this preset", f"{p.expected_accuracy:.2f}", "written in MLM_PRESETS, from a measured run"),
    ]  # fmt: skip


def mlm_scoreboard(run: PretrainedRun):
    """A table: the network's held-out [MASK]-position accuracy beside counting the neighbours and the unigram guess."""
    import plotly.graph_objects as go

    columns = list(zip(*scoreboard_rows(run)))
    figure = go.Figure(go.Table(header=dict(values=["model", "accuracy on [MASK] positions", "setting"],
                                            align="left"), cells=dict(values=columns, align="left")))  # fmt: skip
    figure.update_layout(height=230, margin=dict(l=0, r=0, t=10, b=0))
    return figure


# Facts the training articles state in so many words (none is from a held-out article): can the tour's model recall
# them? Each answer is one content word; an answer that is not a single token of the run's vocabulary is skipped.
CLOZE_FACTS: tuple[tuple[str, str], ...] = (
    ("austin is the [MASK] of texas .", "capital"),
    ("alberta is a western [MASK] of canada .", "province"),
    ("aberdeen is a city in [MASK] , united kingdom .", "scotland"),
    ("asia is the earth's largest and most populous [MASK] .", "continent"),
    ("apollo 11 was the first spaceflight that landed humans on the [MASK] .", "moon"),
    ("anarchism is a political [MASK] .", "philosophy"),
    ("autism is a neurodevelopmental [MASK] .", "disorder"),
    ("the capital of alabama is [MASK] .", "montgomery"),
    ("the capital and largest city of angola is [MASK] .", "luanda"),
    ("animal farm is a novella by george [MASK] .", "orwell"),
    ("aruba is a constituent country of the kingdom of the [MASK] .", "netherlands"),
    ("andre agassi is an american retired professional [MASK] player .", "tennis"),
    ("aristotle was a pupil of [MASK] .", "plato"),
    ("abraham lincoln was the 16th [MASK] of the united states .", "president"),
    ("alaska is a u.s. [MASK] in the northwest of north america .", "state"),
    ("andorra is the sixth-smallest nation in [MASK] .", "europe"),
)


def cloze_rows(run: PretrainedRun, facts=CLOZE_FACTS, top_k: int = 5) -> list[dict[str, Any]]:
    """One row per fact whose answer is a single token: the sentence, the answer, the top_k guesses, right at 1 and 5."""
    from ptmlab.inference import fill_mask

    rows = []
    for sentence, answer in facts:
        if len(run.tokenizer.encode(answer, add_special_tokens=False)) != 1:
            continue  # split into pieces: one [MASK] cannot hold it
        guesses = [token for token, _ in fill_mask(run.model, run.tokenizer, sentence, top_k=top_k)[0]]
        rows.append({"sentence": sentence, "answer": answer, "guesses": guesses,
                     "top1": guesses[0] == answer, "top5": answer in guesses})  # fmt: skip
    return rows


def cloze_summary(rows: list[dict[str, Any]], facts=CLOZE_FACTS) -> str:
    n = len(rows)
    top1, top5 = sum(r["top1"] for r in rows), sum(r["top5"] for r in rows)
    skipped = len(facts) - n
    return (f"{top1} of {n} facts right at the first guess, {top5} of {n} in the top 5"
            + (f" ({skipped} skipped: the answer is not one token of this vocabulary)" if skipped else ""))


def cloze_figure(rows: list[dict[str, Any]]):
    """The cloze facts as a table: the answer, the model's five guesses (the answer in bold), right or not."""
    import plotly.graph_objects as go

    shown = [", ".join(f"<b>{g}</b>" if g == r["answer"] else g for g in r["guesses"]) for r in rows]
    marks = ["yes" if r["top1"] else ("top 5" if r["top5"] else "no") for r in rows]
    figure = go.Figure(go.Table(columnwidth=[5, 1.4, 4, 1],
                                header=dict(values=["sentence", "answer", "the model's guesses", "right?"], align="left"),
                                cells=dict(values=[[r["sentence"] for r in rows], [r["answer"] for r in rows], shown,
                                                   marks], align="left")))  # fmt: skip
    figure.update_layout(height=60 + 28 * len(rows), margin=dict(l=0, r=0, t=10, b=0))
    return figure


# ============================================================================ the chapter on the Experiment protocol
class RoadmapExperiment(Experiment[MLMPreset]):
    """One arm, BERT's MLM: its accuracy on held-out [MASK] positions beside counting the neighbours and the unigram.

    The "did it learn?" check asks whether the network beats counting the neighbours."""

    name = "00_roadmap"
    title = "A first masked language model (BERT's MLM) on Wikipedia"
    presets = MLM_PRESETS
    arms = ("mlm",)
    arm_names = {"mlm": "MLM (BERT, 15% masked)"}
    arm_colours = {"mlm": "#e69f00"}
    metrics = {"masked_accuracy": "the network", "counts_accuracy": "counting the neighbours",
               "unigram_accuracy": "the most frequent token"}  # all: accuracy on held-out [MASK] positions

    def data(self, preset: MLMPreset):
        from ptmlab.data.corpora import load_corpus

        return load_corpus(preset.corpus, max_sentences=preset.max_sentences)

    def pretrain(self, arm: str, preset: MLMPreset, seed: int, data=None) -> PretrainedRun:
        return pretrain_mlm(dataclasses.replace(preset, seed=seed), corpus=data, live_plot=False)

    def score(self, arm: str, run: PretrainedRun, data, preset: MLMPreset, seed: int) -> dict[str, float]:
        return {"masked_accuracy": run.masked_accuracy, "counts_accuracy": run.counts_accuracy,
                "unigram_accuracy": run.unigram_accuracy, "accuracy": run.accuracy}  # fmt: skip

    def check(self, arm: str, run: PretrainedRun, data, preset: MLMPreset) -> LearningCheck:
        """Learned = beats counting the neighbours on held-out [MASK] positions (beating the unigram is not enough)."""
        return LearningCheck(run.masked_accuracy > run.counts_accuracy, "accuracy on held-out [MASK] positions",
                             run.masked_accuracy, run.counts_accuracy, "counting the neighbours",
                             plateau=run.unigram_accuracy)  # fmt: skip

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        """The network's accuracy on held-out [MASK] positions (mean ± sd over seeds) beside its two baselines.

        BERT reports no masked-token accuracy to set beside it, and the often-quoted 0.49 was measured on an easier,
        different corpus; the honest comparison is with counting the neighbours on the same held-out text."""
        summary = comparison.summary()
        rows = []
        for stats in summary.values():
            for metric, label in self.metrics.items():
                mean, sd, n = stats[metric]
                rows.append([f"ours: {label}", f"{mean:.3f} ± {sd:.3f}", f"{n} seed(s)"])
        return ["model", "accuracy on held-out [MASK] positions", "setting"], rows


EXPERIMENT = RoadmapExperiment()
