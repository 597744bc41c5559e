"""`ptmlab explore` in headless Chromium with the network blocked: the Voila app starts, a typed sentence draws a bertviz
view, predictions and a plotly projector; switching to Hugging Face MiniLM redraws them; bad input shows a message.

One test drives the whole session (starting Voila and a kernel is the slow part); screenshots go to
artifacts/screenshots/explorer_*.png."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptmlab.app.explorer import free_port

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90  # Voila's server, then a kernel importing torch: slow on a busy 2-core machine
STEP_TIMEOUT_MS = 60_000
SENTENCES = ["the river flows into the sea .", "the city is the capital of the country .", "a ship sails on the sea ."]
TYPED = "the ship flows into the city ."
MINILM_LABEL = "all-MiniLM-L6-v2 (Hugging Face, bundled)"


def _write_small_run(home: Path) -> None:
    """A cached ptmlab MLM run as the recipes save it (untrained weights: the browser test is about drawing)."""
    import torch

    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.heads import MaskedLanguageModel
    from ptmlab.models.transformer import TransformerConfig
    from ptmlab.train.checkpoint import save_checkpoint

    tokenizer = train_tokenizer(SENTENCES, kind="word", vocab_size=100)
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=32, d_model=32, n_layers=2, n_heads=4)
    meta = {"tokenizer": tokenizer.to_dict(), "key": "mlm", "config": {"steps": 0}}
    save_checkpoint(home / "runs" / "mlm-00000000browser.safetensors", MaskedLanguageModel(config), meta)


@contextlib.contextmanager
def explorer_server(state: Path) -> Iterator[str]:
    """`ptmlab explore --port P --no-browser` with a private PTMLAB_HOME and Jupyter dirs; always stopped."""
    home = state / "ptmlab_home"
    _write_small_run(home)
    port = free_port()
    env = {
        **os.environ,
        "PTMLAB_HOME": str(home),
        "PTMLAB_PRESET": "smoke",
        "PTMLAB_THREADS": "1",
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    env.pop("PTMLAB_SHARED_CACHE", None)
    log_path = state / "explore.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "ptmlab.cli", "explore", "--port", str(port), "--no-browser"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                raise AssertionError(f"ptmlab explore exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no server after {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        printed = log_path.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in printed, f"the URL should be printed first: {printed[:500]}"
        yield f"http://127.0.0.1:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # our own process group: ptmlab, Voila and its kernel
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


# ----------------------------------------------------------------------------- reading the page
def _wait(page, predicate, what: str, timeout_ms: int = STEP_TIMEOUT_MS):
    """Poll a Python predicate (reading across iframes, which page.wait_for_function cannot) until it is truthy."""
    deadline = time.monotonic() + timeout_ms / 1000
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if last:
                return last
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out waiting for {what} (last value: {last!r})")


def attention_frame_texts(page) -> list[str]:
    handle = page.query_selector("iframe.ptmlab-attention-frame")
    frame = handle.content_frame() if handle else None
    if frame is None:
        return []
    return frame.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent.trim())")


def head_view_layers(page) -> int:
    frame = page.query_selector("iframe.ptmlab-attention-frame").content_frame()
    return frame.eval_on_selector("#layer", "select => select.options.length")


def projector_labels(page) -> list[str]:
    return page.eval_on_selector_all(".js-plotly-plot .textpoint text", "nodes => nodes.map(n => n.textContent)")


def text_of(page, selector: str) -> str:
    element = page.query_selector(selector)
    return element.inner_text() if element else ""


def widget_input(page, label: str, kind: str = "input"):
    return page.locator(f".widget-inline-hbox:has(> label:text-is('{label}')) {kind}").first


def test_explorer_end_to_end(browser_session, tmp_path):
    page = browser_session.page
    page.set_default_timeout(STEP_TIMEOUT_MS)
    with explorer_server(tmp_path) as url:
        started = time.monotonic()
        page.goto(url, wait_until="domcontentloaded", timeout=START_TIMEOUT_S * 1000)
        # The app analyses its example sentence as soon as it loads.
        _wait(page, lambda: "capital" in attention_frame_texts(page), "the first head view", START_TIMEOUT_S * 1000)
        loaded_after = time.monotonic() - started
        menu = widget_input(page, "Model", "select")
        shown = menu.evaluate("select => select.selectedIndex >= 0 ? select.options[select.selectedIndex].text : ''")
        shown = shown.replace("\xa0", " ")  # ipywidgets shows option labels with non-breaking spaces
        assert shown.startswith("mlm: MaskedLanguageModel"), f"the menu should show the open model, not {shown!r}"

        # 1. Type a sentence: the head view, predictions and projector all switch to it.
        sentence = widget_input(page, "Sentence")
        sentence.fill(TYPED)
        sentence.press("Enter")
        _wait(page, lambda: {"ship", "flows", "city"} <= set(attention_frame_texts(page)), "the typed sentence's view")
        assert head_view_layers(page) == 2
        predictions = _wait(
            page,
            lambda: "ship" in text_of(page, ".ptmlab-predictions") and text_of(page, ".ptmlab-predictions"),
            "predictions",
        )
        assert "Each word hidden in turn" in predictions and predictions.count("%") >= 3 * 6
        labels = _wait(
            page,
            lambda: {"ship", "flows"} <= set(projector_labels(page)) and projector_labels(page),
            "the projector's labels",
        )
        assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2  # the sentence and its neighbours
        assert "ship" in text_of(page, ".ptmlab-neighbours") and "[MASK]" in text_of(page, ".ptmlab-corruption")
        browser_session.screenshot("explorer_ptmlab_mlm")
        typed_after = time.monotonic() - started
        ptmlab_neighbours = text_of(page, ".ptmlab-neighbours")

        # 2. Switch the model to Hugging Face MiniLM: 6 layers, no LM head, other neighbours.
        menu.select_option(label=MINILM_LABEL)
        _wait(page, lambda: "all-MiniLM-L6-v2" in text_of(page, ".ptmlab-model-info"), "MiniLM to load")
        _wait(page, lambda: head_view_layers(page) == 6, "MiniLM's 6-layer head view")
        assert {"ship", "flows", "city"} <= set(attention_frame_texts(page))
        _wait(page, lambda: "no language-model head" in text_of(page, "body"), "the no-predictions note")
        _wait(page, lambda: text_of(page, ".ptmlab-neighbours") not in ("", ptmlab_neighbours), "new neighbours")
        assert {"ship", "flows"} <= set(projector_labels(page)) and labels
        browser_session.screenshot("explorer_minilm")
        switched_after = time.monotonic() - started

        # 3. The model view and the neuron view draw too.
        page.locator(".widget-toggle-button", has_text="neuron").click()
        _wait(page, lambda: page.query_selector("iframe[data-ptmlab-view='neuron']"), "the neuron view frame")
        _wait(page, lambda: "ship" in attention_frame_texts(page), "the neuron view to draw")
        browser_session.screenshot("explorer_minilm_neuron_view")

        # 4. Bad input: a message in the page, never a traceback.
        sentence.fill("☃ ☃ ☃")
        sentence.press("Enter")
        message = _wait(page, lambda: text_of(page, ".ptmlab-message"), "a message for unknown characters")
        assert "unknown" in message
        other = page.locator("input[placeholder*='Hugging Face name']")
        other.fill("/no/such/model")
        other.press("Enter")
        _wait(page, lambda: "Nothing exists" in text_of(page, ".ptmlab-message"), "a message for a missing path")
        assert "Traceback" not in text_of(page, "body")
        browser_session.screenshot("explorer_bad_input")

    assert browser_session.blocked_requests == [], (
        f"the app tried to reach the network: {browser_session.blocked_requests}"
    )
    assert browser_session.page_errors == [], f"JavaScript errors: {browser_session.page_errors}"
    print(
        f"explorer: first view {loaded_after:.1f} s after the server answered, typed sentence drawn at "
        f"{typed_after:.1f} s, MiniLM drawn at {switched_after:.1f} s"
    )
