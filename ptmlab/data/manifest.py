"""Data manifest: where each external data file lives, its checksum, licence and credit.

Every file ships inside an installed package (gensim's test fixtures); see data/README.md for the sources."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from ptmlab.errors import DataError, InputError

# Verified files for this process: (path, size, mtime_ns, expected sha256). Hashing the 1.7 MB Wikipedia extract
# costs a few milliseconds, but corpora and word lists are loaded many times per notebook.
_VERIFIED: set[tuple[str, int, int, str]] = set()
_MANIFEST_CACHE: dict[str, dict[str, dict[str, Any]]] = {}


def data_dir() -> Path:
    """The project's data/ folder: $PTMLAB_DATA if set, else data/ next to the ptmlab package (a source checkout)."""
    env = os.environ.get("PTMLAB_DATA")
    path = Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"
    if not (path / "manifest.json").is_file():
        raise DataError(
            f"ptmlab's data folder was not found at {path} (no manifest.json there).",
            fix="Install ptmlab from a source checkout (`pip install -e .` in the repository), "
            "or set PTMLAB_DATA to the repository's data/ folder.",
        )
    return path


def manifest() -> dict[str, dict[str, Any]]:
    """name -> {package, requirement, path, sha256, size, licence, source, credit}, read from data/manifest.json."""
    path = data_dir() / "manifest.json"
    key = str(path)
    if key not in _MANIFEST_CACHE:
        raw = json.loads(path.read_text(encoding="utf-8"))
        _MANIFEST_CACHE[key] = {name: entry for name, entry in raw.items() if not name.startswith("_")}
    return _MANIFEST_CACHE[key]


def _package_root(package: str) -> Path | None:
    """The folder of an installed package, found without importing (executing) it."""
    spec = importlib.util.find_spec(package)  # a top-level name: finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, *, what: str, fix: str) -> Path:
    """Check a file's sha256 once per process; raise DataError with `fix` if it differs."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected_sha256)
    if key in _VERIFIED:
        return path
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise DataError(
            f"{what} at {path} has sha256 {actual[:16]}..., expected {expected_sha256[:16]}... "
            "(a different version or a corrupt file).",
            fix=fix,
        )
    _VERIFIED.add(key)
    return path


def _resolve(name: str) -> str:
    """A manifest name from a manifest name ('lee') or a file name ('lee.cor')."""
    entries = manifest()
    if name in entries:
        return name
    by_file = {Path(e["path"]).name: key for key, e in entries.items()}
    if name not in by_file:
        raise InputError(f"Unknown data file {name!r}.", fix=f"Use one of: {', '.join(sorted(entries))}.")
    return by_file[name]


def gensim_test_file(name: str) -> Path:
    """Path of a verified data file from gensim's test data, by manifest name ('enwiki') or file name ('lee.cor')."""
    name = _resolve(name)
    entry = manifest()[name]
    requirement = entry.get("requirement", entry["package"])
    install = f"pip install '{requirement}'"
    root = _package_root(entry["package"])
    if root is None:
        raise DataError(
            f"The data file {name!r} ships with the {entry['package']} package, which is not installed.", fix=install
        )
    path = root / entry["path"]
    if not path.is_file():
        raise DataError(
            f"The data file {name!r} was not found at {path}: this {entry['package']} install has no test data.",
            fix=f"{install} (a regular wheel install; stripped or conda-split builds may drop gensim/test/test_data).",
        )
    return verify_file(
        path, entry["sha256"], what=f"The data file {name!r}", fix=f"pip install --force-reinstall '{requirement}'"
    )


def read_data_text(name: str) -> str:
    """The verified file's text, decoded with the encoding the manifest records (two gensim fixtures are cp1252)."""
    name = _resolve(name)
    return gensim_test_file(name).read_text(encoding=manifest()[name].get("encoding", "utf-8"))
