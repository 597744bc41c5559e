"""JupyterLab in headless Chromium, network blocked: run a notebook top to bottom and check that the bertviz iframe
draws, a plotly figure renders, and an ipywidgets slider reaches the kernel and back.

Two notebooks: one this test writes (a head view, a heatmap and the probe slider; it guards the machinery on its own)
and the course's notebooks/00_roadmap.ipynb. Both run from a temporary copy, so the repository is never modified."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = float(os.environ.get("PTMLAB_LAB_TIMEOUT", "240"))  # running every cell, smoke preset
SERVER_START_TIMEOUT_S = 60
CHAPTER_00 = REPO_ROOT / "notebooks" / "00_roadmap.ipynb"
PROBE_TOKENS = ["[CLS]", "zebras", "play", "violins", "[SEP]"]

# JupyterLab >= 4 virtualises long notebooks (cells off screen are not in the DOM); draw every cell so the test can
# find outputs anywhere in the notebook.
# No news or update pop-ups over the screenshots (JupyterLab would otherwise ask whether to fetch news).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


# ----------------------------------------------------------------------------- the JupyterLab server
def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, state_dir: Path) -> Iterator[str]:
    """Start `jupyter lab` on a free loopback port serving root_dir; yield its base URL; always stop it (and its
    kernels). Config, settings, workspaces and runtime files go to state_dir, never the user's ~/.jupyter."""
    settings_dir = state_dir / "settings"
    for name, value in LAB_SETTINGS.items():
        plugin, file_name = name.rsplit("/", 1)
        (settings_dir / plugin).mkdir(parents=True, exist_ok=True)
        (settings_dir / plugin / file_name).write_text(json.dumps(value), encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "PTMLAB_PRESET": "smoke",
        "PTMLAB_HOME": str(state_dir / "ptmlab_home"),
        "JUPYTER_CONFIG_DIR": str(state_dir / "config"),
        "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / "workspaces"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
        "MPLBACKEND": "Agg",
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--no-browser",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
    ]
    log_path = state_dir / "jupyter.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_http(f"{base_url}/api/status", server, log_path)
        yield base_url
    finally:
        _stop_server(server, base_url)


def _wait_for_http(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"jupyter lab exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError(
        f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}"
    )


def _stop_server(server: subprocess.Popen, base_url: str) -> None:
    """Shut kernels down through the API (they run in their own sessions), then stop the server we started."""
    if server.poll() is None:
        with contextlib.suppress(Exception):
            for session in json.load(urllib.request.urlopen(f"{base_url}/api/sessions", timeout=5)):
                request = urllib.request.Request(f"{base_url}/api/sessions/{session['id']}", method="DELETE")
                urllib.request.urlopen(request, timeout=10).close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


# ----------------------------------------------------------------------------- driving the notebook
def run_notebook_in_lab(session, base_url: str, relative_path: str) -> None:
    """Open the notebook, run all cells, wait until every code cell has executed and the kernel is idle."""
    page = session.page
    page.set_default_timeout(60_000)
    page.goto(f"{base_url}/lab/tree/{relative_path}?reset", wait_until="domcontentloaded")
    page.wait_for_function(
        """(path) => {
            const app = window.jupyterapp;
            const panel = app && app.shell.currentWidget;
            return !!(panel && panel.context && panel.context.path === path && panel.sessionContext
                      && panel.sessionContext.session && panel.sessionContext.session.kernel);
        }""",
        arg=relative_path,
        timeout=90_000,
    )
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel.sessionContext.session.kernel;
            const deadline = Date.now() + 60000;
            while (kernel.status !== 'idle' && Date.now() < deadline) { await new Promise(r => setTimeout(r, 200)); }
        }"""
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
            const done = cells.every(cell => cell.model.executionCount !== null && !cell.promptNode?.textContent.includes('*'));
            return done && panel.sessionContext.session.kernel.status === 'idle';
        }""",
        timeout=RUN_TIMEOUT_S * 1000,
        polling=500,
    )


