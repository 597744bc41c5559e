"""Tokenizers behind one small interface: word and character baselines, and BPE / WordPiece / Unigram.

Subword vocabularies follow Sennrich et al. 2016 (BPE), Schuster & Nakajima 2012 (WordPiece) and Kudo 2018 (Unigram),
trained with Hugging Face `tokenizers`. Every tokenizer shares the same special tokens and ids."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from ptmlab.errors import DataError, InputError

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]  # ids 0..4 in every ptmlab vocabulary
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


def normalize(text: str, lowercase: bool = True) -> str:
    """NFKC, collapse whitespace, optionally lowercase: the same cleaning for every tokenizer."""
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    return text.lower() if lowercase else text


class Tokenizer:
    """The shared interface. Subclasses implement `tokenize` and fill `vocab` (token -> id)."""

    kind = "base"
    pad_token, unk_token, cls_token, sep_token, mask_token = PAD, UNK, CLS, SEP, MASK
    pad_id, unk_id, cls_id, sep_id, mask_id = 0, 1, 2, 3, 4

    def __init__(self, vocab: dict[str, int], lowercase: bool = True):
        if any(vocab.get(tok) != i for i, tok in enumerate(SPECIAL_TOKENS)):
            raise DataError("This vocabulary does not start with ptmlab's special tokens.", fix="Train it with ptmlab.")
        self.vocab = vocab
        self.inverse = {i: t for t, i in vocab.items()}
        self.lowercase = lowercase

    # -- the interface -------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Split text into tokens; special tokens typed in the text (e.g. "[MASK]") are kept whole."""
        tokens: list[str] = []
        # Collapse whitespace before splitting (not lowercasing yet, or "[MASK]" would not be found): a piece next to a
        # special token then keeps exactly one boundary space, so "the [MASK]" and "the[MASK]" stay distinguishable.
        for i, piece in enumerate(_SPECIAL_RE.split(" ".join(text.split()))):
            if piece in SPECIAL_TOKENS:
                tokens.append(piece)
            elif piece.strip():
                tokens.extend(self._tokenize(piece, glued=i > 0 and not piece[0].isspace()))
        return tokens

    def _tokenize(self, text: str, glued: bool = False) -> list[str]:
        """Tokens of a piece of text without special tokens; `glued`: it follows a special token with no space."""
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def special_ids(self) -> list[int]:
        return list(range(len(SPECIAL_TOKENS)))

    def token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.unk_id)

    def id_to_token(self, index: int) -> str:
        return self.inverse.get(int(index), UNK)

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.token_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.id_to_token(i) for i in ids]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        return [self.cls_id, *ids, self.sep_id] if add_special_tokens else ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        tokens = [self.id_to_token(i) for i in ids]
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in (PAD, CLS, SEP)]
        return self.detokenize(tokens)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab": self.vocab, "lowercase": self.lowercase}

    def save(self, path: str | Path) -> None:
        from ptmlab.io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), ensure_ascii=False))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def _count(texts: Iterable[str], split, lowercase: bool) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(split(normalize(text, lowercase)))
    return counts


def _vocab_from_counts(counts: Counter, vocab_size: int | None, min_freq: int) -> dict[str, int]:
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for token, freq in counts.most_common():
        if freq < min_freq or (vocab_size is not None and len(vocab) >= vocab_size):
            break
        vocab.setdefault(token, len(vocab))
    return vocab


class WordTokenizer(Tokenizer):
    """Whole words and punctuation; anything outside the vocabulary becomes [UNK] (the OOV problem)."""

    kind = "word"

    def _tokenize(self, text: str, glued: bool = False) -> list[str]:
        words = _WORD_RE.findall(normalize(text, self.lowercase))
        return [w if w in self.vocab else UNK for w in words]

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = 8000, min_freq: int = 1, lowercase: bool = True):
        return cls(_vocab_from_counts(_count(texts, _WORD_RE.findall, lowercase), vocab_size, min_freq), lowercase)


class CharTokenizer(Tokenizer):
    """One token per character (spaces included, shown as '▁'): no OOV words, but long sequences."""

    kind = "char"
    SPACE = "▁"

    def _tokenize(self, text: str, glued: bool = False) -> list[str]:
        chars = [self.SPACE if c == " " else c for c in normalize(text, self.lowercase)]
        # keep the spaces that separate this piece from a neighbouring special token ("the [MASK] cat")
        chars = [self.SPACE] * text[:1].isspace() + chars + [self.SPACE] * text[-1:].isspace()
        return [c if c in self.vocab else UNK for c in chars]

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(" " if t == self.SPACE else t for t in tokens)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None, min_freq: int = 1, lowercase: bool = True):
        split = lambda s: [cls.SPACE if c == " " else c for c in s]  # noqa: E731
        return cls(_vocab_from_counts(_count(texts, split, lowercase), vocab_size, min_freq), lowercase)


