"""Corpora: real English text (a Wikipedia extract, the Lee news corpus), the synthetic world, and your own text.

Plus the word-similarity, analogy and sentence-polarity sets used by the word-embedding chapter (Mikolov et al. 2013)."""

from __future__ import annotations

import bz2
import hashlib
import html
import json
import os
import random
import re
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ptmlab import runtime
from ptmlab.data.manifest import gensim_test_file, manifest, read_data_text, sha256_file
from ptmlab.errors import DataError, InputError, OfflineError, PtmlabError
from ptmlab.io import atomic_write_text, file_mode

CORPUS_NAMES = ("wiki", "lee", "lee_test", "world")
MIN_WORDS, MAX_WORDS = 5, 60  # sentence length window for the real corpora
WIKI_PARSER_VERSION = 3  # bump when the cleaning changes, so cached parses are rebuilt

# Words and numbers; inner apostrophes, hyphens and dots stay inside a token ("don't", "self-governed", "3.5",
# "U.S"), as do digit-grouping commas ("1,000"). Every other punctuation mark is dropped.
TOKEN_RE = re.compile(r"\w+(?:(?:['’\-.]|(?<=\d),(?=\d))\w+)*")


def word_tokens(text: str, lowercase: bool = True) -> list[str]:
    """Split text into word and number tokens, dropping punctuation (see TOKEN_RE)."""
    return TOKEN_RE.findall(text.lower() if lowercase else text)


