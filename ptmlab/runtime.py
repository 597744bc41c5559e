"""Runtime: device choice, presets, seeding, threads, cache paths and the offline guard.

Everything a chapter needs to know about the machine it runs on lives here, so notebooks stay short."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ptmlab.errors import OfflineError, PtmlabError

if TYPE_CHECKING:  # torch is imported lazily so `import ptmlab` stays fast
    import torch

PRESET_NAMES = ("smoke", "cpu", "gpu")
P = TypeVar("P")


# ----------------------------------------------------------------------------- device
def device_name() -> str:
    """'cuda', 'mps' or 'cpu': the best accelerator torch can use here (PTMLAB_DEVICE overrides)."""
    forced = os.environ.get("PTMLAB_DEVICE")
    if forced:
        return forced
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def get_device() -> torch.device:
    import torch

    return torch.device(device_name())


# ----------------------------------------------------------------------------- presets
def preset_name(requested: str | None = None) -> str:
    """Resolve a preset: an explicit name wins, then $PTMLAB_PRESET, then 'auto'.

    'auto' picks 'gpu' on CUDA or MPS and 'cpu' otherwise. Tests set PTMLAB_PRESET=smoke."""
    name = (requested or os.environ.get("PTMLAB_PRESET") or "auto").strip().lower()
    if name == "auto":
        return "gpu" if device_name() in ("cuda", "mps") else "cpu"
    if name not in PRESET_NAMES:
        raise PtmlabError(
            f"Unknown preset {name!r}.",
            fix=f"Use one of {', '.join(PRESET_NAMES)} or 'auto' (in code or in $PTMLAB_PRESET).",
        )
    return name


def pick_preset(presets: Mapping[str, P], requested: str | None = None, **overrides: Any) -> P:
    """Return the chapter's preset dataclass for the resolved preset name, with optional field overrides."""
    name = preset_name(requested)
    preset = presets[name]
    if overrides:
        preset = dataclasses.replace(preset, **overrides)  # type: ignore[type-var]
    return preset


# ----------------------------------------------------------------------------- seeds and threads
def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator seeded with `seed` for explicit use."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


SHARED_SERVER_VARIABLES = ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_PREFIX")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_choice() -> tuple[int, str]:
    """How many torch threads this process should use, and why.

    $PTMLAB_THREADS wins. On a JupyterHub (its variables are set) one thread: other learners share the cores, and on a
    2-core machine with anything else running, 2 threads ran 4-8x slower than 1 (measured, benchmarks/learning.py).
    Otherwise the cores the last minute's load left free (os.getloadavg), at least one: all of them on an idle machine."""
    env = os.environ.get("PTMLAB_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise PtmlabError(f"PTMLAB_THREADS={env!r} is not a number of threads.", fix="Set it to 1, 2, ... or unset it.")
        return int(env), "PTMLAB_THREADS"
    cores = usable_cores()
    if any(os.environ.get(name) for name in SHARED_SERVER_VARIABLES):
        return 1, "a shared JupyterHub server (PTMLAB_THREADS overrides)"
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return cores, f"all {cores} cores"
    free = max(1, min(cores, int(cores - load + 0.5)))
    if free < cores:
        return free, f"{free} of {cores} cores: the machine is busy (load {load:.1f}; PTMLAB_THREADS overrides)"
    return cores, f"all {cores} cores (an idle machine)"


def default_threads() -> int:
    return thread_choice()[0]


def set_threads(n: int | None = None) -> int:
    """Use `n` CPU threads (default: thread_choice(): $PTMLAB_THREADS, one on a JupyterHub, the free cores otherwise)."""
    import torch

    global _thread_reason
    if n is None:
        n, _thread_reason = thread_choice()
    else:
        _thread_reason = "asked for"
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


_thread_reason = "torch's default"


# ----------------------------------------------------------------------------- cache paths
def home() -> Path:
    """The user's writable cache: $PTMLAB_HOME, else ~/.cache/ptmlab (XDG_CACHE_HOME respected)."""
    env = os.environ.get("PTMLAB_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        path = base / "ptmlab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_cache() -> Path | None:
    """A read-only cache an instructor filled before a workshop ($PTMLAB_SHARED_CACHE), or None."""
    env = os.environ.get("PTMLAB_SHARED_CACHE")
    if not env:
        return None
    path = Path(env).expanduser()
    return path if path.is_dir() else None


def cache_dir(kind: str) -> Path:
    """A subfolder of the user's cache, e.g. cache_dir('runs') or cache_dir('downloads')."""
    path = home() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------- offline guard
def is_offline() -> bool:
    """True when the user asked for no network (PTMLAB_OFFLINE=1 or HF_HUB_OFFLINE=1)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("PTMLAB_OFFLINE", "HF_HUB_OFFLINE"))


def require_online(what: str) -> None:
    """Raise a clear OfflineError before any optional download when the user is offline."""
    if is_offline():
        raise OfflineError(
            f"{what} needs the internet, and offline mode is on (PTMLAB_OFFLINE or HF_HUB_OFFLINE).",
            fix="Use the bundled data (the default), or unset PTMLAB_OFFLINE on a machine with internet; "
            "downloads are cached under $PTMLAB_HOME/downloads for later offline use.",
        )


def describe() -> dict[str, Any]:
    """A summary for notebooks and `ptmlab doctor`: versions, device, preset, threads, caches."""
    import platform

    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device_name(),
        "preset": preset_name(),
        "threads": f"{torch.get_num_threads()} ({_thread_reason})",
        "cache": str(home()),
        "shared_cache": str(shared_cache()) if shared_cache() else None,
        "offline": is_offline(),
    }
