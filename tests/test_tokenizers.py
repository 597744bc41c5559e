"""ptmlab.data.tokenizers: round trips, special tokens, ids 0-4, save/load, and clear errors for bad input.

Several tests pin bugs found while writing chapter 02 (all fixed): wrong-shaped saved files, Unigram's unknown pieces,
word-boundary markers counted as known content, and spaces around typed special tokens."""

from __future__ import annotations

import json

import pytest

from ptmlab.data.tokenizers import (
    SPECIAL_TOKENS,
    Tokenizer,
    encode_for_model,
    load_tokenizer,
    normalize,
    train_tokenizer,
)
from ptmlab.errors import DataError, InputError

KINDS = ["word", "char", "bpe", "wordpiece", "unigram"]
SENTENCES = [
    "The lower river flows slowly past the newest bridge.",
    "Newer bridges are wider and lower than the old ones.",
    "She walked slowly along the widest road in the town.",
    "The tokenizer learns the most frequent pairs of symbols.",
    "Frequent pairs become new symbols, and new symbols form words.",
    "Rare words are split into smaller, more frequent pieces.",
] * 5
IN_VOCAB = "The lower river flows slowly, past the newest bridge."


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, Tokenizer]:
    return {kind: train_tokenizer(SENTENCES, kind=kind, vocab_size=300) for kind in KINDS}


def words(text: str) -> list[str]:
    from ptmlab.data.bpe import pretokenize

    return pretokenize(text)


# ----------------------------------------------------------------------------- ids and specials
@pytest.mark.parametrize("kind", KINDS)
def test_ids_0_to_4_are_the_special_tokens(tokenizers, kind):
    tok = tokenizers[kind]
    assert [tok.id_to_token(i) for i in range(5)] == SPECIAL_TOKENS
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.special_ids == [0, 1, 2, 3, 4]
    assert tok.vocab_size == len(tok.vocab) > 5
    assert sorted(tok.vocab.values()) == list(range(tok.vocab_size))  # ids are dense


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_typed_in_text_stay_whole(tokenizers, kind):
    tok = tokenizers[kind]
    tokens = tok.tokenize("the [MASK] flows past the [SEP] bridge")
    assert tokens.count("[MASK]") == 1 and tokens.count("[SEP]") == 1
    ids = tok.encode("the river [MASK].")
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id and tok.mask_id in ids
    assert tok.encode("[MASK]") == [tok.cls_id, tok.mask_id, tok.sep_id]


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_text_becomes_unk_not_an_error(tokenizers, kind):
    tok = tokenizers[kind]
    assert tok.unk_id in tok.encode("Ωmega ψ")  # characters never seen in training


@pytest.mark.parametrize("kind", ["word", "char", "bpe", "wordpiece"])
def test_unknown_tokens_are_shown_as_unk(tokenizers, kind):
    assert "[UNK]" in tokenizers[kind].tokenize("Ωmega ψ")


def test_unigram_unknown_tokens_are_shown_as_unk(tokenizers):
    tok = tokenizers["unigram"]
    tokens = tok.tokenize("Ωmega ψ")
    assert "[UNK]" in tokens and all(t in tok.vocab for t in tokens)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_retokenizes_to_the_same_tokens(tokenizers, kind):
    tok = tokenizers[kind]
    tokens = tok.tokenize(IN_VOCAB)
    assert "[UNK]" not in tokens
    decoded = tok.decode(tok.encode(IN_VOCAB))
    assert tok.tokenize(decoded) == tokens
    assert tok.convert_ids_to_tokens(tok.encode(IN_VOCAB, add_special_tokens=False)) == tokens


@pytest.mark.parametrize("kind", ["char", "unigram"])
def test_round_trip_is_exact_for_char_and_unigram(tokenizers, kind):
    tok = tokenizers[kind]
    assert tok.decode(tok.encode(IN_VOCAB)) == normalize(IN_VOCAB)


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_round_trip_gives_space_separated_words(tokenizers, kind):
    tok = tokenizers[kind]
    assert tok.decode(tok.encode(IN_VOCAB)) == " ".join(words(IN_VOCAB))


def test_wordpiece_round_trip_keeps_every_character(tokenizers):
    tok = tokenizers["wordpiece"]
    decoded = tok.decode(tok.encode(IN_VOCAB))
    assert decoded.replace(" ", "") == normalize(IN_VOCAB).replace(" ", "")
    assert decoded.split()[:3] == ["the", "lower", "river"]


def test_subwords_split_an_unseen_word_into_known_pieces(tokenizers):
    for kind in ("bpe", "wordpiece", "unigram"):
        tokens = tokenizers[kind].tokenize("slowest")  # "slowest" never occurs; slow / est do
        assert "[UNK]" not in tokens and len(tokens) >= 2, kind
    assert tokenizers["word"].tokenize("slowest") == ["[UNK]"]


@pytest.mark.parametrize("kind", ["char", "unigram", "bpe"])
def test_round_trip_keeps_spaces_around_special_tokens(tokenizers, kind):
    tok = tokenizers[kind]
    text = "the [MASK] flows past the river[MASK]."
    assert tok.tokenize(tok.decode(tok.encode(text))) == tok.tokenize(text)
    expected = {
        "char": "the [MASK] flows past the river[MASK].",
        "unigram": "the [MASK] flows past the river [MASK].",
        "bpe": "the [MASK] flows past the river [MASK] .",
    }[kind]
    assert tok.decode(tok.encode(text)) == expected
    if kind == "unigram":
        tokens = tok.tokenize("river[MASK].")
        assert tokens[tokens.index("[MASK]") + 1 :] == ["."]  # no word start is invented after [MASK]


