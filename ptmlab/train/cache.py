"""Load-or-train: a finished run is saved under the hash of its config and reused instead of retrained.

Lets a workshop room skip waiting: an instructor fills a read-only shared cache ($PTMLAB_SHARED_CACHE) beforehand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ptmlab.errors import CheckpointError
from ptmlab.io import config_hash
from ptmlab.train.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class Run:
    model: torch.nn.Module
    meta: dict[str, Any] = field(default_factory=dict)  # history, evals, tokenizer, anything the trainer saved
    path: Path | None = None
    from_cache: bool = False
    check: Any = None  # the "did it learn?" verdict (ptmlab.experiment.LearningCheck), once a chapter has judged it

    @property
    def history(self) -> list[dict]:
        return self.meta.get("history", [])

    @property
    def evals(self) -> list[dict]:
        return self.meta.get("evals", [])


def run_path(key: str, config: dict[str, Any], root: Path | None = None) -> Path:
    from ptmlab.runtime import cache_dir

    return (root or cache_dir("runs")) / f"{key}-{config_hash(config)[:16]}.safetensors"


def find_cached(key: str, config: dict[str, Any]) -> Path | None:
    """The shared cache first (an instructor's), then the user's own."""
    from ptmlab.runtime import shared_cache

    shared = shared_cache()  # laid out like $PTMLAB_HOME: an instructor fills it with PTMLAB_HOME=<shared dir>
    for root in ([shared / "runs"] if shared else []) + [None]:
        path = run_path(key, config, root)
        if path.exists() and path.with_suffix(".json").exists():
            return path
    return None


def load_or_train(
    key: str, config: dict[str, Any], train: Callable[[], tuple[torch.nn.Module, dict[str, Any]]], retrain: bool = False
) -> Run:
    """Return the cached run for (key, config) if one exists, else call `train()` -> (model, meta), save, return it.

    `config` must hold everything that changes the result (sizes, steps, seed, corpus), as it is the cache key."""
    if not retrain:
        path = find_cached(key, config)
        if path is not None:
            try:
                model, sidecar = load_checkpoint(path)
                model.eval()
                return Run(model, sidecar["meta"], path, from_cache=True)
            except CheckpointError as err:  # a damaged cached file: say so and train again rather than fail
                print(f"Ignoring a damaged cached run ({err.message}); training again.")
    model, meta = train()
    if meta.get("interrupted"):  # keep the partial model for the user, but never cache it as the finished run
        print("The run was interrupted, so it is returned but not cached.")
        return Run(model, {**meta, "config": config, "key": key}, None, from_cache=False)
    path = run_path(key, config)
    save_checkpoint(path, model, {**meta, "config": config, "key": key})
    return Run(model, {**meta, "config": config, "key": key}, path, from_cache=False)
