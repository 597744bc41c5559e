"""Offline bertviz views and attention heatmaps: input checks, the standalone document, the iframe, the neuron-view
adapter (its queries and keys must reproduce the attention weights), and encoder-decoder inputs."""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from ptmlab.errors import InputError
from ptmlab.viz.attention import (
    AttentionView,
    attention_heatmap,
    attention_heatmap_grid,
    head_view,
    model_view,
    neuron_view,
)

TOKENS = ["[CLS]", "zebras", "play", "the", "violin", "the", "[SEP]"]
N_LAYERS, N_HEADS, T = 3, 4, len(TOKENS)
CDN_MARKERS = ("cdnjs", "unpkg", "jsdelivr", "cdn.", "googleapis", "cloudflare", "require.min.js")


@pytest.fixture
def attentions() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, N_HEADS, T, T, generator=generator).softmax(-1) for _ in range(N_LAYERS)]


def params_of(view: AttentionView) -> dict:
    """The parameters bertviz wrote into the page (head/model view: `const params = {...};`)."""
    match = re.search(r"const params = (\{.*?\}); // HACK", view.html, flags=re.DOTALL)
    assert match, "bertviz parameters not found in the document"
    return json.loads(match.group(1))


class _Tags(HTMLParser):
    """Script blocks and other start tags as a browser's tokenizer sees them (script content ends at '</script')."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.tags: list[str] = []
        self._in_script = False
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def neuron_params_of(view: AttentionView) -> dict:
    match = re.search(r"window\.bertviz_params = (\{.*?\})\s*\n", view.html, flags=re.DOTALL)
    assert match, "neuron-view parameters not found in the document"
    return json.loads(match.group(1))


# ----------------------------------------------------------------------------- accepted shapes and input errors
def test_every_accepted_form_gives_the_same_view(attentions):
    stacked = torch.cat(attentions)  # [L, H, T, T]
    forms = [
        attentions,
        tuple(attentions),
        [a[0] for a in attentions],  # [H, T, T] per layer
        stacked,
        stacked.unsqueeze(1),  # [L, 1, H, T, T]
        [a.numpy() for a in attentions],
    ]
    reference = params_of(head_view(attentions, TOKENS))["attention"]
    assert np.asarray(reference[0]["attn"]).shape == (N_LAYERS, N_HEADS, T, T)
    for form in forms[1:]:
        assert params_of(head_view(form, TOKENS))["attention"] == reference


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda a: [x.repeat(2, 1, 1, 1) for x in a], "batch size 2"),
        (lambda a: [x[0, 0] for x in a], "shape"),
        (lambda a: [a[0], a[1][:, :2]], "same number of heads"),
        (lambda a: [x[..., :-1] for x in a], "must be square"),
        (lambda a: [], "empty"),
        (lambda a: (None, None), "is None"),
        (lambda a: [x.masked_fill(torch.ones_like(x, dtype=torch.bool), float("nan")) for x in a], "NaN"),
        (lambda a: "attention", "str"),
    ],
)
def test_bad_attention_shapes_raise_input_error(attentions, make_bad, message):
    with pytest.raises(InputError, match=message):
        head_view(make_bad(attentions), TOKENS)


def test_bad_tokens_and_indices_raise_input_error(attentions):
    with pytest.raises(InputError, match="7 positions but tokens has 6"):
        head_view(attentions, TOKENS[:-1])
    with pytest.raises(InputError, match="list of token strings"):
        head_view(attentions, " ".join(TOKENS))
    with pytest.raises(InputError, match="non-strings"):
        head_view(attentions, list(range(T)))
    with pytest.raises(InputError, match="layer=3"):
        head_view(attentions, TOKENS, layer=3)
    with pytest.raises(InputError, match="heads=4"):
        head_view(attentions, TOKENS, heads=[0, 4])
    with pytest.raises(InputError, match="sentence_b_start"):
        head_view(attentions, TOKENS, sentence_b_start=T)
    with pytest.raises(InputError, match="layers=5"):
        model_view(attentions, TOKENS, layers=[0, 5])
    with pytest.raises(InputError, match="No attention weights"):
        head_view()
    with pytest.raises(InputError, match="Both"):
        head_view(attentions, TOKENS, encoder_attention=attentions, encoder_tokens=TOKENS)


# ----------------------------------------------------------------------------- the standalone document
def test_document_is_offline_and_self_contained(attentions):
    for view in (head_view(attentions, TOKENS), model_view(attentions, TOKENS)):
        document = view.html
        assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
        lowered = document.lower()
        for marker in CDN_MARKERS:
            assert marker not in lowered, f"{marker!r} left in the {view.kind} view"
        assert not re.search(r"<script[^>]*\bsrc\s*=", document, flags=re.IGNORECASE), "an external script tag"
        assert "require.config(" not in document
        hosts = {m.group(1) for m in re.finditer(r"https?://([^/\s'\"<>)]+)", document)}
        assert hosts <= {"www.w3.org", "d3js.org"}, hosts  # SVG namespaces and d3's licence comment
        # the libraries and the shim are inlined
        assert 'data-asset="d3"' in document and "d3js.org v5" in document
        assert 'data-asset="jquery"' in document and "jQuery v3" in document
        assert "ptmlabRequireShim" in document and "requirejs.config = function" in document
        # shim comes after both libraries, bertviz's code after the shim
        assert document.index('data-asset="jquery"') < document.index('data-asset="require-shim"')
        assert document.index('data-asset="d3"') < document.index('data-asset="require-shim"')
        assert document.index('data-asset="require-shim"') < document.index("requirejs([")
        # five intact scripts: jQuery, d3, the shim, bertviz's view, the frame fitter
        scripts = _Tags(document).scripts
        assert len(scripts) == 5 and "requirejs([" in scripts[3] and "ptmlab-root" in scripts[4]
    params = params_of(head_view(attentions, TOKENS))
    assert params["attention"][0]["left_text"] == TOKENS == params["attention"][0]["right_text"]


def test_url_like_tokens_are_kept(attentions):
    tokens = list(TOKENS)
    tokens[1] = "https://example.org/zebras"
    view = head_view(attentions, tokens)
    assert params_of(view)["attention"][0]["left_text"][1] == "https://example.org/zebras"


def test_tokens_cannot_break_out_of_the_script(attentions):
    tokens = list(TOKENS)
    tokens[1] = "</script><b>boom</b>"
    tokens[2] = "<!--"
    tags = _Tags(head_view(attentions, tokens).html)
    assert len(tags.scripts) == 5 and "requirejs([" in tags.scripts[3]
    assert "b" not in tags.tags, "the token's markup escaped from the script into the page"


def test_iframe_wraps_escaped_srcdoc_and_sizes(attentions, tmp_path):
    view = head_view(attentions, TOKENS)
    frame = view.iframe_html()
    match = re.search(r'srcdoc="([^"]*)"', frame)
    assert match, "no srcdoc attribute"
    assert html.unescape(match.group(1)) == view.html
    assert "<script" not in match.group(1)  # escaped, so the notebook page does not run the view's scripts itself
    assert 'data-ptmlab-autosize="1"' in frame and "addEventListener('message'" in frame
    assert f"height:{view.estimated_height}px" in frame
    assert view._repr_html_().startswith("<iframe")
    # two frames of the same view get distinct ids (the resize listener finds its own frame)
    ids = {re.search(r'id="([^"]+)"', view.iframe_html()).group(1) for _ in range(2)}
    assert len(ids) == 2
    fixed = view.iframe_html(height=480)
    assert "height:480px" in fixed and 'data-ptmlab-autosize="0"' in fixed and "<script>" not in fixed
    assert 'data-ptmlab-autosize="0"' in head_view(attentions, TOKENS, height=300).iframe_html()
    path = view.save(tmp_path / "views" / "head.html")
    assert path.read_text(encoding="utf-8") == view.html


def test_head_view_options_reach_bertviz(attentions):
    params = params_of(head_view(attentions, TOKENS, layer=2, heads=[1, 3], sentence_b_start=3))
    assert params["layer"] == 2 and params["heads"] == [1, 3]
    names = [entry["name"] for entry in params["attention"]]
    assert names == [
        "All",
        "Sentence A -> Sentence A",
        "Sentence B -> Sentence B",
        "Sentence A -> Sentence B",
        "Sentence B -> Sentence A",
    ]
    assert params["attention"][1]["left_text"] == TOKENS[:3]


def test_model_view_subsets_and_compact_grid(attentions):
    view = model_view(attentions, TOKENS, layers=[0, 2], heads=[1, 2])
    params = params_of(view)
    assert params["include_layers"] == [0, 2] and params["include_heads"] == [1, 2]
    assert np.asarray(params["attention"][0]["attn"]).shape == (2, 2, T, T)
    assert "Math.max(config.totalHeads, 6)" in view.html  # small models get thumbnails sized as for 6 heads


def test_encoder_decoder_views():
    generator = torch.Generator().manual_seed(1)
    enc_tokens, dec_tokens = ["le", "chat", "dort", "</s>"], ["<s>", "the", "cat", "sleeps", "now"]
    te, td = len(enc_tokens), len(dec_tokens)
    encoder = [torch.rand(1, 2, te, te, generator=generator).softmax(-1) for _ in range(2)]
    decoder = [torch.rand(1, 2, td, td, generator=generator).softmax(-1) for _ in range(2)]
    cross = [torch.rand(1, 2, td, te, generator=generator).softmax(-1) for _ in range(2)]
    kwargs = dict(
        encoder_attention=encoder,
        decoder_attention=decoder,
        cross_attention=cross,
        encoder_tokens=enc_tokens,
        decoder_tokens=dec_tokens,
    )
    for build in (head_view, model_view):
        view = build(**kwargs)
        entries = {entry["name"]: entry for entry in params_of(view)["attention"]}
        assert set(entries) == {"Encoder", "Decoder", "Cross"}
        assert entries["Cross"]["left_text"] == dec_tokens and entries["Cross"]["right_text"] == enc_tokens
        assert np.asarray(entries["Cross"]["attn"]).shape == (2, 2, td, te)
    # cross attention alone is fine too; the wrong orientation is caught
    head_view(cross_attention=cross, encoder_tokens=enc_tokens, decoder_tokens=dec_tokens)
    with pytest.raises(InputError, match="decoder positions"):
        head_view(**{**kwargs, "cross_attention": [c.transpose(-1, -2) for c in cross]})
    with pytest.raises(InputError, match="encoder_tokens"):
        head_view(**{**kwargs, "encoder_tokens": enc_tokens[:-1]})
    with pytest.raises(InputError, match="differ in layers"):
        head_view(**{**kwargs, "decoder_attention": decoder[:1]})


# ----------------------------------------------------------------------------- heatmaps
def test_heatmap_shows_one_head(attentions):
    figure = attention_heatmap(attentions, TOKENS, layer=2, head=1)
    (trace,) = figure.data
    assert np.asarray(trace.z).shape == (T, T)
    np.testing.assert_allclose(np.asarray(trace.z), attentions[2][0, 1].numpy(), rtol=1e-6)
    assert "layer 2" in figure.layout.title.text and "head 1" in figure.layout.title.text
    # positions on the axes, token text as labels: the repeated "the" stays two rows
    assert list(figure.layout.xaxis.ticktext) == TOKENS and list(figure.layout.yaxis.ticktext) == TOKENS
    assert figure.layout.yaxis.autorange == "reversed"
    assert trace.customdata[3][5][0] == "3: the" and trace.customdata[3][5][1] == "5: the"
    assert "weight" in trace.hovertemplate
    with pytest.raises(InputError, match="head=4"):
        attention_heatmap(attentions, TOKENS, head=4)


def test_cross_attention_heatmap_and_grid(attentions):
    cross = [torch.rand(1, 2, 3, 5).softmax(-1)]
    figure = attention_heatmap(cross, ["a", "b", "c"], key_tokens=["v", "w", "x", "y", "z"])
    assert np.asarray(figure.data[0].z).shape == (3, 5)
    with pytest.raises(InputError, match="key_tokens"):
        attention_heatmap(cross, ["a", "b", "c"])
    grid = attention_heatmap_grid(attentions, TOKENS, layer=1)
    assert len(grid.data) == N_HEADS
    for head, trace in enumerate(grid.data):
        np.testing.assert_allclose(np.asarray(trace.z), attentions[1][0, head].numpy(), rtol=1e-6)
    assert len(attention_heatmap_grid(attentions, TOKENS, heads=[0, 3], columns=1).data) == 2


# ----------------------------------------------------------------------------- neuron view
class FakeConfig:
    n_layers, n_heads, d_model = 2, 2, 8


class FakePtmlabModel:
    """The ptmlab model interface the neuron view relies on: run_with_cache and blocks.{i}.attn.q/k/pattern."""

    config = FakeConfig()

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        d = self.config.d_model
        self.embedding = torch.randn(40, d, generator=generator)
        self.w_q = torch.randn(self.config.n_layers, d, d, generator=generator)
        self.w_k = torch.randn(self.config.n_layers, d, d, generator=generator)
        self.training = True

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def parameters(self):
        return iter([self.embedding])

    def run_with_cache(self, input_ids, attention_mask=None):
        batch, length = input_ids.shape
        heads, d_head = self.config.n_heads, self.config.d_model // self.config.n_heads
        x = self.embedding[input_ids]
        cache = {}
        for i in range(self.config.n_layers):
            q = (x @ self.w_q[i]).view(batch, length, heads, d_head).transpose(1, 2)
            k = (x @ self.w_k[i]).view(batch, length, heads, d_head).transpose(1, 2)
            cache[f"blocks.{i}.attn.q"], cache[f"blocks.{i}.attn.k"] = q, k
            cache[f"blocks.{i}.attn.pattern"] = (q @ k.transpose(-1, -2) / math.sqrt(d_head)).softmax(-1)
        return None, cache


class FakeTokenizer:
    cls_token, sep_token, pad_token, mask_token, unk_token = "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"

    def __init__(self):
        words = [self.pad_token, self.unk_token, self.cls_token, self.sep_token, self.mask_token]
        words += "zebras play the violin owls read maps".split()
        self.vocab = {w: i for i, w in enumerate(words)}

    def tokenize(self, text):
        return text.lower().split()

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, 1) for t in tokens]


def assert_queries_keys_explain_attention(entry: dict, atol: float) -> None:
    """softmax(q.k / sqrt(d)) computed from the page's queries and keys equals the page's attention weights."""
    queries, keys, attn = (torch.tensor(entry[name], dtype=torch.float64) for name in ("queries", "keys", "attn"))
    logits = queries @ keys.transpose(-1, -2) / math.sqrt(queries.shape[-1])
    torch.testing.assert_close(logits.softmax(-1), attn, atol=atol, rtol=0)


def test_neuron_view_with_a_fake_ptmlab_model():
    model, tokenizer = FakePtmlabModel(), FakeTokenizer()
    view = neuron_view(model, tokenizer, "zebras play the violin", layer=1, head=1)
    assert view.kind == "neuron" and view.tokens == ["[CLS]", "zebras", "play", "the", "violin", "[SEP]"]
    params = neuron_params_of(view)
    entry = params["attention"]["all"]
    assert entry["left_text"] == view.tokens
    assert np.asarray(entry["queries"]).shape == (2, 2, 6, 4) and np.asarray(entry["attn"]).shape == (2, 2, 6, 6)
    assert params["layer"] == 1 and params["head"] == 1 and params["bidirectional"] is True
    assert_queries_keys_explain_attention(entry, atol=2e-3)
    assert model.training, "neuron_view must hand the model back in the mode it found it"
    lowered = view.html.lower()
    assert not any(marker in lowered for marker in CDN_MARKERS)
    # a sentence pair adds the A/B filters
    pair = neuron_params_of(neuron_view(model, tokenizer, "zebras play", text_b="owls read maps"))
    assert set(pair["attention"]) == {"all", "aa", "ab", "ba", "bb"}
    assert pair["attention"]["all"]["left_text"] == [
        "[CLS]",
        "zebras",
        "play",
        "[SEP]",
        "owls",
        "read",
        "maps",
        "[SEP]",
    ]


def test_neuron_view_errors():
    model, tokenizer = FakePtmlabModel(), FakeTokenizer()
    with pytest.raises(InputError, match="model_type"):
        neuron_view(model, tokenizer, "zebras play", model_type="t5")
    with pytest.raises(InputError, match="non-empty text"):
        neuron_view(model, tokenizer, "   ")
    with pytest.raises(InputError, match="layer=2"):
        neuron_view(model, tokenizer, "zebras play", layer=2)
    with pytest.raises(InputError, match="head=5"):
        neuron_view(model, tokenizer, "zebras play", head=5)
    with pytest.raises(InputError, match="cannot read queries and keys"):
        neuron_view(object(), tokenizer, "zebras play")
    no_specials = FakeTokenizer()
    no_specials.cls_token = None
    with pytest.raises(InputError, match="model_type='gpt2'"):
        neuron_view(model, no_specials, "zebras play")
    view = neuron_view(model, no_specials, "zebras play", model_type="gpt2")  # no [CLS]/[SEP] for a decoder
    assert neuron_params_of(view)["bidirectional"] is False and view.tokens == ["zebras", "play"]


def test_neuron_view_with_the_ptmlab_transformer():
    transformer = pytest.importorskip("ptmlab.models.transformer")
    tokenizers = pytest.importorskip("ptmlab.data.tokenizers")
    tokenizer = tokenizers.WordTokenizer.train(["zebras play the violin", "owls read maps"])
    vocab_size = tokenizer.vocab_size() if callable(tokenizer.vocab_size) else tokenizer.vocab_size
    torch.manual_seed(0)
    config = transformer.TransformerConfig(vocab_size=vocab_size, max_len=16, d_model=32, n_layers=2, n_heads=4)
    model = transformer.Transformer(config)
    view = neuron_view(model, tokenizer, "zebras play the violin", layer=1, head=3)
    entry = neuron_params_of(view)["attention"]["all"]
    assert np.asarray(entry["queries"]).shape == (2, 4, 6, 8)
    assert_queries_keys_explain_attention(entry, atol=2e-3)
    assert model.training  # a fresh nn.Module is in training mode; neuron_view restores it


# ----------------------------------------------------------------------------- packaging rules
def test_no_cdn_urls_in_the_package():
    """No file in ptmlab/ points at a CDN; the view modules do not even name one."""
    package = Path(__file__).resolve().parents[1] / "ptmlab"
    cdn_url = re.compile(r"(?:https?:)?//[a-z0-9.-]*(?:cdnjs|unpkg|jsdelivr|cdn\.)", re.IGNORECASE)
    offenders = []
    for path in package.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".js", ".html", ".css", ".json", ".md", ".txt"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{path.relative_to(package)}: {m.group(0)}" for m in cdn_url.finditer(text)]
    assert offenders == []
    for name in ("viz/attention.py", "viz/_assets.py", "models/hf.py"):
        text = (package / name).read_text(encoding="utf-8").lower()
        assert not [m for m in ("cdnjs", "unpkg", "jsdelivr", "cdn.") if m in text], name


def test_importing_the_module_stays_light():
    code = "import sys, ptmlab.viz.attention; print([m for m in ('torch', 'plotly', 'bertviz') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