# ----------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_round_trip(tokenizers, kind, tmp_path):
    tok = tokenizers[kind]
    path = tmp_path / f"{kind}.json"
    tok.save(path)
    again = load_tokenizer(path)
    assert type(again) is type(tok) and again.kind == tok.kind
    assert again.vocab == tok.vocab
    for text in (IN_VOCAB, "the [MASK] river", "Ωmega"):
        assert again.encode(text) == tok.encode(text)
    assert again.decode(again.encode(IN_VOCAB)) == tok.decode(tok.encode(IN_VOCAB))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"kind": "wo',
        b"\xff\xfe\x00not json",
        b'{"kind": "word", "vocab": {"a": 0}}',
        b'{"kind": "sentencepiece", "vocab": {}}',
    ],
    ids=["empty", "truncated", "binary", "no-specials", "unknown-kind"],
)
def test_corrupt_file_raises_data_error(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(DataError):
        load_tokenizer(path)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError):
        load_tokenizer(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    "content",
    ["[1, 2]", '{"kind": "word"}', '{"kind": "bpe", "backend": "garbage"}', '{"kind": "word", "vocab": [1]}'],
    ids=["list", "no-vocab", "bad-backend", "vocab-not-dict"],
)
def test_wrong_shaped_file_raises_data_error(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_text(content)
    with pytest.raises(DataError):
        load_tokenizer(path)


def test_saved_file_is_json_with_its_kind(tokenizers, tmp_path):
    path = tmp_path / "word.json"
    tokenizers["word"].save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["kind"] == "word"


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("texts", [[], [""], ["  ", "\n"]], ids=["none", "empty", "blank"])
@pytest.mark.parametrize("kind", KINDS)
def test_training_on_nothing_raises_input_error(texts, kind):
    with pytest.raises(InputError):
        train_tokenizer(texts, kind=kind)


def test_unknown_kind_raises_input_error():
    with pytest.raises(InputError):
        train_tokenizer(SENTENCES, kind="sentencepiece")


@pytest.mark.parametrize("kind", KINDS)
def test_encode_for_model(tokenizers, kind):
    tok = tokenizers[kind]
    ids = encode_for_model(tok, IN_VOCAB, max_len=512)
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id and tok.unk_id not in ids
    for empty in ("", "   ", "\n\t"):
        with pytest.raises(InputError):
            encode_for_model(tok, empty, max_len=512)
    if kind != "unigram":
        with pytest.raises(InputError):
            encode_for_model(tok, "Ωψψ", max_len=512)  # every token unknown
    with pytest.raises(InputError, match="at most 8"):
        encode_for_model(tok, IN_VOCAB, max_len=8)
    truncated = encode_for_model(tok, IN_VOCAB, max_len=8, truncate=True)
    assert len(truncated) == 8 and truncated[0] == tok.cls_id and truncated[-1] == tok.sep_id
    assert truncated[1:-1] == ids[1:7]
    assert encode_for_model(tok, "[MASK]", max_len=8) == [tok.cls_id, tok.mask_id, tok.sep_id]


@pytest.mark.parametrize("kind, text", [("unigram", "Ωψψ"), ("char", "Ωψ ψΩ")])
def test_encode_for_model_rejects_unknown_text_with_boundary_markers(tokenizers, kind, text):
    with pytest.raises(InputError):
        encode_for_model(tokenizers[kind], text, max_len=512)


def test_encode_for_model_rejects_non_text(tokenizers):
    with pytest.raises(InputError):
        encode_for_model(tokenizers["word"], None, max_len=8)  # type: ignore[arg-type]


def test_word_vocab_size_and_min_freq():
    tok = train_tokenizer(SENTENCES, kind="word", vocab_size=12)
    assert tok.vocab_size == 12 and "the" in tok.vocab
    rare = train_tokenizer(["a a b"], kind="word", vocab_size=None, min_freq=2)
    assert "a" in rare.vocab and "b" not in rare.vocab


def test_subword_tokenizers_are_cached_so_every_process_gets_the_same_ids(tmp_path, monkeypatch):
    """HF's trainers break frequency ties differently per process; the cache makes cached models keep their ids."""
    import subprocess
    import sys

    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    code = (
        "from ptmlab.data.tokenizers import train_tokenizer\n"
        "texts = [f'the {w} sat on the {v} mat .' for w in 'cat dog bird fish cow'.split() for v in 'red big old'.split()]\n"
        "print(sorted(train_tokenizer(texts * 3, kind='wordpiece', vocab_size=60).backend.get_vocab().items()))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True) for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()
    assert len(list((tmp_path / "tokenizers").glob("wordpiece-*.json"))) == 1


def test_a_damaged_cached_tokenizer_is_trained_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path))
    texts = ["the cat sat on the mat .", "the dog sat on the log ."] * 5
    first = train_tokenizer(texts, kind="bpe", vocab_size=60)
    (cached,) = (tmp_path / "tokenizers").glob("bpe-*.json")
    cached.write_text("{not json")
    again = train_tokenizer(texts, kind="bpe", vocab_size=60)  # retrained (ids may differ from `first`: ties)
    assert json.loads(cached.read_text())["kind"] == "bpe"  # the damaged file was overwritten with a good copy
    assert train_tokenizer(texts, kind="bpe", vocab_size=60).encode("the cat sat .") == again.encode("the cat sat .")
    assert first.vocab_size == again.vocab_size
