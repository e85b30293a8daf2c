"""End-to-end: the t08 widget app in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on a free localhost port (token auth), opens a copy of t08 with its CI
parameters, runs all cells, clicks one thumbnail's "view" button and checks that the
recommended row changed. Saves a screenshot to build/browser/t08.png.

Needs Debian's ``chromium`` at /usr/bin/chromium and the ``playwright`` Python package
(its own browser downloads are never used); skips with the reason otherwise.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "t08_realtime_browsing_recommendation"
OUT = ROOT / "build" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found: install Debian's chromium "
                       "(apt-get install chromium) to run the browser test"),
]


# true once the notebook's kernel is connected and idle
KERNEL_IDLE = """() => { const w = window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.isReady && w.sessionContext.session
            && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'); }"""


def _dismiss_news_prompt(page) -> None:
    """Answer JupyterLab's "get notified about news?" toast with No, if it is shown."""
    no = page.get_by_role("button", name="No")
    if no.count():
        no.first.click(timeout=5_000)


def _shutdown_kernels(base: str, token: str) -> None:
    """Ask the server to stop its kernels (they run in their own process groups)."""
    import json

    try:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as r:
            kernels = json.loads(r.read())
        for k in kernels:
            req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except OSError:
        pass  # the server is already gone; SIGTERM below stops whatever is left


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free port serving a CI-parameterised copy of t08."""
    from visrec_helpers.book.workbook import prepare

    work = tmp_path / "lab"
    prepare(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", work)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield f"{base}/lab/tree/{NOTEBOOK}.ipynb?token={token}", log
    finally:
        _shutdown_kernels(base, token)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def test_t08_app_updates_the_recommended_row_on_click(jupyterlab):
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    url, log = jupyterlab
    OUT.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=180_000)
            # "Run All", as a learner would; the command's promise resolves when every cell ran
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(KERNEL_IDLE, timeout=300_000)
            # cells off screen may be laid out lazily: wait for the widget in the DOM, not on screen
            ids = page.locator(".visrec-app .visrec-ids").first
            ids.wait_for(state="attached", timeout=60_000)
            before = ids.text_content()
            assert before.strip(), "the recommended row shows no item ids"
            button = page.locator(".visrec-app .visrec-grid .visrec-view").first
            button.scroll_into_view_if_needed(timeout=30_000)
            button.click(timeout=30_000)
            page.wait_for_function(
                "(before) => { const e = document.querySelector('.visrec-app .visrec-ids');"
                " return e && e.textContent !== before; }",
                arg=before, timeout=120_000,
            )
            after = ids.text_content()
            caption = page.locator(".visrec-app .visrec-rec-ids").first.text_content()
            latency = page.locator(".visrec-app .visrec-latency").first.text_content()
            _dismiss_news_prompt(page)
            page.locator(".visrec-app .visrec-latency").first.scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / "t08.png"), full_page=False)
            (OUT / "t08.txt").write_text(f"before: {before}\nafter: {caption}\nlatency: {latency}\n")
        finally:
            browser.close()
    assert after != before
    assert "after 1 view" in caption, f"the row should say it follows one view, got {caption!r}"
    assert "ms" in latency and "1 click" in latency, f"the latency label was not updated: {latency!r}"
    assert (OUT / "t08.png").stat().st_size > 10_000
    shutil.copy(log, OUT / "jupyterlab.log")
