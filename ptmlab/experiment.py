"""One shape for every chapter: presets, arms, data, pre-train, check, score, and one run() over arms x seeds.

What chapters 00-09 each did by hand, named once (scikit-learn's one interface for many estimators, for experiments):
preset -> data -> pretrain(arm, seed) -> "did it learn?" -> score -> Comparison (summary, paired direction, table,
seeds figure, the paper's numbers beside ours).

    class MyChapter(Experiment[MyPreset]):
        name, title = "07_permuted_lm", "PLM vs MLM"
        presets = {"smoke": ..., "cpu": ..., "gpu": ...}
        arms = ("none", "mlm", "plm")
        metrics = {"ner_f1": "NER span F1"}
        direction = ("ner_f1", "plm", "mlm")            # the paper's claim: a beats b on metric
        def data(self, preset): ...
        def pretrain(self, arm, preset, seed, data): ...   # -> ptmlab.train.cache.Run
        def score(self, arm, run, data, preset, seed): ... # -> {"ner_f1": 0.25, ...}

    comparison = MyChapter().run()          # resolves the preset once, caches every score, one line per run
    comparison.summary(); comparison.direction(); comparison.figure(); comparison.table_figure()
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ptmlab import runtime
from ptmlab.errors import InputError
from ptmlab.io import atomic_write_json, config_hash, read_json
from ptmlab.tasks.stats import paired_direction, summarize

P = TypeVar("P")


# ============================================================================ presets
@dataclass(frozen=True)
class ChapterPreset:
    """What every chapter's preset carries besides its sizes: the seeds, and what a run of it gives and takes.

    expected: the numbers this preset gives, measured (or "target, not measured" until someone ran it);
    expected_minutes: wall time from an empty cache on the machine it was measured on."""

    seeds: tuple[int, ...] = (0,)
    expected: str = ""
    expected_minutes: float = 0.0


@dataclass(frozen=True)
class ProbePreset(ChapterPreset):
    """A 'pre-train on the synthetic world, then probe' chapter (05, 07): subclass it and add the chapter's fields."""

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


# The smoke presets of the probe chapters: far too small to learn anything, big enough to run every step.
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


def resolve_preset(presets: Mapping[str, P], preset: P | str | None = None, **overrides: Any) -> P:
    """A chapter's preset: an instance is used as it is, a name (or None: $PTMLAB_PRESET, then 'auto') is looked up.

    overrides replace fields (`steps=100`); a name that is not a field is refused with the closest field named."""
    chosen = preset if dataclasses.is_dataclass(preset) else presets[runtime.preset_name(preset)]
    if overrides:
        names = [f.name for f in dataclasses.fields(chosen)]
        unknown = [k for k in overrides if k not in names]
        if unknown:
            close = {k: difflib.get_close_matches(k, names, n=1) for k in unknown}
            hints = ", ".join(f"{k!r} (did you mean {c[0]!r}?)" if c else repr(k) for k, c in close.items())
            raise InputError(f"{type(chosen).__name__} has no field {hints}.", fix=f"Use one of: {', '.join(names)}.")
        chosen = dataclasses.replace(chosen, **overrides)
    return chosen


# ============================================================================ did it learn?
@dataclass(frozen=True)
class LearningCheck:
    """Did a pre-training run learn? Its measure beside an honest baseline (the most frequent token, counting the
    neighbours, chance): a run that does not beat its baseline is reported as such and never ranked as if it had."""

    learned: bool
    measure: str  # e.g. "accuracy on [MASK] positions"
    value: float
    baseline: float
    baseline_name: str  # e.g. "counting the neighbours"
    plateau: float | None = None  # what a model ignoring context gets (the unigram), when it is not the baseline

    @property
    def on_plateau(self) -> bool:
        """Still (nearly) where a model that ignores the context sits: less than a quarter of the way to the baseline."""
        if self.plateau is None or self.learned:
            return False
        return self.value < self.plateau + 0.25 * max(self.baseline - self.plateau, 0.0)

    def __str__(self) -> str:
        if self.learned:
            verdict = "learned"
        elif self.on_plateau:
            verdict = f"NOT learned: still on the unigram plateau ({self.plateau:.3f})"
        else:
            verdict = "NOT learned: left the plateau but has not beaten its baseline"
        return f"{verdict}: {self.measure} {self.value:.3f} vs {self.baseline:.3f} ({self.baseline_name})"


