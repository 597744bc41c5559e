"""Real sentiment ratings (Hutto & Gilbert 2014), fetched once from the package registry and read offline."""

import io
import tarfile

import pytest

from ptmlab.data import sentiment
from ptmlab.errors import DataError


def _fake_sdist(path, lines):
    """An sdist laid out like vaderSentiment's: the ratings file inside an archive inside the archive."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        data = "\r\n".join(lines).encode()
        info = tarfile.TarInfo(sentiment.SNIPPETS)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "w:gz") as outer:
        info = tarfile.TarInfo(sentiment.INNER_ARCHIVE)
        info.size = len(inner.getvalue())
        outer.addfile(info, io.BytesIO(inner.getvalue()))
    return path


def test_the_ratings_are_read_from_the_nested_archive(tmp_path):
    sdist = _fake_sdist(tmp_path / sentiment.SDIST, ["1\t2.5\tA ''great'' film.", "2\t-3.1\tDull.", "bad line"])
    assert sentiment.read_snippets(sdist) == [('A "great" film.', 2.5), ("Dull.", -3.1)]
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="does not hold"):
        sentiment.read_snippets(tmp_path / "broken.tar.gz")


def test_a_missing_or_changed_file_says_how_to_fetch_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("PTMLAB_SHARED_CACHE", raising=False)
    sentiment.movie_review_snippets.cache_clear()
    with pytest.raises(DataError) as info:
        sentiment.movie_review_snippets()
    assert "ptmlab fetch" in info.value.fix
    data = tmp_path / "empty" / "data"
    data.mkdir(parents=True, exist_ok=True)
    _fake_sdist(data / sentiment.SDIST, ["1\t1.0\tfine"])  # right place, wrong sha256: not used
    assert sentiment.find_sdist() is None
    monkeypatch.setenv("PTMLAB_OFFLINE", "1")
    from ptmlab.errors import OfflineError

    with pytest.raises(OfflineError):
        sentiment.fetch(quiet=True)
    sentiment.movie_review_snippets.cache_clear()


def test_the_fetched_ratings_are_the_papers_10605_movie_snippets():
    sentiment.movie_review_snippets.cache_clear()
    if not sentiment.available():
        pytest.skip("run `ptmlab fetch` (make test does) to test the real ratings")
    rows = sentiment.movie_review_snippets()
    assert len(rows) == sentiment.N_SNIPPETS
    assert all(-4.0 <= r <= 4.0 for _, r in rows)
    balanced = sentiment.movie_sentiment(2000, seed=1)
    assert len(balanced) == 2000 and sum(label for _, label in balanced) == 1000
    assert balanced == sentiment.movie_sentiment(2000, seed=1) != sentiment.movie_sentiment(2000, seed=2)
    full = sentiment.movie_sentiment()
    assert len(full) > 9000  # the near-neutral ratings (|r| < 0.5) are left out