# ============================================================================ Corpus
@dataclass
class Corpus:
    """Clean natural sentences (original casing), optionally grouped by document (article, file paragraph).

    `documents`, when present, holds the same sentences as `sentences`, in order, grouped by document: sentence-order
    objectives (NSP, SOP, sentence shuffling) need to know which sentences belong together."""

    name: str
    sentences: list[str]
    source: str
    licence: str
    documents: list[list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.documents is not None and sum(len(d) for d in self.documents) != len(self.sentences):
            raise InputError(
                "Corpus documents and sentences disagree.",
                fix="Build it with Corpus.from_documents(...), which derives the sentences.",
            )

    @classmethod
    def from_documents(cls, name: str, documents: list[list[str]], source: str, licence: str) -> Corpus:
        documents = [list(d) for d in documents if d]
        return cls(name, [s for d in documents for s in d], source, licence, documents)

    def __len__(self) -> int:
        return len(self.sentences)

    def describe(self) -> str:
        """What was read, in words: documents, sentences, tokens, and from where."""
        docs = f"{len(self.documents):,} documents, " if self.documents is not None else ""
        return f"{self.name}: {docs}{len(self.sentences):,} sentences, {self.n_tokens:,} tokens, from {self.source}"

    def __repr__(self) -> str:
        docs = f", {len(self.documents)} documents" if self.documents is not None else ""
        return f"Corpus({self.name!r}: {len(self)} sentences{docs}, {self.n_tokens} tokens, {self.licence})"

    def token_lists(self, lowercase: bool = True) -> list[list[str]]:
        """One token list per sentence: words and numbers, punctuation dropped (see `word_tokens`)."""
        return [word_tokens(s, lowercase) for s in self.sentences]

    @property
    def n_tokens(self) -> int:
        """Tokens as `token_lists()` counts them (lowercased words and numbers)."""
        return sum(len(TOKEN_RE.findall(s.lower())) for s in self.sentences)

    def sample(self, n: int, seed: int = 0) -> Corpus:
        """`n` sentences drawn without replacement (in drawn order); the document grouping is dropped."""
        if n < 0:
            raise InputError(f"Cannot sample {n} sentences.", fix="Pass n >= 0.")
        picked = random.Random(seed).sample(self.sentences, min(n, len(self.sentences)))
        return Corpus(f"{self.name}[sample {len(picked)}]", picked, self.source, self.licence)

    def split(self, valid_fraction: float = 0.1, seed: int = 0) -> tuple[Corpus, Corpus]:
        """(train, valid). Whole documents go to one side when documents exist, so no article leaks across."""
        if not 0.0 < valid_fraction < 1.0:
            raise InputError(f"valid_fraction must be between 0 and 1, got {valid_fraction}.", fix="Use e.g. 0.1.")
        rng = random.Random(seed)
        units = self.documents if self.documents is not None else [[s] for s in self.sentences]
        if len(units) < 2:  # one document: hold out sentences instead (a single long text still trains)
            units = [[s] for s in self.sentences]
        if len(units) < 2:
            raise InputError(f"Corpus {self.name!r} is too small to split.", fix="Give it at least two sentences.")
        order = list(range(len(units)))
        rng.shuffle(order)
        n_valid = min(len(units) - 1, max(1, round(valid_fraction * len(units))))
        valid_ids = set(order[:n_valid])
        train_docs = [u for i, u in enumerate(units) if i not in valid_ids]
        valid_docs = [u for i, u in enumerate(units) if i in valid_ids]
        keep = self.documents is not None

        def build(suffix: str, docs: list[list[str]]) -> Corpus:
            sentences = [s for d in docs for s in d]
            return Corpus(f"{self.name}[{suffix}]", sentences, self.source, self.licence, docs if keep else None)

        return build("train", train_docs), build("valid", valid_docs)


# ============================================================================ sentence splitting
# Words that end in a dot without ending a sentence. Lowercased, without the final dot.
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx ca c no nos vol vols fig figs p pp ed eds
    gen col lt sgt capt cmdr adm gov sen rep rev hon pres inc ltd co corp bros dept univ assn est
    jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k u.n a.d b.c b.c.e c.e ph.d op viz""".split()
)
# A candidate boundary: . ! or ? (plus closing quotes/brackets), whitespace, then what may start a sentence.
_BOUNDARY_RE = re.compile(r"([.!?])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])")
# The same in lowercased text (no capitals to look for): any word may start the next sentence.
_LOWER_BOUNDARY_RE = re.compile(r"([.!?])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?\w)")


def is_lowercased(text: str) -> bool:
    """Text that has (almost) no capitals: lowercased on purpose, so a capital cannot mark a sentence's start."""
    letters = sum(c.isalpha() for c in text)
    return letters > 0 and sum(c.isupper() for c in text) < 0.002 * letters


def split_sentences(text: str, lowercased: bool | None = None) -> list[str]:
    """Split a paragraph into sentences with a careful regex: no split after abbreviations ("Mr.", "e.g.", "U.S.")
    or initials ("J. R. R. Tolkien"). In lowercased text (lowercased=None: detected) any word may start a sentence."""
    text = re.sub(r"\s+", " ", text).strip()
    if lowercased is None:
        lowercased = is_lowercased(text)
    sentences, start = [], 0
    for match in (_LOWER_BOUNDARY_RE if lowercased else _BOUNDARY_RE).finditer(text):
        if match.group(1) == ".":
            word_start = text.rfind(" ", start, match.start()) + 1  # the word the dot ends (rfind: -1 -> 0)
            word = text[max(word_start, start) : match.start()].lstrip("\"'“‘([").lower()
            if word in ABBREVIATIONS or re.fullmatch(r"[a-z]", word) or re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):
                continue  # "Mr.", a single initial "J.", dotted abbreviations "U.S."
        sentences.append(text[start : match.end(2)].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def _is_clean_sentence(sentence: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> bool:
    n_words = len(sentence.split())
    if not min_words <= n_words <= max_words:
        return False
    if not re.match(r"[\"'“‘(]?[A-Z0-9]", sentence) or not re.search(r"[.!?][\"'”’)]?$", sentence):
        return False
    # Markup that survived cleaning marks a broken sentence: drop it rather than teach a model wiki syntax.
    return not re.search(r"\{\{|\}\}|\[\[|\]\]|\||<|>|==|https?:|www\.|\{|\}|\[|\]|&[a-z]+;|''", sentence)


# ============================================================================ Wikipedia markup
_SECTION_STOP_RE = re.compile(
    r"^==+\s*(See also|References|External links|Further reading|Notes|Bibliography|Sources|Footnotes|"
    r"Citations|Notes and references|Works cited|Literature)\s*==+\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_DROP_ELEMENTS_RE = re.compile(
    r"<(ref|math|gallery|timeline|source|syntaxhighlight|pre|table|imagemap|score|chem|hiero|code|nowiki|poem)"
    r"\b[^>]*?(?<!/)>.*?</\1\s*>",
    re.DOTALL | re.IGNORECASE,
)
_SELF_CLOSING_RE = re.compile(r"<(ref|references|br|hr)\b[^>]*/\s*>", re.IGNORECASE)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")
_BRACE_TOKEN_RE = re.compile(r"\{\{|\}\}|^[ \t]*\{\||^[ \t]*\|\}", re.MULTILINE)
_LINK_TOKEN_RE = re.compile(r"\[\[|\]\]")
_NON_ARTICLE_LINK = re.compile(
    r"^\s*:?\s*(file|image|category|media|wikipedia|wp|template|help|portal|[a-z]{2,3}(-[a-z]+)?)\s*:", re.I
)
_EXTERNAL_LINK_RE = re.compile(r"\[(?:https?:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BARE_URL_RE = re.compile(r"https?://\S+")


def _strip_nested(text: str) -> str:
    """Remove templates {{...}} and tables {| ... |} (both nest) with a depth scanner."""
    out, stack, last = [], [], 0
    for match in _BRACE_TOKEN_RE.finditer(text):
        token = match.group().strip()
        if token in ("{{", "{|"):
            if not stack:
                out.append(text[last : match.start()])
            stack.append("}}" if token == "{{" else "|}")
        elif stack and token == stack[-1]:
            stack.pop()
            if not stack:
                last = match.end()
        elif not stack:  # a stray closer outside any template: drop just the token
            out.append(text[last : match.start()])
            last = match.end()
    if not stack:
        out.append(text[last:])
    else:  # an unclosed template: keep the text before it, drop the rest of the paragraph it opened
        tail = text[last:]
        out.append(tail[tail.find("\n\n") :] if "\n\n" in tail else "")
    return "".join(out)


def _replace_links(text: str) -> str:
    """[[target|label]] -> label, [[target]] -> target; drop File:/Image:/Category:/interlanguage links (nested)."""
    out, stack, last = [], [], 0
    for match in _LINK_TOKEN_RE.finditer(text):
        if match.group() == "[[":
            if not stack:
                out.append(text[last : match.start()])
            stack.append(match.end())
        elif stack:
            start = stack.pop()
            if not stack:
                inner = text[start : match.start()]
                if not _NON_ARTICLE_LINK.match(inner) and "[[" not in inner:
                    out.append(inner.split("|")[-1])
                last = match.end()
    out.append(text[last:] if not stack else "")
    return "".join(out)


def clean_wikitext(text: str) -> list[str]:
    """Wiki markup -> plain paragraphs: no templates, tables, refs, files, headings, lists, or reference sections."""
    stop = _SECTION_STOP_RE.search(text)
    if stop:
        text = text[: stop.start()]
    text = _COMMENT_RE.sub("", text)
    text = _DROP_ELEMENTS_RE.sub("", text)
    text = _SELF_CLOSING_RE.sub(" ", text)
    text = _strip_nested(text)
    text = _replace_links(text)
    text = _EXTERNAL_LINK_RE.sub(lambda m: m.group(1) or "", text)
    text = _BARE_URL_RE.sub("", text)
    text = _TAG_RE.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    text = re.sub(r"'{2,}", "", text)  # bold and italics
    text = re.sub(r"__[A-Z]+__", "", text)  # magic words such as __NOTOC__
    paragraphs = []
    for line in text.split("\n"):
        line = line.strip()
        # headings, lists, indents, table rows and leftovers are not running prose
        if not line or line[0] in "=*#:;|!{}" or line.startswith("----"):
            continue
        line = re.sub(r"\(\s*[;,.]?\s*\)", "", line)  # "()" and "( ; )" left where a template was
        line = re.sub(r"\(\s*[;,]\s*", "(", line)
        line = re.sub(r"\s+([,.;:!?)])", r"\1", line)
        line = re.sub(r"([(])\s+", r"\1", line)
        line = re.sub(r"\s{2,}", " ", line).strip()
        if line:
            paragraphs.append(line)
    return paragraphs


def _wiki_pages(path: Path) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of every main-namespace, non-redirect page in a MediaWiki XML dump (bz2)."""
    with bz2.open(path, "rb") as handle:
        for _, element in ET.iterparse(handle, events=("end",)):
            if not element.tag.endswith("}page"):
                continue
            ns = element.findtext("{*}ns")
            title = element.findtext("{*}title") or ""
            text = element.findtext("{*}revision/{*}text") or ""
            is_redirect = element.find("{*}redirect") is not None or text.lstrip().upper().startswith("#REDIRECT")
            if ns == "0" and not is_redirect:
                yield title, text
            element.clear()


def parse_wiki(path: Path) -> tuple[list[str], list[list[str]]]:
    """Titles and clean sentences per article of a Wikipedia dump."""
    titles, documents = [], []
    for title, text in _wiki_pages(path):
        sentences = [s for p in clean_wikitext(text) for s in split_sentences(p) if _is_clean_sentence(s)]
        if sentences:
            titles.append(title)
            documents.append(sentences)
    return titles, documents


def _load_wiki_documents() -> list[list[str]]:
    """Parse the Wikipedia extract once; later loads read a JSON cache keyed by the source hash and parser version."""
    source_sha = manifest()["enwiki"]["sha256"]
    cache = runtime.cache_dir("corpora") / f"wiki-{source_sha[:16]}-v{WIKI_PARSER_VERSION}.json"
    if cache.is_file():
        try:
            return json.loads(cache.read_text(encoding="utf-8"))["documents"]
        except (ValueError, KeyError):
            cache.unlink(missing_ok=True)  # a corrupt cache is rebuilt, never trusted
    titles, documents = parse_wiki(gensim_test_file("enwiki"))
    atomic_write_text(cache, json.dumps({"titles": titles, "documents": documents}, ensure_ascii=False))
    return documents


def _truncate(documents: list[list[str]], max_sentences: int | None) -> list[list[str]]:
    if max_sentences is None:
        return documents
    if max_sentences < 1:
        raise InputError(f"max_sentences must be positive, got {max_sentences}.", fix="Pass None for everything.")
    out, left = [], max_sentences
    for doc in documents:
        if left <= 0:
            break
        out.append(doc[:left])
        left -= len(out[-1])
    return out


def _lee_documents(name: str) -> list[list[str]]:
    text = read_data_text(name)
    return [[s for s in split_sentences(line) if _is_clean_sentence(s)] for line in text.splitlines() if line.strip()]


def load_corpus(name: str = "wiki", *, max_sentences: int | None = None) -> Corpus:
    """A bundled corpus: 'wiki' (English Wikipedia extract), 'lee' (300 news articles), 'lee_test' (50 more),
    or 'world' (the synthetic world's English documents, seed 0). Your own text: `load_text`."""
    if name == "wiki":
        entry = manifest()["enwiki"]
        documents = _load_wiki_documents()
    elif name in ("lee", "lee_test"):
        entry = manifest()["lee_background" if name == "lee" else "lee"]
        documents = _lee_documents("lee_background" if name == "lee" else "lee")
    elif name == "world":
        from ptmlab.data.world import make_world

        entry = {"source": "ptmlab synthetic world v1 (make_world(seed=0))", "licence": "CC0 (generated by ptmlab)"}
        documents = [[s.text for s in doc.sentences] for doc in make_world(seed=0).documents()]
    elif name == "own":
        raise InputError("'own' text is loaded with load_text(...).", fix="Call load_text('my_file.txt') instead.")
    else:
        raise InputError(f"Unknown corpus {name!r}.", fix=f"Use one of {', '.join(CORPUS_NAMES)}, or load_text(...).")
    return Corpus.from_documents(name, _truncate(documents, max_sentences), entry["source"], entry["licence"])


# ============================================================================ your own text
def _read_text_file(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.warn(
            f"{path} is not valid UTF-8; undecodable bytes were replaced with '\ufffd'. Save it as UTF-8 to avoid this.",
            stacklevel=3,
        )
        return data.decode("utf-8", errors="replace")


def _paragraph_documents(text: str) -> tuple[list[list[str]], str]:
    """(documents, how they were read). Blank lines separate paragraphs (one document each; a paragraph's lines are
    joined). A file without blank lines is read one line per document (one sentence per line, or one article per line as
    in the Lee corpus): joining a 47,000-line file of sentences into one paragraph would make one giant document."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lowercased = is_lowercased(text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) == 1 and len([line for line in text.split("\n") if line.strip()]) > 1:
        lines = [line for line in text.split("\n") if line.strip()]
        return [split_sentences(line, lowercased) for line in lines], "one document per line"
    return [split_sentences(p, lowercased) for p in paragraphs], "paragraphs separated by blank lines"


def load_text(source: str | Path | Iterable[str], *, name: str = "own") -> Corpus:
    """Your own text as a Corpus: a .txt file, a folder (every .txt file inside, recursively, sorted) or a list of
    strings (each string one document). Files: paragraphs separated by blank lines become documents (a paragraph's
    lines are joined and split into sentences); a file with no blank lines is one document per line. Lowercased text is
    split into sentences too. Every non-empty sentence is kept (no length filter). `corpus.describe()` says what was read."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.exists():
            looks_like_text = isinstance(source, str) and (" " in source.strip() or "\n" in source)
            raise DataError(
                f"No file or folder at {str(path)[:80]!r}.",
                fix="To use a string of text itself, put it in a list: load_text([text])."
                if looks_like_text
                else "Check the path, or pass a list of strings instead.",
            )
        files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
        if not files:
            raise DataError(f"The folder {str(path)[:80]!r} has no .txt files.", fix="Put your text in .txt files (UTF-8).")
        documents, formats = [], set()
        for file in files:
            docs, how = _paragraph_documents(_read_text_file(file))
            documents.extend(docs)
            formats.add(how)
        where = f"{path}: {len(files)} file{'s' * (len(files) > 1)}, {' and '.join(sorted(formats))}"
    else:
        texts = list(source)
        if not all(isinstance(t, str) for t in texts):
            raise InputError("load_text takes a path or a list of strings.", fix="Pass e.g. ['First text.', 'More.'].")
        documents = [split_sentences(t) for t in texts]
        where = f"{len(texts)} strings"
    documents = [[s for s in doc if TOKEN_RE.search(s)] for doc in documents]
    corpus = Corpus.from_documents(name, documents, f"your text ({where})", "yours")
    if not corpus.sentences:
        raise InputError(
            f"No sentences found in {where}.",
            fix="Give a .txt file (UTF-8) or folder of .txt files with some words in it, or a list of non-empty strings.",
        )
    return corpus


# ============================================================================ optional online loaders
def _download(url: str, sha256: str | None, timeout: float) -> Path:
    """Fetch `url` into the downloads cache (tmp + rename), reusing a cached copy without any network access."""
    import urllib.error
    import urllib.request

    basename = Path(urlparse(url).path).name or "download"
    target = runtime.cache_dir("downloads") / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{basename}"
    fix_hash = "Check the URL and the sha256 you passed (the file may have changed upstream)."
    if target.is_file():
        if sha256 is None or sha256_file(target) == sha256:
            return target
        target.unlink()  # cached under another checksum: fetch again
    runtime.require_online(f"Downloading {url}")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        actual = sha256_file(tmp)
        if sha256 is not None and actual != sha256:
            raise DataError(f"{url} has sha256 {actual}, expected {sha256}.", fix=fix_hash)
        if sha256 is None:
            warnings.warn(f"{url} was not checked; pass sha256={actual!r} to pin this exact file.", stacklevel=3)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except urllib.error.HTTPError as err:
        raise DataError(f"The server answered {err.code} {err.reason} for {url}.", fix="Check the URL.") from err
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise OfflineError(
            f"Could not reach {url} ({getattr(err, 'reason', err)}).",
            fix="Check your internet connection or proxy, or use the bundled corpora (load_corpus('wiki')).",
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_online(
    spec: str,
    *,
    sha256: str | None = None,
    name: str | None = None,
    split: str = "train",
    text_field: str = "text",
    max_rows: int | None = None,
    timeout: float = 30.0,
) -> Corpus:
    """Optional online text: 'hf:<dataset>[:<config>]' via Hugging Face `datasets`, or an http(s) URL of a UTF-8
    text file (checked against `sha256` when given). Downloads are cached under $PTMLAB_HOME/downloads and reused
    offline afterwards."""
    if spec.startswith(("http://", "https://")):
        path = _download(spec, sha256, timeout)
        return load_text(path, name=name or Path(urlparse(spec).path).stem or "online")
    if spec.startswith("hf:"):
        dataset, _, config = spec[3:].partition(":")
        if not dataset:
            raise InputError(f"No dataset named in {spec!r}.", fix="Write e.g. 'hf:wikitext:wikitext-2-raw-v1'.")
        runtime.require_online(f"Loading the Hugging Face dataset {dataset!r}")
        try:
            import datasets
        except ImportError as err:
            raise PtmlabError(
                "Online datasets need the Hugging Face `datasets` package.", fix="pip install 'ptmlab[online]'"
            ) from err
        try:
            rows = datasets.load_dataset(dataset, config or None, split=split)
        except (ConnectionError, OSError) as err:
            raise OfflineError(
                f"Could not load {dataset!r} from the Hugging Face hub ({err}).", fix="Check your internet connection."
            ) from err
        if text_field not in rows.column_names:
            raise InputError(
                f"{dataset!r} has no column {text_field!r}.", fix=f"Pass text_field= one of {rows.column_names}."
            )
        texts = rows[text_field] if max_rows is None else rows.select(range(min(max_rows, len(rows))))[text_field]
        return load_text(texts, name=name or dataset)
    raise InputError(f"Cannot load {spec!r}.", fix="Use 'hf:<dataset>[:<config>]' or an http(s) URL to a text file.")


# ============================================================================ evaluation word lists
def word_similarity(name: str = "wordsim353", *, lowercase: bool = True) -> list[tuple[str, str, float]]:
    """(word1, word2, mean human score 0-10) for 'wordsim353' (353 pairs) or 'simlex999' (999 pairs)."""
    if name not in ("wordsim353", "simlex999"):
        raise InputError(f"Unknown word-similarity set {name!r}.", fix="Use 'wordsim353' or 'simlex999'.")
    pairs = []
    for line in read_data_text(name).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        first, second, score = line.split("\t")[:3]
        if lowercase:
            first, second = first.lower(), second.lower()
        pairs.append((first, second, float(score)))
    return pairs


def analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """Google's analogy questions (a : b :: c : d), lowercased, by section ('capital-common-countries', ...)."""
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for line in read_data_text("questions_words").splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip() and current is not None:
            a, b, c, d = line.lower().split()
            sections[current].append((a, b, c, d))
    return sections


def analogy_section_kind(section: str) -> str:
    """'syntactic' for the gram* sections, 'semantic' for the others (as in Mikolov et al. 2013)."""
    return "syntactic" if section.startswith("gram") else "semantic"


def sentiment_sentences() -> list[tuple[str, int]]:
    """(sentence, label) with 1 = positive, 0 = negative: 200 movie-review sentences (Pang & Lee 2005), already
    lowercased and tokenised with spaces, as gensim ships them."""
    labels = {"__label__pos": 1, "__label__neg": 0}
    out = []
    for line in read_data_text("pang_lee_polarity").splitlines():
        tag, _, text = line.strip().partition(" ")
        if tag in labels and text.strip():
            out.append((text.strip(), labels[tag]))
    return out
