"""Chapter 03, contextual encoders: a CNN, a BiLSTM and a Transformer of equal size on subject-verb agreement.

Linzen et al. 2016 (number agreement as a probe of long-range syntax); Tang et al. 2018, "Why Self-Attention? A Targeted
Evaluation of Neural Machine Translation Architectures" (CNNs fail past their receptive field; self-attention does not
beat RNNs on long agreement); survey Section 2.2 (convolutional, sequential and self-attention encoders)."""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ptmlab.chapters.contextual_encoders.data import AgreementData, EncodedSet, make_agreement_data
from ptmlab.chapters.contextual_encoders.presets import (
    AGREEMENT_PRESETS,
    CONDITIONS,
    ENCODER_COLOURS,
    ENCODER_NAMES,
    ENCODERS,
    PAPER_CLAIMS,
    PROBE_VERSION,
    AgreementPreset,
    cnn_max_distance,
    cnn_reach,
)
from ptmlab.errors import CheckpointError, InputError
from ptmlab.experiment import Comparison, Experiment
from ptmlab.models.agreement import AgreementClassifier, AgreementModelConfig, count_parameters


# ----------------------------------------------------------------------------- matched sizes
def matched_configs(
    vocab_size: int, max_len: int, preset: AgreementPreset, n_classes: int = 2, encoders: Sequence[str] = ENCODERS
) -> dict[str, AgreementModelConfig]:
    """One config per encoder, same embedding size, sized to the Transformer's parameter count.

    The Transformer's size is fixed by its layers and d_model; the BiLSTM's hidden size and the CNN's inner width are
    then the ones whose totals come closest to it, so no encoder wins by being bigger."""
    base = dict(vocab_size=vocab_size, max_len=max_len, d_model=preset.d_model, n_classes=n_classes)
    heads = dict(n_layers=preset.transformer_layers, n_heads=preset.transformer_heads, dropout=preset.dropout)
    configs = {"transformer": AgreementModelConfig("transformer", **base, encoder=heads)}
    target = count_parameters(AgreementClassifier(configs["transformer"]))

    def closest(kind: str, knob: str, candidates: range, fixed: dict) -> AgreementModelConfig:
        def size(i: int) -> int:
            config = AgreementModelConfig(kind, **base, encoder={**fixed, knob: candidates[i]})
            return count_parameters(AgreementClassifier(config))

        low, high = 0, len(candidates) - 1  # the size grows with the knob: bisect for the first one >= target
        while low < high:
            mid = (low + high) // 2
            low, high = (mid + 1, high) if size(mid) < target else (low, mid)
        best = min({max(0, low - 1), low}, key=lambda i: abs(size(i) - target))
        return AgreementModelConfig(kind, **base, encoder={**fixed, knob: candidates[best]})

    if "bilstm" in encoders:
        lstm = dict(n_layers=preset.lstm_layers, dropout=preset.dropout)
        configs["bilstm"] = closest("bilstm", "hidden_size", range(4, 8 * preset.d_model + 1, 2), lstm)
    if "cnn" in encoders:
        cnn = dict(
            n_layers=preset.cnn_layers,
            kernel_size=preset.cnn_kernel,
            dilations=list(preset.cnn_dilations),
            dropout=preset.dropout,
        )
        configs["cnn"] = closest("cnn", "d_inner", range(4, 32 * preset.d_model + 1, 4), cnn)
    return {kind: configs[kind] for kind in encoders}