# ============================================================================ the protocol
class Experiment(Generic[P]):
    """A chapter's experiment. Subclasses set the class attributes and implement data, pretrain and score; check
    (the "did it learn?" test) and paper_table are optional."""

    name: str = ""  # the notebook's stem, e.g. "07_permuted_lm": it names the score cache
    title: str = ""
    presets: Mapping[str, Any] = {}
    arms: tuple[str, ...] = ()  # what is compared (objectives, strategies, encoders); a preset may narrow them
    arm_names: Mapping[str, str] = {}
    arm_colours: Mapping[str, str] = {}
    metrics: Mapping[str, str] = {}  # the scores a row carries: key -> label
    direction: tuple[str, str, str] | None = None  # (metric, a, b): the paper's claim that a beats b on metric
    score_version: int = 1  # part of the score cache key: bump it when scoring changes

    # ------------------------------------------------------------------------ to implement
    def data(self, preset: P) -> Any:
        """Everything every arm and seed shares (corpus, tokenizer, task examples), built once per run()."""
        raise NotImplementedError

    def pretrain(self, arm: str, preset: P, seed: int, data: Any):
        """One pre-trained model (load-or-train): a ptmlab.train.cache.Run."""
        raise NotImplementedError

    def score(self, arm: str, run: Any, data: Any, preset: P, seed: int) -> dict[str, Any]:
        """The downstream scores of one run: {metric: value} (JSON-able; cached by run())."""
        raise NotImplementedError

    def check(self, arm: str, run: Any, data: Any, preset: P) -> LearningCheck | None:
        """Did this run learn? None when the arm has nothing to learn (an untrained baseline) or is not checked."""
        return None

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]] | None:
        """(header, rows): the paper's numbers beside ours, or None when the chapter has no such table."""
        return None

    # ------------------------------------------------------------------------ shared
    def preset(self, preset: P | str | None = None, **overrides: Any) -> P:
        return resolve_preset(self.presets, preset, **overrides)

    def arms_of(self, preset: P) -> tuple[str, ...]:
        return tuple(getattr(preset, "arms", None) or self.arms)

    def label(self, arm: str) -> str:
        return self.arm_names.get(arm, arm)

    def start(self, preset: P | str | None = None, *, show: bool = True, **overrides: Any) -> P:
        """What every notebook opens with: threads for this machine, the preset resolved once, and what to expect."""
        runtime.set_threads()
        chosen = self.preset(preset, **overrides)
        if show:
            print(runtime.describe())
            print(
                f"{self.title or self.name}: preset {runtime.preset_name(preset if isinstance(preset, str) else None)!r}"
            )
            print(f"  {chosen}")
            if getattr(chosen, "expected", ""):
                print(f"Expected: {chosen.expected}")
        return chosen

    def run(
        self,
        preset: P | str | None = None,
        *,
        arms: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
        progress: Callable[[str], None] | None = print,
        rescore: bool = False,
    ) -> Comparison:
        """Every arm x seed: pre-train (or load), check, score (or load the cached score); one line per run."""
        preset = self.preset(preset)
        arms = tuple(arms or self.arms_of(preset))
        unknown = [a for a in arms if a not in self.arms]
        if unknown:
            raise InputError(f"Unknown arm(s) {unknown} for {self.name}.", fix=f"Use some of {list(self.arms)}.")
        data = self.data(preset)
        rows = []
        for arm in arms:
            for seed in seeds if seeds is not None else preset.seeds:
                started = time.perf_counter()
                run = self.pretrain(arm, preset, seed, data)
                check = self.check(arm, run, data, preset)
                if hasattr(run, "check"):
                    run.check = check
                scores, cached = self._scores(arm, run, data, preset, seed, rescore)
                row = {
                    "arm": arm,
                    "seed": seed,
                    **scores,
                    "train_seconds": run.meta.get("seconds", 0.0),
                    "from_cache": run.from_cache,
                    "learned": None if check is None else check.learned,
                    "check": None if check is None else str(check),
                }
                rows.append(row)
                if progress:
                    progress(self._progress_line(row, run, cached, time.perf_counter() - started))
        return Comparison(self, preset, rows)

    # ------------------------------------------------------------------------ score cache
    def score_config(self, arm: str, run: Any, preset: P, seed: int) -> dict[str, Any] | None:
        """What a score depends on (its cache key), or None not to cache it (an interrupted run)."""
        if run.meta.get("interrupted"):
            return None
        trained_as = run.meta.get("config") or {"untrained": arm}
        volatile = ("expected", "expected_minutes", "seeds", "arms")  # words, timings and lists change no score
        preset_fields = {k: v for k, v in dataclasses.asdict(preset).items() if k not in volatile}
        key = {"experiment": self.name, "version": self.score_version, "arm": arm, "seed": seed,
               "run": config_hash(trained_as), "preset": preset_fields}  # fmt: skip
        return json.loads(json.dumps(key, default=str))  # as it reads back from the file: tuples become lists

    def _score_path(self, key: dict[str, Any], root=None):
        return (root or runtime.cache_dir("scores")) / f"{self.name}-{key['arm']}-{config_hash(key)[:16]}.json"

    def cached_scores(self, key: dict[str, Any] | None) -> dict[str, Any] | None:
        """The saved scores for a score_config key (the shared cache first, then the user's), or None."""
        if key is None:
            return None
        shared = runtime.shared_cache()
        for root in ([shared / "scores"] if shared else []) + [None]:
            saved = read_json(self._score_path(key, root))
            if isinstance(saved, dict) and saved.get("key") == key and isinstance(saved.get("scores"), dict):
                return saved["scores"]  # a damaged or mismatched file falls through and is re-scored
        return None

    def _scores(self, arm, run, data, preset, seed, rescore: bool) -> tuple[dict[str, Any], bool]:
        key = self.score_config(arm, run, preset, seed)
        saved = None if rescore else self.cached_scores(key)
        if saved is not None:
            return saved, True
        scores = self.score(arm, run, data, preset, seed)
        if key is not None:
            atomic_write_json(self._score_path(key), {"key": key, "scores": scores})
        return scores, False

    def _progress_line(self, row: dict[str, Any], run: Any, cached: bool, seconds: float) -> str:
        if row["from_cache"]:
            source = "cached run"
        elif row["train_seconds"]:
            source = f"trained in {row['train_seconds']:.0f} s"
        else:
            source = "untrained"
        shown = ", ".join(f"{k} {row[k]:.3f}" for k in self.metrics if isinstance(row.get(k), (int, float)))
        learned = f"; {row['check']}" if row["check"] else ""
        scored = "cached scores" if cached else "scored"
        return (
            f"{self.label(row['arm']):>28} seed {row['seed']}: {shown} ({source}, {scored}, {seconds:.0f} s){learned}"
        )


