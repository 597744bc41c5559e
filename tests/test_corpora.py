"""Tests for ptmlab.data.corpora and ptmlab.data.manifest: bundled corpora, your own text, online loader, word lists."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ptmlab.data import manifest
from ptmlab.data.corpora import (
    Corpus,
    analogies,
    analogy_section_kind,
    clean_wikitext,
    load_corpus,
    load_online,
    load_text,
    sentiment_sentences,
    split_sentences,
    word_similarity,
    word_tokens,
)
from ptmlab.errors import DataError, InputError, OfflineError, PtmlabError

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """Every test gets its own empty cache, and no test may reach a real network host."""
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PTMLAB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def wiki_pair(tmp_path_factory):
    """(cold load, warm load) of the Wikipedia extract in a fresh cache, plus the cache folder."""
    home = tmp_path_factory.mktemp("wiki_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTMLAB_HOME", str(home))
        cold = load_corpus("wiki")
        cached = list((home / "corpora").glob("wiki-*.json"))
        warm = load_corpus("wiki")
    return cold, warm, cached


# ----------------------------------------------------------------------------- Wikipedia extract
def test_wiki_is_large_clean_and_grouped(wiki_pair):
    wiki, _, _ = wiki_pair
    assert wiki.n_tokens >= 300_000
    assert len(wiki) >= 10_000
    assert wiki.documents is not None and len(wiki.documents) >= 50
    assert [s for d in wiki.documents for s in d] == wiki.sentences
    assert "CC BY-SA" in wiki.licence
    for sentence in wiki.sentences:
        assert not re.search(r"\{\{|\}\}|\[\[|\]\]|\||<ref|</|https?:", sentence), sentence
        assert 5 <= len(sentence.split()) <= 60, sentence
        assert re.match(r"[\"'“‘(]?[A-Z0-9]", sentence) and re.search(r"[.!?][\"'”’)]?$", sentence), sentence
    # original casing is kept; token_lists lowercases on request
    assert any(any(c.isupper() for c in s) for s in wiki.sentences[:10])
    assert all(t == t.lower() for tokens in wiki.token_lists()[:200] for t in tokens)


def test_wiki_second_load_comes_from_cache(wiki_pair):
    cold, warm, cached = wiki_pair
    assert len(cached) == 1 and manifest.manifest()["enwiki"]["sha256"][:16] in cached[0].name
    assert warm.sentences == cold.sentences and warm.documents == cold.documents


def test_max_sentences_keeps_document_grouping():
    lee = load_corpus("lee", max_sentences=25)
    assert len(lee) == 25
    assert sum(len(d) for d in lee.documents) == 25 and len(lee.documents) >= 2


def test_lee_corpus_has_300_articles():
    lee = load_corpus("lee")
    assert len(lee.documents) == 300
    assert 40_000 < lee.n_tokens < 70_000
    assert load_corpus("lee_test").documents is not None


def test_unknown_corpus_and_own_are_explained():
    with pytest.raises(InputError, match="Unknown corpus"):
        load_corpus("wikipedia-full")
    with pytest.raises(InputError, match="load_text"):
        load_corpus("own")


# ----------------------------------------------------------------------------- cleaning and splitting
def test_clean_wikitext_strips_markup():
    text = """{{Infobox person|name=X|birth={{birth date|1900|1|1}}}}
