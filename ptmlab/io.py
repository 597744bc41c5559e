"""Files the course writes: atomic writes with shareable file modes, JSON read back safely, and stable config hashes.

Low in the house (only errors below it) so data/, models/ and train/ share one way to write a cache file."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain open() would give a new file (0o666 less the umask): mkstemp's 0o600 would hide a shared
    cache an instructor fills from every learner."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, give it the umask's mode, then rename over `path`: readers see
    the old file or the new one, never half of one, whatever moment the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, value: Any) -> Path:
    return atomic_write_text(path, json.dumps(value, ensure_ascii=False, default=str))


def read_json(path: str | Path) -> Any | None:
    """The JSON in `path`, or None when it is missing or damaged (a cache entry to rebuild, never to trust)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-able config: the cache key of a training run or a score."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