# ----------------------------------------------------------------------------- training and evaluation
@torch.no_grad()
def predict(model: AgreementClassifier, data: EncodedSet, batch_size: int = 256) -> torch.Tensor:
    """Predicted class ids for every example."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        part = data.subset(range(start, min(start + batch_size, len(data)))).to(device)
        out.append(model(part.input_ids, part.attention_mask, part.positions).argmax(-1).cpu())
    return torch.cat(out)


def accuracy_by_cell(model: AgreementClassifier, data: EncodedSet) -> list[dict]:
    """Accuracy per (distance, attractors yes/no) cell: rows {distance, attractors (0 or 1), accuracy, n}.

    Sentences with 1, 2 or more attractors share the "attractors" cell, weighted by how many there are."""
    correct = (predict(model, data) == data.labels).float()
    rows = []
    for distance in sorted(set(data.distances.tolist())):
        for attractors in (0, 1):
            cell = (data.distances == distance) & ((data.n_attractors > 0) == bool(attractors))
            if cell.any():
                accuracy, n = float(correct[cell].mean()), int(cell.sum())
                rows.append({"distance": distance, "attractors": attractors, "accuracy": accuracy, "n": n})
    return rows


@contextmanager
def cpu_threads(n: int):
    """Run with n CPU threads (0: leave torch's setting), then restore. For matrices this small a second thread costs
    more in synchronisation than it gives; on a 2-core CPU shared with other jobs, 2 threads were measured 20x slower
    than 1 (1.6 s vs 80 ms per step)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _training_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: EncodedSet) -> torch.Tensor:
    """One AdamW step on cross-entropy at the verb, gradients clipped to norm 1; returns the loss."""
    loss = F.cross_entropy(model(batch.input_ids, batch.attention_mask, batch.positions), batch.labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


def train_classifier(
    config: AgreementModelConfig, data: AgreementData, preset: AgreementPreset, seed: int, progress: bool = True
) -> tuple[AgreementClassifier, dict]:
    """Train one encoder + head with AdamW (warmup, cosine decay, clipping); returns (model, meta with the curve,
    the time, the speed and the test accuracy per cell)."""
    from tqdm.auto import tqdm

    from ptmlab.runtime import get_device
    from ptmlab.train.trainer import TrainConfig, lr_at

    device = get_device()
    torch.manual_seed(seed)
    model = AgreementClassifier(config).to(device)
    schedule = TrainConfig(steps=preset.steps, lr=preset.lr, warmup=max(1, preset.steps // 20))
    optimizer = torch.optim.AdamW(model.parameters(), lr=preset.lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)  # drives the batch order: same seed, same curve
    train, history, examples, tokens = data.train, [], 0, 0
    name = f"{ENCODER_NAMES[config.kind]} seed {seed}"
    bar = tqdm(total=preset.steps, desc=name, unit="step", mininterval=0.5, disable=not progress, leave=False)
    with cpu_threads(preset.threads if device.type == "cpu" else 0):
        start = time.perf_counter()
        model.train()
        for step in range(preset.steps):
            batch = train.subset(torch.randint(0, len(train), (preset.batch_size,), generator=generator))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, schedule)
            loss = _training_step(model, optimizer, batch.to(device)).item()
            examples += len(batch)
            tokens += int(batch.attention_mask.sum())
            history.append({"step": step + 1, "loss": round(loss, 5)})
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
        seconds = time.perf_counter() - start
        bar.close()
        cells = accuracy_by_cell(model, data.test)
    meta = {
        "history": history,
        "seconds": seconds,
        "examples_per_second": examples / max(seconds, 1e-9),
        "tokens_per_second": tokens / max(seconds, 1e-9),
        "parameters": count_parameters(model),
        "cells": cells,
        "label_names": data.label_names,
        "tokenizer": data.tokenizer.to_dict(),
        "device": str(device),
        "threads": preset.threads,
    }
    return model.cpu().eval(), meta


def _load_or_train(key: str, config: dict, build: AgreementModelConfig, train, retrain: bool = False):
    """`ptmlab.train.cache.load_or_train`, rebuilding the classifier from its own config when loading.

    The generic loader rebuilds models as Transformers (heads.build_model), so a cached CNN or BiLSTM is loaded here
    into a freshly built AgreementClassifier of the recorded config instead."""
    from ptmlab.train.cache import Run, find_cached, load_or_train
    from ptmlab.train.checkpoint import load_checkpoint

    path = None if retrain else find_cached(key, config)
    if path is not None:
        try:
            model, sidecar = load_checkpoint(path, model=AgreementClassifier(build))
            return Run(model.eval(), sidecar["meta"], path, from_cache=True)
        except CheckpointError as err:
            print(f"Ignoring a damaged cached run ({err.message}); training again.")
            retrain = True
    return load_or_train(key, config, train, retrain=retrain)


@dataclass
class AgreementRun:
    kind: str
    seed: int
    model: AgreementClassifier
    meta: dict
    from_cache: bool

    @property
    def cells(self) -> list[dict]:
        return self.meta["cells"]

    @property
    def parameters(self) -> int:
        return int(self.meta["parameters"])


# ----------------------------------------------------------------------------- results
@dataclass
class AgreementResults:
    preset: AgreementPreset
    data: AgreementData
    runs: list[AgreementRun]
    configs: dict[str, AgreementModelConfig]
    speed: list[dict] = field(default_factory=list)  # filled by benchmark_speed(): interleaved timings

    @property
    def encoders(self) -> list[str]:
        return list(dict.fromkeys(run.kind for run in self.runs))

    def model(self, kind: str, seed: int | None = None) -> AgreementClassifier:
        for run in self.runs:
            if run.kind == kind and (seed is None or run.seed == seed):
                return run.model
        raise InputError(f"No trained {kind!r} model (seed {seed}).", fix=f"Pick one of {self.encoders}.")

    def accuracy(self, kind: str, condition: str, distances: Sequence[int] | None = None) -> list[float]:
        """Per seed: mean accuracy over the chosen distances (default all) in one condition."""
        if condition not in CONDITIONS:
            raise InputError(f"Unknown condition {condition!r}.", fix=f"Use one of {CONDITIONS}.")
        per_seed = []
        for run in (r for r in self.runs if r.kind == kind):
            values = [
                c["accuracy"]
                for c in run.cells
                if CONDITIONS[c["attractors"] > 0] == condition and (distances is None or c["distance"] in distances)
            ]
            if values:
                per_seed.append(sum(values) / len(values))
        return per_seed

    def summary(self) -> list[dict]:
        """Rows {encoder, condition, distance, mean, sd, n_seeds, per_seed}: accuracy over seeds for every cell."""
        rows = []
        for kind in self.encoders:
            for condition in CONDITIONS:
                for distance in self.preset.distances:
                    values = self.accuracy(kind, condition, [distance])
                    if values:
                        mean, sd = _mean_sd(values)
                        row = dict(encoder=kind, condition=condition, distance=distance, mean=mean, sd=sd)
                        rows.append({**row, "n_seeds": len(values), "per_seed": values})
        return rows

    def params_speed(self) -> list[dict]:
        """Rows {encoder, parameters, examples_per_second (mean, sd), seconds} from the training runs themselves."""
        rows = []
        for kind in self.encoders:
            runs = [r for r in self.runs if r.kind == kind]
            speed, speed_sd = _mean_sd([r.meta["examples_per_second"] for r in runs])
            rows.append(
                {
                    "encoder": kind,
                    "parameters": runs[0].parameters,
                    "examples_per_second": speed,
                    "examples_per_second_sd": speed_sd,
                    "seconds": statistics.fmean(r.meta["seconds"] for r in runs),
                    "from_cache": all(r.from_cache for r in runs),
                }
            )
        return rows

    def findings(self) -> dict[str, Any]:
        """The two directions of Tang et al. 2018, measured per condition: (mean, sd) over seeds and a yes/no each.

        near / far: distances at which the CNN's verb vector can / cannot see the subject; long: the longest third of
        the distances. A verdict needs the gap to exceed twice the seeds' spread, so noise alone does not decide it."""
        visible, distances = cnn_max_distance(self.preset), self.preset.distances
        groups = {
            "near": [d for d in distances if d <= visible],
            "far": [d for d in distances if d > visible],
            "long": sorted(distances)[-max(1, len(distances) // 3) :],
        }
        out: dict[str, Any] = {"cnn_max_distance": visible, **groups}
        for kind in self.encoders:
            for condition in CONDITIONS:
                for name, group in groups.items():
                    values = self.accuracy(kind, condition, group) if group else []
                    if values:
                        out[f"{kind}|{condition}|{name}"] = _mean_sd(values)
        for condition in CONDITIONS:
            near, far = out.get(f"cnn|{condition}|near"), out.get(f"cnn|{condition}|far")
            if near and far:
                out[f"cnn_degrades|{condition}"] = near[0] - far[0] > 2 * (near[1] + far[1]) + 0.05
            attention, rnn = out.get(f"transformer|{condition}|long"), out.get(f"bilstm|{condition}|long")
            if attention and rnn:  # "beats": clearly above the RNN, by more than twice the larger spread (and 1 point)
                out[f"attention_beats_rnn|{condition}"] = attention[0] > rnn[0] + 2 * max(attention[1], rnn[1]) + 0.01
        return out

    def report(self) -> str:
        """The two claims of Tang et al. 2018 beside what this run measured (mean ± sd over seeds), as a table."""
        f = self.findings()
        rows = [("direction", "Tang et al. 2018", "this run (mean ± sd over seeds)")]
        for c in CONDITIONS:
            if f"cnn_degrades|{c}" in f:
                name = f"CNN, d <= {f['cnn_max_distance']} -> beyond its reach ({c})"
                verdict = "falls" if f[f"cnn_degrades|{c}"] else "NO clear fall"
                measured = _versus(f[f"cnn|{c}|near"], "->", f[f"cnn|{c}|far"])
                rows.append((name, PAPER_CLAIMS["cnn"], f"{measured}: {verdict}"))
        for c in CONDITIONS:
            if f"attention_beats_rnn|{c}" in f:
                name = f"Transformer vs BiLSTM, d in {f['long']} ({c})"
                verdict = "BEATS the RNN" if f[f"attention_beats_rnn|{c}"] else "does not beat the RNN"
                measured = _versus(f[f"transformer|{c}|long"], "vs", f[f"bilstm|{c}|long"])
                rows.append((name, PAPER_CLAIMS["transformer"], f"{measured}: {verdict}"))
        return _text_table(rows)

    def accuracy_table(self) -> str:
        """Mean ± sd over seeds per distance (rows) for each encoder and condition (columns)."""
        columns = [(k, c) for c in CONDITIONS for k in self.encoders]
        by_key = {(r["encoder"], r["condition"], r["distance"]): r for r in self.summary()}
        rows = [("distance", *(f"{ENCODER_NAMES[k]} ({c})" for k, c in columns))]
        for distance in self.preset.distances:
            cells = [by_key.get((k, c, distance)) for k, c in columns]
            rows.append((str(distance), *(f"{r['mean']:.3f} ± {r['sd']:.3f}" if r else "-" for r in cells)))
        seeds = sorted({r.seed for r in self.runs})
        return _text_table(rows) + (
            f"\n(mean ± sd over seeds {seeds}; {self.data.test.labels.numel()} test sentences; the CNN sees "
            f"{cnn_reach(self.preset)} tokens left of the verb, so the subject up to distance "
            f"{cnn_max_distance(self.preset)})"
        )

    def benchmark_speed(self, steps: int | None = None, rounds: int = 3, batch_size: int | None = None) -> list[dict]:
        """Time training steps and forward passes of every encoder, interleaved (A, B, C, A, B, C, ...) on the same
        batch, so a busy machine slows all of them alike; the median round counts. Rows {encoder, train/infer
        examples_per_second}; also kept in `self.speed` for the tables. Training runs are timed too, but at different
        moments, so on a shared CPU their speeds are not comparable."""
        from ptmlab.runtime import get_device

        steps = steps or self.preset.benchmark_steps
        batch_size = min(batch_size or self.preset.batch_size, len(self.data.train))
        rows = torch.randperm(len(self.data.train), generator=torch.Generator().manual_seed(0))[:batch_size]
        device = get_device()
        batch = self.data.train.subset(rows).to(device)  # a random batch: every distance, as in training
        timings: dict[str, dict[str, list[float]]] = {k: {"train": [], "infer": []} for k in self.encoders}
        with cpu_threads(self.preset.threads if device.type == "cpu" else 0):
            for _ in range(rounds):
                for kind in self.encoders:
                    model = copy.deepcopy(self.model(kind)).to(device)  # never touch the trained models
                    timings[kind]["train"].append(_time_steps(model, batch, steps, train=True))
                    timings[kind]["infer"].append(_time_steps(model, batch, steps, train=False))
        self.speed = [
            {
                "encoder": kind,
                "train_examples_per_second": len(batch) / statistics.median(t["train"]),
                "infer_examples_per_second": len(batch) / statistics.median(t["infer"]),
                "batch": len(batch),
                "device": str(device),
            }
            for kind, t in timings.items()
        ]
        return self.speed

    def params_speed_table(self) -> str:
        """Parameters and speed per encoder. Speeds come from the interleaved benchmark when it ran (comparable on a
        busy machine), else from the training runs themselves (timed at different moments)."""
        bench = {row["encoder"]: row for row in self.speed}
        source = "interleaved benchmark" if bench else "training runs"
        rows = [("encoder", "parameters", "s per training run", f"train examples/s ({source})", "inference examples/s")]
        for row in self.params_speed():
            b = bench.get(row["encoder"])
            train = b["train_examples_per_second"] if b else row["examples_per_second"]
            infer = f"{b['infer_examples_per_second']:,.0f}" if b else "-"
            seconds = f"{row['seconds']:.1f}" + (" (cached)" if row["from_cache"] else "")
            rows.append((ENCODER_NAMES[row["encoder"]], f"{row['parameters']:,}", seconds, f"{train:,.0f}", infer))
        return _text_table(rows)

    def figure(self, encoders: Sequence[str] | None = None, conditions: Sequence[str] = CONDITIONS):
        """Accuracy vs distance, one line per encoder (mean over seeds, bars = ± sd), one panel per condition."""
        from ptmlab.chapters.contextual_encoders.figures import accuracy_figure

        return accuracy_figure(self.summary(), cnn_max_distance(self.preset), encoders or self.encoders, conditions)


# ----------------------------------------------------------------------------- running every encoder and seed
def run_agreement(
    preset: AgreementPreset | str | None = None,
    *,
    encoders: Sequence[str] = ENCODERS,
    seeds: Sequence[int] | None = None,
    retrain: bool = False,
    progress: bool = True,
    data: AgreementData | None = None,
    workers: int | None = None,
) -> AgreementResults:
    """Train (or load from the cache) every encoder for every seed and measure accuracy per distance and condition.

    workers > 1 trains that many runs at once in separate processes (one thread each), which on a 2-core CPU nearly
    halves the wall time; the results are the same as one after the other. Default: the preset's `workers`."""
    from ptmlab.runtime import get_device
    from ptmlab.train.cache import find_cached

    preset = EXPERIMENT.preset(preset)
    unknown = [e for e in encoders if e not in ENCODERS]
    if unknown:
        raise InputError(f"Unknown encoder(s) {unknown}.", fix=f"Use some of {', '.join(ENCODERS)}.")
    data = data or make_agreement_data(preset)
    configs = matched_configs(data.vocab_size, data.max_len, preset, len(data.label_names), encoders)
    jobs = []
    for seed in seeds if seeds is not None else preset.seeds:
        for kind in encoders:
            jobs.append((kind, seed, training_config(kind, seed, preset, data, configs[kind])))
    workers = preset.workers if workers is None else workers
    to_train = [(kind, seed) for kind, seed, key in jobs if retrain or find_cached(f"agreement-{kind}", key) is None]
    trained: dict[tuple[str, int], tuple[dict, dict]] = {}
    if workers > 1 and len(to_train) > 1 and get_device().type == "cpu":
        trained = _train_in_processes(to_train, configs, data, preset, workers, progress)
    runs = []
    for kind, seed, key_config in jobs:
        if (kind, seed) in trained:
            train = partial(_from_state, configs[kind], *trained[(kind, seed)])
        else:
            train = partial(train_classifier, configs[kind], data, preset, seed, progress)
        run = _load_or_train(f"agreement-{kind}", key_config, configs[kind], train, retrain=retrain)
        runs.append(AgreementRun(kind, seed, run.model.eval(), run.meta, run.from_cache))
    return AgreementResults(preset, data, runs, configs)


def training_config(
    kind: str, seed: int, preset: AgreementPreset, data: AgreementData, config: AgreementModelConfig
) -> dict:
    """The cache key of one training run (unchanged since chapter 03 lived in ptmlab.probe.agreement)."""
    return {
        "task": "agreement",
        "version": PROBE_VERSION,
        "preset": _training_fields(preset),
        "model": config.to_dict(),
        "seed": seed,
        "data": data.fingerprint,
    }


def _train_in_processes(
    jobs: list[tuple[str, int]],
    configs: dict[str, AgreementModelConfig],
    data: AgreementData,
    preset: AgreementPreset,
    workers: int,
    progress: bool,
) -> dict[tuple[str, int], tuple[dict, dict]]:
    """Train independent runs in `workers` processes; returns {(kind, seed): (weights as numpy, meta)}.

    Each process rebuilds the data from the preset (it is deterministic; the fingerprint is checked) rather than
    receiving it. Anything going wrong here falls back to training one run after the other."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    out: dict[tuple[str, int], tuple[dict, dict]] = {}
    bar = tqdm(total=len(jobs), desc=f"agreement runs ({workers} processes)", unit="run", disable=not progress)
    try:
        # "spawn" starts clean interpreters: forking a process whose torch thread pool is running can hang.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(_train_job, configs[kind], preset, seed, data.fingerprint): (kind, seed)
                for kind, seed in jobs
            }
            for future in as_completed(futures):
                kind, seed = futures[future]
                out[(kind, seed)] = future.result()
                bar.update(1)
                bar.set_postfix_str(f"{ENCODER_NAMES[kind]} seed {seed} done")
    except Exception as err:  # a sandbox without process spawning, a changed generator: train serially instead
        print(f"Training in processes failed ({type(err).__name__}: {err}); training one run after the other.")
        out = {}
    finally:
        bar.close()
    return out


_WORKER_DATA: dict[str, AgreementData] = {}


def _train_job(config: AgreementModelConfig, preset: AgreementPreset, seed: int, fingerprint: str):
    """Runs in a worker process: rebuild the data (once per process), train, return numpy weights and the meta."""
    key = json.dumps(_training_fields(preset), sort_keys=True, default=str)
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = make_agreement_data(preset)
    data = _WORKER_DATA[key]
    if data.fingerprint != fingerprint:
        raise InputError("The worker built different data.", fix="Pass workers=1 when you bring your own data.")
    model, meta = train_classifier(config, data, preset, seed, progress=False)
    return {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}, meta


def _from_state(config: AgreementModelConfig, state: dict, meta: dict) -> tuple[AgreementClassifier, dict]:
    model = AgreementClassifier(config)
    model.load_state_dict({name: torch.from_numpy(array) for name, array in state.items()})
    return model.eval(), meta


def attention_example(
    results: AgreementResults, *, attractors: bool = True, seed: int | None = None, index: int | None = None
) -> dict:
    """The trained Transformer's attention on a long-distance test sentence (the longest with attractors by default).

    Returns {"tokens", "attentions" (per layer [1, heads, T, T]), "prediction", "label", "distance", "verb_index",
    "index"}."""
    test = results.data.test
    if index is None:
        candidates = torch.nonzero((test.n_attractors > 0) == attractors).flatten()
        if len(candidates) == 0:
            candidates = torch.arange(len(test))
        longest = test.distances[candidates].max()
        index = int(candidates[test.distances[candidates] == longest][0])
    if not 0 <= index < len(test):
        raise InputError(f"index {index} is outside the {len(test)} test sentences.", fix="Pick a smaller index.")
    one = test.subset([index])
    model = results.model("transformer", seed)
    with torch.no_grad():
        out = model.encoder(one.input_ids, one.attention_mask, output_attentions=True)
        logits = model(one.input_ids, one.attention_mask, one.positions)
    names = results.data.label_names
    return {
        "tokens": one.tokens[0],
        "attentions": [a.detach() for a in out.attentions],
        "prediction": names[int(logits.argmax(-1))],
        "label": names[int(one.labels[0])],
        "distance": int(one.distances[0]),
        "verb_index": int(one.positions[0]),
        "index": index,
    }


# ----------------------------------------------------------------------------- helpers
def _time_steps(model: AgreementClassifier, batch: EncodedSet, steps: int, train: bool) -> float:
    """Seconds per step (one warm-up step first): a training step with AdamW, or a forward pass without gradients."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4) if train else None
    model.train(train)

    def step() -> None:
        if optimizer is not None:
            _training_step(model, optimizer, batch)
        else:
            with torch.no_grad():
                model(batch.input_ids, batch.attention_mask, batch.positions)

    step()
    _synchronize(batch.input_ids.device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(batch.input_ids.device)  # GPU kernels run asynchronously: wait for them before reading the clock
    return (time.perf_counter() - start) / steps


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _training_fields(preset: AgreementPreset) -> dict:
    """The preset fields that change a trained model (the cache key): not the seed list or the expectation text."""
    ignored = ("seeds", "threads", "benchmark_steps", "workers", "expected", "expected_minutes")
    return {k: v for k, v in asdict(preset).items() if k not in ignored}


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _versus(a: tuple[float, float], joint: str, b: tuple[float, float]) -> str:
    return f"{a[0]:.2f} ± {a[1]:.2f} {joint} {b[0]:.2f} ± {b[1]:.2f}"


def _text_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text columns, padded to the widest cell, with a rule under the header row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the Experiment
METRICS = {
    "no_attractors": "accuracy, no attractors",
    "attractors": "accuracy, with attractors",
    "near": "accuracy within the CNN's reach (no attractors)",
    "far": "accuracy beyond the CNN's reach (no attractors)",
    "long_attractors": "accuracy at the longest distances, with attractors",
}


def agreement_scores(cells: Sequence[dict], preset: AgreementPreset) -> dict[str, float]:
    """One run's metrics (METRICS) from its accuracy per (distance, attractors) cell: means over the cells' distances,
    as AgreementResults.accuracy computes them per seed. A metric with no cell (no distance beyond reach) is absent."""
    visible, distances = cnn_max_distance(preset), preset.distances
    groups = {
        "no_attractors": ("no attractors", None),
        "attractors": ("attractors", None),
        "near": ("no attractors", [d for d in distances if d <= visible]),
        "far": ("no attractors", [d for d in distances if d > visible]),
        "long_attractors": ("attractors", sorted(distances)[-max(1, len(distances) // 3) :]),
    }
    scores = {}
    for name, (condition, group) in groups.items():
        values = [
            c["accuracy"]
            for c in cells
            if CONDITIONS[c["attractors"] > 0] == condition and (group is None or c["distance"] in group)
        ]
        if values and (group is None or group):
            scores[name] = sum(values) / len(values)
    return scores


@lru_cache(maxsize=4)
def _data(preset: AgreementPreset) -> AgreementData:
    return make_agreement_data(preset)


class ContextualEncodersExperiment(Experiment[AgreementPreset]):
    """Chapter 03 on the protocol: arms = the three encoders (sized to the same parameter count), seeds = the preset's;
    a run trains one encoder + head on agreement and the scores are its test accuracies per condition and distance.

    run() first trains every missing run through run_agreement (in `workers` processes on a CPU, as the preset says),
    then scores them; results(preset) gives the AgreementResults of the last run (tables, figures, attention)."""

    name = "03_contextual_encoders"
    title = "Subject-verb agreement: CNN vs BiLSTM vs Transformer"
    presets = AGREEMENT_PRESETS
    arms = ENCODERS
    arm_names = ENCODER_NAMES
    arm_colours = ENCODER_COLOURS
    metrics = METRICS
    direction = ("far", "transformer", "cnn")  # Tang et al. 2018: past its receptive field the CNN falls behind

    _results: AgreementResults | None = None

    def data(self, preset: AgreementPreset) -> AgreementData:
        return _data(preset)

    def run(
        self,
        preset: AgreementPreset | str | None = None,
        *,
        arms: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
        progress: Callable[[str], None] | None = print,
        rescore: bool = False,
        retrain: bool = False,
        workers: int | None = None,
    ) -> Comparison:
        preset = self.preset(preset)
        encoders = tuple(arms or self.arms_of(preset))
        self._results = run_agreement(preset, encoders=encoders, seeds=seeds, retrain=retrain,
                                      progress=progress is not None, data=self.data(preset), workers=workers)  # fmt: skip
        return super().run(preset, arms=encoders, seeds=seeds, progress=progress, rescore=rescore)

    def pretrain(self, arm: str, preset: AgreementPreset, seed: int, data: AgreementData):
        from ptmlab.train.cache import Run

        results = self._results
        if results is None or results.preset != preset or results.data.fingerprint != data.fingerprint:
            results = run_agreement(preset, encoders=[arm], seeds=[seed], data=data, workers=1, progress=False)
        run = next((r for r in results.runs if (r.kind, r.seed) == (arm, seed)), None)
        if run is None:
            run = run_agreement(preset, encoders=[arm], seeds=[seed], data=data, workers=1, progress=False).runs[0]
        config = training_config(arm, seed, preset, data, results.configs.get(arm) or _config_of(run))
        return Run(run.model, {**run.meta, "config": config}, None, from_cache=run.from_cache)

    def score(self, arm: str, run, data: AgreementData, preset: AgreementPreset, seed: int) -> dict[str, float]:
        return agreement_scores(run.meta["cells"], preset)

    def score_config(self, arm, run, preset, seed):
        # JSON-normal (tuples as lists), so the key read back from the score cache compares equal to it
        return json.loads(json.dumps(super().score_config(arm, run, preset, seed)))

    def results(self, preset: AgreementPreset | str | None = None) -> AgreementResults:
        """The last run()'s AgreementResults for this preset (trained or loaded now when there is none)."""
        preset = self.preset(preset)
        if self._results is None or self._results.preset != preset:
            self._results = run_agreement(preset, data=self.data(preset))
        return self._results

    def paper_table(self, comparison: Comparison) -> tuple[list[str], list[list[str]]]:
        """Tang et al. 2018's two claims, in words, beside our mean ± sd over seeds."""
        summary = comparison.summary()

        def shown(arm: str, metric: str) -> str:
            mean, sd, _ = summary.get(arm, {}).get(metric, (float("nan"), 0.0, 0))
            return f"{mean:.2f} ± {sd:.2f}"

        return ["claim", "Tang et al. 2018", "ours (mean ± sd over seeds)"], [
            ["CNN: within its reach -> beyond it", PAPER_CLAIMS["cnn"], f"{shown('cnn', 'near')} -> {shown('cnn', 'far')}"],
            ["Transformer vs BiLSTM, longest distances, attractors", PAPER_CLAIMS["transformer"],
             f"{shown('transformer', 'long_attractors')} vs {shown('bilstm', 'long_attractors')}"],
        ]  # fmt: skip


def _config_of(run: AgreementRun) -> AgreementModelConfig:
    return run.model.config


EXPERIMENT = ContextualEncodersExperiment()
