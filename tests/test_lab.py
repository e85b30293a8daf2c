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

from visrec_book.workbook import NOTEBOOK_DIR

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


# The start page's map: static Markdown links generated from the notebooks' titles.

def test_start_page_map_is_what_the_script_writes():
    from visrec_book import workbook

    assert workbook.check_map() == []


def test_map_links_every_notebook_by_its_title():
    from visrec_book import workbook

    text = workbook.map_markdown()
    links = re.findall(r"\| \[([^\]]+)\]\(([^)]+)\.ipynb\) \|", text)
    assert [stem for _, stem in links] == [stem for _, stem, _, _ in workbook.NOTEBOOK_MAP]
    assert links == [(workbook.notebook_title(NOTEBOOK_DIR / f"{stem}.ipynb"), stem) for _, stem in links]
    assert links[0][0].startswith("q01 · ")
    assert text.index("**Interview questions**") < text.index("[q15") < text.index("**Coding tasks**") < text.index("[t01")


def _tiny_workbook(tmp_path: Path) -> Path:
    """A start page and two notebooks in tmp_path; the map written by the script."""
    import shutil

    from visrec_book import workbook

    for stem in ("00_start_here", "q01_content_based_recommendation", "t01_cnn_image_classification"):
        shutil.copy(NOTEBOOK_DIR / f"{stem}.ipynb", tmp_path)
    start = tmp_path / "00_start_here.ipynb"
    workbook.write_map(start)
    assert workbook.check_map(start) == []
    return start


def test_map_check_fails_when_a_title_changes(tmp_path):
    from visrec_book import workbook

    start = _tiny_workbook(tmp_path)
    q01 = tmp_path / "q01_content_based_recommendation.ipynb"
    q01.write_text(q01.read_text(encoding="utf-8").replace("# q01 · How do you build", "# q01 · How would you build"),
                   encoding="utf-8")
    assert workbook.check_map(start) and "stale" in workbook.check_map(start)[0]
    assert workbook.write_map(start) is True
    assert workbook.check_map(start) == []
    assert "How would you build" in start.read_text(encoding="utf-8")


def test_map_check_fails_when_the_map_is_edited_by_hand(tmp_path):
    from visrec_book import workbook

    start = _tiny_workbook(tmp_path)
    start.write_text(start.read_text(encoding="utf-8").replace("t01 · ", "t01 - "), encoding="utf-8")
    assert workbook.check_map(start)


def test_map_check_names_a_missing_map_cell(tmp_path):
    from visrec_book import workbook

    start = _tiny_workbook(tmp_path)
    start.write_text(start.read_text(encoding="utf-8").replace('"notebook-map"', '"other"'), encoding="utf-8")
    with pytest.raises(ValueError, match="00_start_here.ipynb: expected one markdown cell tagged 'notebook-map'"):
        workbook.check_map(start)
