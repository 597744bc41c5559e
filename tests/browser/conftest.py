"""Browser-test fixtures: Debian's headless Chromium driven by Playwright, every non-loopback request aborted.

A view that renders here rendered with no network at all: tests assert that no blocked request was needed."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PTMLAB_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "about", "blob", "file", "chrome-error"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Defence in depth beside the request router: names other than loopback do not even resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (run scripts/install_chromium.sh as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; never `playwright install`)"
    return None


def _skip(reason: str) -> None:
    # A visible notice in the test log, not only in -rs output.
    warnings.warn(f"browser tests skipped: {reason}", stacklevel=2)
    pytest.skip(f"browser tests skipped: {reason}")


def is_local_url(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    return parsed.scheme in ("http", "https", "ws", "wss") and (parsed.hostname or "") in LOOPBACK_HOSTS


@dataclass
class BrowserSession:
    """A page in a fresh Chromium profile, plus what happened on it."""

    page: Any
    context: Any
    blocked_requests: list[str] = field(default_factory=list)  # non-loopback URLs the page tried to load
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions

    def screenshot(self, name: str, *, full_page: bool = True, target: Any = None) -> Path:
        """Save a PNG under artifacts/screenshots/ and return its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if target is not None:
            target.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    reason = _skip_reason()
    if reason:
        _skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser_session(playwright_instance: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserSession]:
    """A fresh Chromium profile (new user-data-dir) whose requests may reach only 127.0.0.1 / localhost."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
        service_workers="block",
    )
    session = BrowserSession(page=None, context=context)

    def route(route_: Any) -> None:
        url = route_.request.url
        if is_local_url(url):
            route_.continue_()
        else:
            session.blocked_requests.append(url)
            route_.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.pages[0] if context.pages else context.new_page()
    page.on("console", lambda msg: session.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: session.page_errors.append(str(err)))
    session.page = page
    try:
        yield session
    finally:
        context.close()


@pytest.fixture
def browser_page(browser_session: BrowserSession) -> Any:
    """The Playwright page of `browser_session` (use browser_session to see blocked requests and errors)."""
    return browser_session.page


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve `directory` on a loopback port in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(directory, base_url): files written into directory are served from a loopback HTTP server."""
    root = tmp_path / "site"
    root.mkdir()
    with serve_directory(root) as url:
        yield root, url
