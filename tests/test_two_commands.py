"""The README's first command really opens the course: `make lab` starts JupyterLab and serves chapter 00.

Runs the real Makefile target (its setup step is a no-op once `make test` has installed the venv), waits for the lab to
answer on a free loopback port, then stops it."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv" / ".installed-course").exists(),
                    reason="needs make and the venv that `make lab` / `make test` install")  # fmt: skip
def test_make_lab_serves_the_course(tmp_path):
    port = _free_port()
    env = {**os.environ, "PTMLAB_HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    lab = subprocess.Popen(["make", "lab", f"PORT={port}", "LAB_ARGS=--no-browser --ServerApp.token=ptmlab-test"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)  # fmt: skip
    try:
        deadline, status, base = time.monotonic() + 120, None, f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                status = urllib.request.urlopen(f"{base}/lab?token=ptmlab-test", timeout=5).status
                break
            except OSError:
                time.sleep(1)
        assert lab.poll() is None, f"make lab exited early:\n{lab.stdout.read()[-3000:]}"
        assert status == 200
        # the course opens on chapter 00: the lab's file root holds it (the notebook's folder)
        listing = json.loads(urllib.request.urlopen(f"{base}/api/contents?token=ptmlab-test", timeout=10).read())
        assert "00_roadmap.ipynb" in {item["name"] for item in listing["content"]}
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
