"""Serving the explorer: the Voila command line and environment that `ptmlab explore` runs, and its port checks.

The page is ptmlab/app/explorer.ipynb; the offline Voila template (lab without CDN stylesheets) is ptmlab/app/templates."""

from __future__ import annotations

import sys
from pathlib import Path

from ptmlab.errors import InputError, PtmlabError

APP_DIR = Path(__file__).resolve().parent.parent  # ptmlab/app: the notebook and the templates ship there


def notebook_path() -> Path:
    """The Voila page shipped inside the package (ptmlab/app/explorer.ipynb)."""
    return APP_DIR / "explorer.ipynb"


def normalise_base_url(base_url: str) -> str:
    base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    return base_url


def voila_command(port: int, *, base_url: str = "/", open_browser: bool = False) -> list[str]:
    """The command line that serves the explorer on 127.0.0.1:port under base_url (for a reverse proxy)."""
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise PtmlabError("Voila, which serves the explorer, is not installed.", fix="pip install 'ptmlab[app]'")
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook_path()),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        f"--Voila.base_url={normalise_base_url(base_url)}",
        "--VoilaConfiguration.show_tracebacks=False",
        "--theme=light",
        "--template=ptmlab",  # Voila's lab template without its CDN stylesheets (see templates/)
    ]
    if not open_browser:
        command.append("--no-browser")
    return command


def voila_environment() -> dict[str, str]:
    """The environment for the Voila process: ours, plus the folder holding the offline `ptmlab` Voila template."""
    import os

    templates = str(APP_DIR / "templates")
    search = [templates, os.environ.get("JUPYTER_PATH", "")]
    return {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in search if p)}


def free_port() -> int:
    import contextlib
    import socket

    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port(port: int) -> None:
    import contextlib
    import socket

    if not 0 < port < 65536:
        raise InputError(f"Port {port} is not a TCP port.", fix="Use a number between 1024 and 65535.")
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise InputError(f"Port {port} is already in use.", fix="Leave out --port to pick a free one.") from err