def error_outputs(session) -> list[str]:
    return session.page.evaluate(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const errors = [];
            panel.content.widgets.forEach((cell, index) => {
                if (cell.model.type !== 'code') return;
                for (const output of cell.model.outputs.toJSON()) {
                    if (output.output_type === 'error') errors.push(`cell ${index}: ${output.ename}: ${output.evalue}`);
                }
            });
            return errors;
        }"""
    )


def bertviz_frames(session) -> list:
    """Frames (iframes in outputs) holding one of our attention views."""
    frames = []
    for frame in session.page.frames:
        if frame == session.page.main_frame:
            continue
        with contextlib.suppress(Exception):
            if frame.evaluate("() => !!document.getElementById('ptmlab-root')"):
                frames.append(frame)
    return frames


def svg_texts(frame) -> list[str]:
    return frame.eval_on_selector_all("svg text", "nodes => nodes.map(n => n.textContent.trim())")


def move_probe_slider(session) -> tuple[str, str]:
    """Press → on the 'probe' slider; return (value before, label text the kernel sent back)."""
    page = session.page
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^\s*probe\s*$")))
    slider.first.scroll_into_view_if_needed()
    readout = slider.first.locator(".widget-readout")
    before = readout.inner_text().strip()
    handle = slider.first.locator(".noUi-handle")
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('.widget-slider .widget-readout')].some(r => r.textContent.trim() !== before)",
        arg=before,
        timeout=10_000,
    )
    after = readout.inner_text().strip()
    assert after != before, "the slider did not move"
    expected = f"kernel saw {after}"
    label = page.locator(".widget-label", has_text=expected)
    label.first.wait_for(state="attached", timeout=30_000)  # the kernel's observer wrote it
    return before, label.first.inner_text().strip()


def copy_tree_for_lab(source_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lab_root"
    shutil.copytree(source_dir, root / source_dir.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


# ----------------------------------------------------------------------------- the tests
def _probe_notebook() -> dict:
    import nbformat

    cells = [
        nbformat.v4.new_code_cell(
            "import torch\n"
            "from ptmlab.viz.attention import attention_heatmap, head_view\n"
            f"tokens = {PROBE_TOKENS!r}\n"
            "generator = torch.Generator().manual_seed(0)\n"
            "attentions = [torch.randn(1, 4, 5, 5, generator=generator).softmax(-1) for _ in range(2)]\n"
            "head_view(attentions, tokens)"
        ),
        nbformat.v4.new_code_cell("attention_heatmap(attentions, tokens, layer=1, head=2)"),
        nbformat.v4.new_code_cell(
            "import ipywidgets as widgets\n"
            "probe = widgets.IntSlider(value=3, min=0, max=10, description='probe')\n"
            "seen = widgets.Label(value='kernel saw nothing yet')\n"
            "probe.observe(lambda change: setattr(seen, 'value', f\"kernel saw {change['new']}\"), names='value')\n"
            "widgets.VBox([probe, seen])"
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def test_lab_renders_views_offline(browser_session, tmp_path: Path):
    """A notebook written here: bertviz head view (iframe), plotly heatmap and the probe slider, all offline."""
    import nbformat

    notebooks = tmp_path / "src" / "notebooks"
    notebooks.mkdir(parents=True)
    nbformat.write(_probe_notebook(), notebooks / "probe.ipynb")
    root = copy_tree_for_lab(notebooks, tmp_path)
    started = time.monotonic()
    with jupyter_lab(root, tmp_path / "state") as base_url:
        run_notebook_in_lab(browser_session, base_url, "notebooks/probe.ipynb")
        assert error_outputs(browser_session) == []
        frames = bertviz_frames(browser_session)
        assert len(frames) == 1, "expected the head view's iframe"
        frames[0].wait_for_selector("svg text", state="attached", timeout=20_000)
        texts = svg_texts(frames[0])
        assert all(token in texts for token in PROBE_TOKENS), texts
        browser_session.page.wait_for_selector(".js-plotly-plot .main-svg", state="attached", timeout=30_000)
        before, label = move_probe_slider(browser_session)
        assert before == "3" and label == "kernel saw 4"
        browser_session.screenshot("lab_probe_notebook")
        frames[0].frame_element().scroll_into_view_if_needed()
        browser_session.screenshot("lab_probe_notebook_head_view", full_page=False)
        assert browser_session.blocked_requests == [], browser_session.blocked_requests
    print(f"probe notebook in JupyterLab: {time.monotonic() - started:.1f}s")


@pytest.mark.slow
@pytest.mark.skipif(not CHAPTER_00.exists(), reason="notebooks/00_roadmap.ipynb is not written yet")
def test_lab_chapter00_runs_and_renders(browser_session, tmp_path: Path):
    """Chapter 00 under the smoke preset: every cell runs without error, its bertviz views draw in their iframes, the
    plotly figures render, and the 'probe' slider redraws through the kernel."""
    digest_before = hashlib.sha256(CHAPTER_00.read_bytes()).hexdigest()
    root = copy_tree_for_lab(CHAPTER_00.parent, tmp_path)
    relative = f"{CHAPTER_00.parent.name}/{CHAPTER_00.name}"
    started = time.monotonic()
    with jupyter_lab(root, tmp_path / "state") as base_url:
        run_notebook_in_lab(browser_session, base_url, relative)
        assert error_outputs(browser_session) == []
        frames = bertviz_frames(browser_session)
        assert frames, "no bertviz iframe in the notebook's outputs"
        for frame in frames:
            frame.wait_for_selector("svg text", state="attached", timeout=20_000)
            assert [t for t in svg_texts(frame) if t], "a bertviz frame drew no text"
        browser_session.page.wait_for_selector(".js-plotly-plot .main-svg", state="attached", timeout=30_000)
        _, label = move_probe_slider(browser_session)
        assert label.startswith("kernel saw ")
        browser_session.screenshot("lab_chapter00")
        for index, frame in enumerate(frames):
            frame.frame_element().scroll_into_view_if_needed()
            browser_session.screenshot(f"lab_chapter00_view{index}", full_page=False)
        assert browser_session.blocked_requests == [], browser_session.blocked_requests
    assert hashlib.sha256(CHAPTER_00.read_bytes()).hexdigest() == digest_before, "the notebook file was modified"
    print(f"chapter 00 in JupyterLab: {time.monotonic() - started:.1f}s")
