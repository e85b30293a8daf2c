"""`make lab` serves the workbook: JupyterLab starts on the start page (printed URL and launched
browser alike), lists the notebooks over its HTTP API, and turns off the news prompt.

The server is started as `make lab` starts it: the project's settings folder ``jupyter/`` on
``JUPYTER_CONFIG_PATH`` and ``--notebook-dir=notebooks``; the user's home config is replaced by an
empty temporary one so the test sees the project's settings only.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from visrec_helpers.book.workbook import NOTEBOOK_DIR

ROOT = Path(__file__).resolve().parent.parent
LAB_CONFIG = ROOT / "jupyter"
START = "/lab/tree/00_start_here.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(tmp_path: Path) -> dict:
    """The environment `make lab` gives JupyterLab, with home config and runtime files in tmp_path."""
    return dict(os.environ, JUPYTER_CONFIG_PATH=str(LAB_CONFIG), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
                JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
                JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))


def test_make_lab_uses_the_project_settings_folder():
    recipe = subprocess.run(["make", "-n", "-s", "lab"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert "JUPYTER_CONFIG_PATH=" + str(LAB_CONFIG) in recipe
    assert "--notebook-dir=notebooks" in recipe


def test_project_settings_open_the_start_page_and_disable_the_news_prompt():
    lab = json.loads((LAB_CONFIG / "jupyter_lab_config.json").read_text())
    assert lab["LabApp"]["default_url"] == START
    assert (NOTEBOOK_DIR / START.rsplit("/", 1)[1]).exists()
    page = json.loads((LAB_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True


@pytest.mark.slow
def test_jupyterlab_opens_the_start_page_and_lists_the_notebooks(tmp_path):
    port, token = _free_port(), "visrec-test"
    opened = tmp_path / "opened.txt"
    # a stand-in browser: records the URL JupyterLab launches
    browser = f"{sys.executable} -c \"import sys, pathlib; pathlib.Path({str(opened)!r}).write_text(sys.argv[1])\" %s"
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--port={port}", "--ip=127.0.0.1",
           f"--notebook-dir={NOTEBOOK_DIR}", f"--IdentityProvider.token={token}", f"--ServerApp.browser={browser}",
           "--ServerApp.port_retries=0"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "lab.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=lab_env(tmp_path))
    try:
        url = f"http://127.0.0.1:{port}/api/contents/?token={token}"
        deadline, listing = time.time() + 90, None
        while time.time() < deadline and listing is None:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited early: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    listing = json.load(resp)
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer within 90 s"
        names = {item["name"] for item in listing["content"]}
        assert "00_start_here.ipynb" in names
        assert "q01_content_based_recommendation.ipynb" in names
        # the URL it prints for the user to open
        printed = re.findall(r"http://\S+", log.read_text())
        assert printed and all(f"{START}?token=" in u for u in printed), printed
        # the URL it hands the browser (a local redirect page pointing at the start page)
        deadline = time.time() + 30
        while time.time() < deadline and not opened.exists():
            time.sleep(0.5)
        target = opened.read_text()
        if target.startswith("file://"):
            target = Path(urllib.request.url2pathname(target.removeprefix("file://"))).read_text()
        assert f"{START}?token={token}" in target
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{START}?token={token}", timeout=10) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and "JupyterLab" in page
        assert "@jupyterlab/apputils-extension:announcements" in page  # listed as disabled in page config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