class SubwordTokenizer(Tokenizer):
    """BPE, WordPiece or Unigram, backed by a Hugging Face `tokenizers.Tokenizer`."""

    def __init__(self, backend, kind: str, lowercase: bool = True):
        self.backend = backend
        self.kind = kind
        super().__init__(backend.get_vocab(), lowercase)

    def _tokenize(self, text: str, glued: bool = False) -> list[str]:
        encoding = self.backend.encode(normalize(text, self.lowercase), add_special_tokens=False)
        # Unigram returns the unknown text itself as the token string: show [UNK], like every other kind
        tokens = [UNK if i == self.unk_id else t for t, i in zip(encoding.tokens, encoding.ids)]
        if glued and self.kind == "unigram" and tokens and tokens[0].startswith("▁"):
            # Metaspace marks each piece as a word start; a piece glued to a special token ("[MASK].") is not one
            if tokens[0] == "▁":
                tokens = tokens[1:]
            elif tokens[0][1:] in self.vocab:
                tokens[0] = tokens[0][1:]
        return tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self._decode_ids(self.convert_tokens_to_ids(tokens))

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        ids = [int(i) for i in ids if not (skip_special_tokens and int(i) in (self.pad_id, self.cls_id, self.sep_id))]
        return self._decode_ids(ids)

    def _decode_ids(self, ids: list[int]) -> str:
        if self.kind == "wordpiece":  # HF's WordPiece decoder already spaces special tokens the way BERT does
            return self.backend.decode(ids, skip_special_tokens=False)
        # BPE's and Metaspace's decoders glue a special token to its neighbours ("[MASK]flows"): decode the runs of
        # ordinary ids between special tokens separately, then join them with spaces.
        specials = set(range(len(SPECIAL_TOKENS))) - {self.unk_id}
        segments: list = []  # runs (lists) of ordinary ids, and special ids (ints)
        for i in ids:
            if i in specials:
                segments.append(i)
            elif segments and isinstance(segments[-1], list):
                segments[-1].append(i)
            else:
                segments.append([i])
        text = ""
        for segment in segments:
            if isinstance(segment, int):
                piece, glued = self.id_to_token(segment), False
            else:
                piece = self.backend.decode(segment, skip_special_tokens=False)
                # Unigram marks word starts with "▁": a run without one was glued to the special token before it
                glued = self.kind == "unigram" and not self.id_to_token(segment[0]).startswith("▁")
            text = piece if not text else text + piece if glued else f"{text} {piece}"
        return text

    def to_dict(self) -> dict:
        return {"kind": self.kind, "backend": self.backend.to_str(), "lowercase": self.lowercase}

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int = 8000, kind: str = "wordpiece", lowercase: bool = True, min_freq: int = 2
    ):
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if kind == "bpe":
            backend = HFTokenizer(models.BPE(unk_token=UNK, end_of_word_suffix="</w>"))
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                min_frequency=min_freq,
                special_tokens=SPECIAL_TOKENS,
                end_of_word_suffix="</w>",
                show_progress=False,  # its progress bars print blank lines into notebooks
            )
            backend.decoder = decoders.BPEDecoder(suffix="</w>")
        elif kind == "wordpiece":
            backend = HFTokenizer(models.WordPiece(unk_token=UNK))
            trainer = trainers.WordPieceTrainer(
                vocab_size=vocab_size, min_frequency=min_freq, special_tokens=SPECIAL_TOKENS, show_progress=False
            )
            backend.decoder = decoders.WordPiece()
        elif kind == "unigram":
            backend = HFTokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(
                vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK, show_progress=False
            )
            backend.pre_tokenizer = pre_tokenizers.Metaspace()
            backend.decoder = decoders.Metaspace()
        else:
            raise InputError(f"Unknown subword kind {kind!r}.", fix="Use 'bpe', 'wordpiece' or 'unigram'.")
        if kind != "unigram":
            backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.train_from_iterator((normalize(t, lowercase) for t in texts), trainer=trainer)
        return cls(backend, kind, lowercase)


