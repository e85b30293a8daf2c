"""The network guard that every notebook run starts with: loopback yes, anything else no."""

import socket
import threading

import pytest

from visrec_helpers.book import netguard


@pytest.fixture
def guard():
    netguard.install()
    yield
    netguard.uninstall()


def test_remote_connection_is_refused_before_any_packet(guard):
    # 203.0.113.0/24 is TEST-NET-3; the guard raises before the connect system call.
    with pytest.raises(netguard.NetworkBlockedError, match="203.0.113.7"):
        socket.create_connection(("203.0.113.7", 80), timeout=1)


def test_name_lookup_is_refused(guard):
    with pytest.raises(netguard.NetworkBlockedError, match="look up"):
        socket.getaddrinfo("download.pytorch.org", 443)


def test_loopback_still_works(guard):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    t = threading.Thread(target=lambda: server.accept()[0].sendall(b"ok"))
    t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert c.recv(2) == b"ok"
    t.join()
    server.close()


def test_uninstall_restores(guard):
    assert netguard.is_installed()
    netguard.uninstall()
    assert not netguard.is_installed()
    assert socket.getaddrinfo("localhost", 80)


def test_prepared_notebooks_start_with_the_guard(tmp_path):
    import json

    import nbformat

    from visrec_helpers.book import workbook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell("X = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p]
    src = tmp_path / "t99_x.ipynb"
    nbformat.write(nb, src)
    out = json.loads(workbook.prepare(src, tmp_path / "o").read_text())
    assert "netguard" in out["cells"][0]["metadata"]["tags"]


def test_a_notebook_that_downloads_fails_under_the_harness(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from visrec_helpers.book import workbook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell("URL = 'http://203.0.113.9/weights.pt'")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("import urllib.request\nurllib.request.urlopen(URL, timeout=2)")]
    src = tmp_path / "t98_download.ipynb"
    nbformat.write(nb, src)
    prepared = nbformat.read(workbook.prepare(src, tmp_path / "o"), as_version=4)
    with pytest.raises(CellExecutionError, match="network access is disabled"):
        NotebookClient(prepared, kernel_name="python3", timeout=60).execute()