# ============================================================================ the result
@dataclass
class Comparison:
    """One row per (arm, seed): {"arm", "seed", scores..., "train_seconds", "from_cache", "learned", "check"}."""

    experiment: Experiment
    preset: Any
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(r["arm"] for r in self.rows))

    def summary(self, metrics: Sequence[str] | None = None) -> dict[str, dict[str, tuple[float, float, int]]]:
        """arm -> metric -> (mean, sd, n) over seeds."""
        return summarize(self.rows, list(metrics or self.experiment.metrics), by="arm")

    def direction(self, metric: str | None = None, a: str | None = None, b: str | None = None) -> dict[str, Any]:
        """Does `a` beat `b` on `metric`, seed by seed (default: the paper's claim)? See tasks.stats.paired_direction.
        Adds "learned": whether every run of both arms passed its "did it learn?" check (None: not checked)."""
        default = self.experiment.direction or (None, None, None)
        metric, a, b = metric or default[0], a or default[1], b or default[2]
        if metric is None:
            raise InputError(f"{self.experiment.name} names no direction.", fix="Pass metric, a and b.")
        result = paired_direction(self.rows, metric, a, b, by="arm")
        checks = [r["learned"] for r in self.rows if r["arm"] in (a, b) and r["learned"] is not None]
        result["learned"] = all(checks) if checks else None
        return result

    def unlearned(self) -> list[dict[str, Any]]:
        """The runs whose "did it learn?" check failed: their scores teach nothing about their objective."""
        return [r for r in self.rows if r["learned"] is False]

    def verdict(self, metric: str | None = None, a: str | None = None, b: str | None = None) -> str:
        """The direction in plain words, saying so when a run behind it did not learn."""
        d = self.direction(metric, a, b)
        label = self.experiment.label
        words = (
            f"{label(d['a'])} {'beats' if d['mean_difference'] > 0 else 'does not beat'} {label(d['b'])} on "
            f"{self.experiment.metrics.get(d['metric'], d['metric'])}: {d['mean_difference']:+.3f} on average, "
            f"{d['wins']}/{d['seeds']} seeds, {'clear' if d['clear'] else 'not clear'} (|mean| > 2 standard errors)."
        )
        if d["learned"] is False:
            words += " At least one of these runs did not learn, so this is not the paper's direction reproduced."
        return words

    def table(self, metrics: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """(header, rows): each arm's mean ± sd per metric over its seeds."""
        metrics = list(metrics or self.experiment.metrics)
        summary = self.summary(metrics)
        header = ["arm", *(self.experiment.metrics.get(m, m) for m in metrics), "seeds", "learned"]
        rows = []
        for arm, stats in summary.items():
            checks = [r["learned"] for r in self.rows if r["arm"] == arm and r["learned"] is not None]
            learned = "-" if not checks else f"{sum(checks)}/{len(checks)}"
            n = next(iter(stats.values()))[2] if stats else 0
            rows.append([self.experiment.label(arm), *(f"{stats[m][0]:.3f} ± {stats[m][1]:.3f}" for m in metrics),
                         str(n), learned])  # fmt: skip
        return header, rows

    def table_text(self, metrics: Sequence[str] | None = None) -> str:
        from ptmlab.viz.tables import table_text

        return table_text(*self.table(metrics))

    def table_figure(self, metrics: Sequence[str] | None = None, title: str = ""):
        from ptmlab.viz.tables import table_figure

        return table_figure(*self.table(metrics), title=title or self.experiment.title)

    def paper_table(self) -> tuple[list[str], list[list[str]]] | None:
        return self.experiment.paper_table(self)

    def paper_figure(self, title: str = ""):
        """The paper's numbers beside ours as a table figure (None when the chapter has no paper table)."""
        from ptmlab.viz.tables import table_figure

        table = self.paper_table()
        return None if table is None else table_figure(*table, title=title or "the paper beside ours")

    def figure(self, metrics: Mapping[str, str] | Sequence[str] | None = None, title: str = ""):
        """One panel per metric: a bar at each arm's mean with ± sd, one dot per seed."""
        from ptmlab.viz.tables import seeds_figure

        if metrics is None:
            metrics = dict(self.experiment.metrics)
        elif not isinstance(metrics, Mapping):
            metrics = {m: self.experiment.metrics.get(m, m) for m in metrics}
        return seeds_figure(self.rows, metrics, by="arm", labels=self.experiment.arm_names,
                            colours=self.experiment.arm_colours, title=title)  # fmt: skip

    def __repr__(self) -> str:
        runs = len(self.rows)
        return f"Comparison({self.experiment.name}: {runs} runs, arms {self.arms}, {len(self.unlearned())} not learned)"