def train_tokenizer(
    texts: Iterable[str], kind: str = "wordpiece", vocab_size: int = 8000, *, cache: bool = True, **kwargs
) -> Tokenizer:
    """Train any ptmlab tokenizer: kind is 'word', 'char', 'bpe', 'wordpiece' or 'unigram'.

    Subword tokenizers are cached by a hash of (texts, kind, vocab_size, options): Hugging Face's trainers break ties
    between equally frequent pieces differently in every process, so without the cache a model cached yesterday would be
    read today with partly different token ids. The shared cache ($PTMLAB_SHARED_CACHE) is read first."""
    texts = list(texts)
    if not any(t.strip() for t in texts):
        raise InputError("No text to train a tokenizer on.", fix="Pass a non-empty list of sentences.")
    if kind == "word":
        return WordTokenizer.train(texts, vocab_size=vocab_size, **kwargs)
    if kind == "char":
        return CharTokenizer.train(texts, **kwargs)
    if not cache:
        return SubwordTokenizer.train(texts, vocab_size=vocab_size, kind=kind, **kwargs)
    name = f"{kind}-{_tokenizer_key(texts, kind, vocab_size, kwargs)}.json"
    for folder in _tokenizer_folders():
        if (folder / name).is_file():
            try:
                return load_tokenizer(folder / name)
            except DataError:
                pass  # a damaged cache entry: train again and overwrite it below
    tokenizer = SubwordTokenizer.train(texts, vocab_size=vocab_size, kind=kind, **kwargs)
    try:
        tokenizer.save(_tokenizer_folders()[-1] / name)
    except OSError:
        pass  # a read-only home: the tokenizer still works, it is only not reused
    return tokenizer


def _tokenizer_key(texts: list[str], kind: str, vocab_size: int, options: dict) -> str:
    import hashlib

    digest = hashlib.sha256(json.dumps([kind, vocab_size, sorted(options.items())]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()[:20]


def _tokenizer_folders() -> list[Path]:
    """Where cached tokenizers live: the shared cache's (read-only) first, the user's own last."""
    from ptmlab.runtime import cache_dir, shared_cache

    shared = shared_cache()
    return ([shared / "tokenizers"] if shared else []) + [cache_dir("tokenizers")]


def tokenizer_from_dict(data: dict) -> Tokenizer:
    kind = data.get("kind")
    if kind == "word":
        return WordTokenizer(data["vocab"], data.get("lowercase", True))
    if kind == "char":
        return CharTokenizer(data["vocab"], data.get("lowercase", True))
    if kind in ("bpe", "wordpiece", "unigram"):
        from tokenizers import Tokenizer as HFTokenizer

        return SubwordTokenizer(HFTokenizer.from_str(data["backend"]), kind, data.get("lowercase", True))
    raise DataError(f"Unknown tokenizer kind {kind!r} in saved file.", fix="Re-train and save the tokenizer.")


def load_tokenizer(path: str | Path) -> Tokenizer:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"No tokenizer file at {path}.", fix="Check the path, or train one with train_tokenizer().") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"The tokenizer file {path} is corrupt.", fix="Delete it and train it again.") from err
    if not isinstance(data, dict):
        raise DataError(f"The tokenizer file {path} is not a ptmlab tokenizer.", fix="Delete it and train it again.")
    try:
        return tokenizer_from_dict(data)
    except DataError:
        raise
    except Exception as err:  # a missing key, a vocabulary of the wrong type, a backend Hugging Face cannot read
        raise DataError(
            f"The tokenizer file {path} is corrupt ({type(err).__name__}: {err}).", fix="Delete it and train it again."
        ) from err


def encode_for_model(tokenizer: Tokenizer, text: str, max_len: int, truncate: bool = False) -> list[int]:
    """Encode one user sentence for a model, with clear errors for the usual mistakes.

    Empty text, text made only of unknown tokens and text longer than the model's limit are refused here rather than
    failing deep inside torch."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty.", fix="Type a sentence, for example 'The capital of France is [MASK].'")
    ids = tokenizer.encode(text)
    # word-boundary markers ("▁" of char / unigram) are not content: text made of unknown words plus spaces is unknown
    content = [i for i in ids[1:-1] if tokenizer.id_to_token(i) != "▁"]
    if content and all(i == tokenizer.unk_id for i in content):
        raise InputError(
            f"Every token of {text[:60]!r} is unknown to this tokenizer ({tokenizer.kind}, {tokenizer.vocab_size} tokens).",
            fix="Use words from the training corpus (English Wikipedia text), or train on your own text.",
        )
    if len(ids) > max_len:
        if not truncate:
            raise InputError(
                f"The text is {len(ids)} tokens long; this model takes at most {max_len}.",
                fix="Shorten the text, or pass truncate=True to keep the first tokens.",
            )
        ids = ids[: max_len - 1] + [tokenizer.sep_id]
    return ids
