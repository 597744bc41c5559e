"""Checkpoints: safetensors weights + a JSON sidecar, written atomically and verified by hash on load.

safetensors (Hugging Face) stores raw tensors, so loading a file never runs code, unlike pickle-based torch.save."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ptmlab.errors import CheckpointError
from ptmlab.io import atomic_write_bytes, atomic_write_text, config_hash  # noqa: F401  (config_hash: re-exported)

FORMAT = "ptmlab-checkpoint-1"


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any] | None = None) -> Path:
    """Save `model` to `path` (a .safetensors file) and `path.json` with its class, config and hash.

    `meta` may hold anything JSON-able: the training config, the loss history, the tokenizer."""
    from safetensors.torch import save

    path = Path(path).with_suffix(".safetensors")
    # Tied weights share storage; safetensors refuses shared tensors, so store each tensor once by its first name.
    state, seen = {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tensor.shape, tensor.dtype)
        if key in seen:
            continue
        seen[key] = name
        state[name] = tensor.detach().cpu().contiguous()
    blob = save(state, metadata={"format": FORMAT})
    sidecar = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": model.config.to_dict() if hasattr(model, "config") else {},
        "sha256": hashlib.sha256(blob).hexdigest(),
        "meta": meta or {},
    }
    atomic_write_bytes(path, blob)
    atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=1, default=str))
    return path


def read_sidecar(path: str | Path) -> dict[str, Any]:
    path = Path(path).with_suffix(".json")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(f"No checkpoint at {path.with_suffix('')}.", fix="Check the path or train the model.") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt.", fix="Delete the checkpoint and train again.") from err
    if sidecar.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ptmlab checkpoint.", fix="Pass a file saved by ptmlab's save_checkpoint.")
    return sidecar


def load_checkpoint(
    path: str | Path, model: torch.nn.Module | None = None, expected_config: dict | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load weights into `model` (or a model rebuilt from the sidecar). Returns (model, sidecar).

    Refuses, with a message naming the fix, a file that is truncated or altered (hash), or one whose config differs from
    `expected_config` or from `model`'s."""
    from safetensors.torch import load

    path = Path(path).with_suffix(".safetensors")
    sidecar = read_sidecar(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as err:
        raise CheckpointError(f"The weights file {path} is missing.", fix="Train again; only the config survived.") from err
    if hashlib.sha256(blob).hexdigest() != sidecar["sha256"]:
        raise CheckpointError(
            f"{path} does not match its recorded hash: the file is truncated or was changed.",
            fix="Delete this checkpoint and train again (or copy it again if it came from elsewhere).",
        )
    saved_config = sidecar["model_config"]
    wanted = expected_config if expected_config is not None else getattr(getattr(model, "config", None), "to_dict", dict)()
    if wanted:
        diffs = {k: (saved_config.get(k), v) for k, v in wanted.items() if saved_config.get(k) != v}
        if diffs:
            listed = ", ".join(f"{k}: saved {a} vs wanted {b}" for k, (a, b) in list(diffs.items())[:4])
            raise CheckpointError(
                f"This checkpoint was trained with a different configuration ({listed}).",
                fix="Load it without forcing a config (load_checkpoint(path)) or build the model with the saved config.",
            )
    if model is None:
        from ptmlab.models.heads import build_model

        model = build_model(sidecar["model_class"], saved_config)
    try:
        state = load(blob)
    except Exception as err:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(f"{path} could not be read: {err}.", fix="Delete it and train again.") from err
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(
            "The checkpoint's tensors do not fit this model's shapes (it was trained with another configuration).",
            fix="Load it with load_checkpoint(path) alone, which rebuilds the model it was saved from.",
        ) from err
    # Tied weights were stored once; everything else must be present.
    real_missing = [k for k in missing if not _is_tied(model, k, state)]
    if real_missing or unexpected:
        raise CheckpointError(
            f"The checkpoint does not fit this model (missing {real_missing[:3]}, unexpected {unexpected[:3]}).",
            fix="Build the model class recorded in the checkpoint, or load with load_checkpoint(path) alone.",
        )
    return model, sidecar


def _is_tied(model: torch.nn.Module, key: str, state: dict) -> bool:
    param = model.state_dict()[key]
    return any(param.data_ptr() == p.data_ptr() for k, p in model.state_dict().items() if k in state)
