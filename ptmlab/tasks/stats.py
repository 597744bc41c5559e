"""Statistics over seeds: mean and spread, a paired direction (does a beat b, seed by seed?), balanced accuracy.

Small models are noisy; a direction is only read off several seeds (Dodge et al. 2020 on fine-tuning variance)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ptmlab.errors import InputError


def mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, n); the sd of a single value is 0.0."""
    values = [float(v) for v in values]
    if not values:
        raise InputError("No values to average.", fix="Run at least one seed.")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def summarize(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], by: str = "objective"
) -> dict[str, dict[str, tuple[float, float, int]]]:
    """group -> metric -> (mean, sd, n) over the rows (one row per run) sharing the value of `by`, in first-seen order."""
    out = {}
    for group in dict.fromkeys(r[by] for r in rows):
        members = [r for r in rows if r[by] == group]
        out[group] = {m: mean_sd([r[m] for r in members]) for m in metrics}
    return out


def paired_direction(
    rows: Sequence[Mapping[str, Any]], metric: str, a: str, b: str, by: str = "objective"
) -> dict[str, Any]:
    """Does `a` beat `b` on `metric`? Seeds are paired (same seed = same data order and initial weights): the mean
    difference a - b, the number of seeds where a wins, and `clear`: |mean| > 2 standard errors of the differences (a
    rule of thumb, not a significance test; never clear with one seed)."""
    by_seed = {name: {r["seed"]: r[metric] for r in rows if r[by] == name} for name in (a, b)}
    seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
    if not seeds:
        raise InputError(f"No seed has both {a!r} and {b!r}.", fix="Run both with the same seeds.")
    diffs = [by_seed[a][s] - by_seed[b][s] for s in seeds]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("inf")
    return {
        "metric": metric,
        "a": a,
        "b": b,
        "mean_difference": mean,
        "wins": sum(d > 0 for d in diffs),
        "seeds": len(seeds),
        "clear": abs(mean) > 2 * se,
    }


def final_loss(history: Sequence[Mapping[str, float]], fraction: float = 0.1) -> float:
    """Mean training loss over the last `fraction` of the steps (one step's loss is too noisy to compare runs)."""
    if not history:
        return float("nan")
    tail = history[-max(1, int(len(history) * fraction)) :]
    return statistics.fmean(r["loss"] for r in tail)


def balanced_accuracy(guess: torch.Tensor, truth: torch.Tensor) -> float:
    """The mean of per-class recalls over the classes present in `truth` (chance 1 / number of classes)."""
    recalls = [float((guess[truth == c] == c).float().mean()) for c in truth.unique().tolist()]
    return sum(recalls) / len(recalls)