'''Ada''' was a [[mathematician]] from [[London|the capital]].<ref>{{cite book|title=T}}</ref> She wrote notes.<ref name="a"/>
[[File:Ada.jpg|thumb|A [[portrait]] of Ada]]
== Life ==
* a list item that is not prose
{| class="wikitable"
| cell || cell
|}
She met [http://example.org Babbage] in 1833.<!-- hidden -->
== References ==
Later text that must go.
"""
    paragraphs = clean_wikitext(text)
    joined = " ".join(paragraphs)
    assert "Ada was a mathematician from the capital. She wrote notes." in joined
    assert "She met Babbage in 1833." in joined
    for junk in ("Infobox", "cite", "portrait", "Life", "list item", "cell", "hidden", "Later", "http", "[[", "{{"):
        assert junk not in joined, junk


def test_sentence_splitter_handles_abbreviations():
    text = (
        "Mr. Smith met Dr. Jones in the U.S. capital. They talked, e.g. about J. R. R. Tolkien. "
        'Did it rain? "Yes," she said. It rained in 1999. Then it stopped.'
    )
    assert split_sentences(text) == [
        "Mr. Smith met Dr. Jones in the U.S. capital.",
        "They talked, e.g. about J. R. R. Tolkien.",
        "Did it rain?",
        '"Yes," she said.',
        "It rained in 1999.",
        "Then it stopped.",
    ]


def test_word_tokens_keep_inner_punctuation_and_drop_the_rest():
    assert word_tokens("Don't stop: self-governed 3.5% of 1,000 U.S. states!") == [
        "don't", "stop", "self-governed", "3.5", "of", "1,000", "u.s", "states",
    ]  # fmt: skip
    assert word_tokens("Hello World", lowercase=False) == ["Hello", "World"]


# ----------------------------------------------------------------------------- Corpus methods
def test_corpus_sample_split_and_len():
    corpus = Corpus.from_documents(
        "t", [[f"Doc {d} sentence {i}." for i in range(3)] for d in range(20)], "test", "CC0"
    )
    assert len(corpus) == 60 and corpus.n_tokens == 60 * 4
    assert corpus.sample(5, seed=1).sentences == corpus.sample(5, seed=1).sentences
    assert corpus.sample(5, seed=1).sentences != corpus.sample(5, seed=2).sentences
    train, valid = corpus.split(0.25, seed=0)
    assert len(valid.documents) == 5 and len(train.documents) == 15
    assert not set(train.sentences) & set(valid.sentences)  # whole documents on one side
    assert sorted(train.sentences + valid.sentences) == sorted(corpus.sentences)
    with pytest.raises(InputError):
        corpus.split(1.5)
    with pytest.raises(InputError):
        Corpus("bad", ["One."], "s", "l", documents=[["One.", "Two."]])


# ----------------------------------------------------------------------------- manifest and checksums
def test_manifest_lists_every_file_with_licence_and_credit():
    entries = manifest.manifest()
    assert set(entries) >= {
        "enwiki",
        "lee_background",
        "lee",
        "wordsim353",
        "simlex999",
        "questions_words",
        "pang_lee_polarity",
    }
    for name, entry in entries.items():
        assert {"package", "path", "sha256", "size", "licence", "source", "credit"} <= set(entry), name
        path = manifest.gensim_test_file(name)
        assert path.stat().st_size == entry["size"]
    assert manifest.gensim_test_file("lee.cor") == manifest.gensim_test_file("lee")


def test_checksum_mismatch_is_a_data_error(monkeypatch):
    monkeypatch.setattr(manifest, "_VERIFIED", set())
    monkeypatch.setitem(manifest.manifest()["wordsim353"], "sha256", "0" * 64)
    with pytest.raises(DataError, match="sha256") as info:
        word_similarity("wordsim353")
    assert "force-reinstall" in info.value.fix


def test_missing_file_or_package_is_a_data_error_with_a_fix(monkeypatch):
    monkeypatch.setitem(manifest.manifest()["lee"], "path", "test/test_data/no_such_file.cor")
    with pytest.raises(DataError) as info:
        manifest.gensim_test_file("lee")
    assert "pip install 'gensim>=4.3,<5'" in info.value.fix
    monkeypatch.setitem(manifest.manifest()["lee"], "package", "ptmlab_no_such_package")
    with pytest.raises(DataError, match="not installed"):
        manifest.gensim_test_file("lee")
    with pytest.raises(InputError):
        manifest.gensim_test_file("no-such-entry")


def test_data_dir_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="data folder"):
        manifest.data_dir()


def test_locating_data_does_not_import_gensim_or_torch():
    code = (
        "import sys; from ptmlab.data.corpora import word_similarity; word_similarity('simlex999'); "
        "assert 'gensim' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- your own text
def test_own_text_from_file_folder_and_list():
    own = load_text(SAMPLES / "own_text.txt")
    assert len(own.documents) == 2 and len(own) == 7
    assert own.sentences[2] == "Mr. Hale, the keeper's neighbour, said the light had not failed once in forty years."
    assert "Was it cold?" in own.sentences
    folder = load_text(SAMPLES / "stories", name="stories")
    assert folder.name == "stories" and len(folder.documents) == 3 and len(folder) == 6  # .md ignored, subfolder read
    assert any("river" in s for s in folder.sentences)
    listed = load_text(["One short text. Two sentences here.", "Another text"])
    assert listed.documents == [["One short text.", "Two sentences here."], ["Another text"]]


def test_own_text_in_the_formats_people_have(tmp_path):
    """One sentence per line without blank lines, one article per line (the Lee corpus), lowercase text, one long
    paragraph: each is read, says what it read, and splits into train and held-out text."""
    lines = tmp_path / "sentences.txt"
    lines.write_text("\n".join(f"the cat number {i} sat on the mat. it was happy." for i in range(40)), encoding="utf-8")
    corpus = load_text(lines)
    assert len(corpus.documents) == 40 and len(corpus) == 80  # lowercase: "it" starts a sentence too
    assert "40 documents, 80 sentences" in corpus.describe() and "one document per line" in corpus.describe()
    train, valid = corpus.split(0.1)
    assert len(valid.documents) == 4 and len(train.documents) == 36
    from ptmlab.data.manifest import gensim_test_file

    lee = load_text(gensim_test_file("lee_background.cor"))
    assert len(lee.documents) == 300 and len(lee) > 2000
    paragraph = load_text(["Only one text here. It has three sentences. That is enough to hold one out."])
    train, valid = paragraph.split(0.3)
    assert len(valid) == 1 and len(train) == 2
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.txt").write_text("First paragraph here.\n\nSecond paragraph here.", encoding="utf-8")
    (folder / "b.txt").write_text("line one is here\nline two is here", encoding="utf-8")
    mixed = load_text(folder)
    assert len(mixed.documents) == 4 and "2 files" in mixed.describe()
    with pytest.raises(DataError, match="no .txt files"):
        (tmp_path / "nothing").mkdir()
        load_text(tmp_path / "nothing")


def test_own_text_errors(tmp_path):
    with pytest.raises(InputError, match="No sentences"):
        load_text([])
    with pytest.raises(InputError, match="No sentences"):
        load_text(["   ", "...!"])
    (tmp_path / "empty.txt").write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(InputError):
        load_text(tmp_path / "empty.txt")
    with pytest.raises(DataError):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(DataError) as info:
        load_text("A sentence passed as a string, not a path.")
    assert "load_text([text])" in info.value.fix
    with pytest.raises(InputError):
        load_text([1, 2])  # type: ignore[list-item]


def test_non_utf8_text_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème is served here. Na\xefve guests love it.".encode("latin-1"))
    with pytest.warns(UserWarning, match="not valid UTF-8"):
        corpus = load_text(path)
    assert len(corpus) == 2 and "\ufffd" in corpus.sentences[0]


# ----------------------------------------------------------------------------- online loader (local server only)
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def corpus_cache_files() -> list[Path]:
    from ptmlab import runtime

    return list(runtime.cache_dir("downloads").iterdir())


@pytest.fixture
def local_server(tmp_path):
    """An http.server on 127.0.0.1 serving a temp folder; yields (base url, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder, server
    server.shutdown()
    server.server_close()


def test_online_url_checksum_and_cache(local_server, monkeypatch):
    base, folder, server = local_server
    data = b"Downloaded text arrives. It has two sentences.\n"
    (folder / "book.txt").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    corpus = load_online(f"{base}/book.txt", sha256=digest)
    assert corpus.sentences == ["Downloaded text arrives.", "It has two sentences."] and corpus.name == "book"
    # the cached copy is reused without any network access, even in offline mode
    server.shutdown()
    monkeypatch.setenv("PTMLAB_OFFLINE", "1")
    assert load_online(f"{base}/book.txt", sha256=digest).sentences == corpus.sentences
    leftovers = [p for p in corpus_cache_files() if p.name.endswith(".tmp")]
    assert not leftovers


def test_online_checksum_mismatch_is_not_cached(local_server):
    base, folder, _ = local_server
    (folder / "book.txt").write_text("Some text here.", encoding="utf-8")
    with pytest.raises(DataError, match="sha256"):
        load_online(f"{base}/book.txt", sha256="0" * 64)
    assert corpus_cache_files() == []  # neither the bad file nor a temp file stays


def test_online_without_checksum_warns_with_the_hash(local_server):
    base, folder, _ = local_server
    (folder / "book.txt").write_text("Some text here.", encoding="utf-8")
    with pytest.warns(UserWarning, match="sha256="):
        load_online(f"{base}/book.txt")


def test_online_errors(local_server, monkeypatch):
    base, _, _ = local_server
    with pytest.raises(DataError, match="404"):
        load_online(f"{base}/missing.txt", sha256="0" * 64)
    with pytest.raises(OfflineError):
        load_online("http://127.0.0.1:9/closed.txt", sha256="0" * 64, timeout=5)  # port 9: nothing listens
    with pytest.raises(InputError):
        load_online("ftp://example.invalid/x.txt")
    monkeypatch.setenv("PTMLAB_OFFLINE", "1")
    with pytest.raises(OfflineError):
        load_online(f"{base}/other.txt", sha256="0" * 64)
    with pytest.raises(OfflineError):
        load_online("hf:wikitext:wikitext-2-raw-v1")


def test_hf_loader_without_datasets_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # make `import datasets` fail even where it is installed
    with pytest.raises(PtmlabError, match="datasets") as info:
        load_online("hf:wikitext:wikitext-2-raw-v1")
    assert "ptmlab[online]" in info.value.fix


# ----------------------------------------------------------------------------- evaluation sets
def test_word_similarity_sets():
    ws = word_similarity("wordsim353")
    simlex = word_similarity("simlex999")
    assert len(ws) == 353 and len(simlex) == 999
    assert ("tiger", "cat", 7.35) in ws
    assert all(0 <= score <= 10 for _, _, score in ws + simlex)
    assert all(a == a.lower() for a, _, _ in ws)
    with pytest.raises(InputError):
        word_similarity("men3000")


def test_analogy_sections():
    sections = analogies()
    assert len(sections) == 14
    assert sum(len(q) for q in sections.values()) == 19544
    assert sections["capital-common-countries"][0] == ("athens", "greece", "baghdad", "iraq")
    kinds = [analogy_section_kind(s) for s in sections]
    assert kinds.count("semantic") == 5 and kinds.count("syntactic") == 9


def test_sentiment_sentences():
    pairs = sentiment_sentences()
    assert len(pairs) == 200 and sum(label for _, label in pairs) == 100
    assert pairs[0] == ("simplistic , silly and tedious .", 0)
    assert any("clichés" in text for text, _ in pairs)  # the cp1252 file is decoded correctly
