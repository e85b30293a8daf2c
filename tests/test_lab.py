"""`make lab` serves the workbook: JupyterLab starts and lists the notebooks over its HTTP API."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from visrec_helpers.book.workbook import NOTEBOOK_DIR


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_lists_the_notebooks(tmp_path):
    port, token = _free_port(), "visrec-test"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--notebook-dir={NOTEBOOK_DIR}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/?token={token}"
        deadline, listing = time.time() + 90, None
        while time.time() < deadline and listing is None:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited early: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    listing = json.load(resp)
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer within 90 s"
        names = {item["name"] for item in listing["content"]}
        assert "00_start_here.ipynb" in names
        assert "q01_content_based_recommendation.ipynb" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as resp:
            assert resp.status == 200 and b"JupyterLab" in resp.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
