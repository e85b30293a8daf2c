"""The network guard that every notebook run starts with: loopback yes, anything else no."""

import socket
import threading
from pathlib import Path

import pytest

from visrec_book import netguard


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


REMOTE = ("203.0.113.7", 53)  # TEST-NET-3: never routed


def _udp(module=socket):
    return module.socket(socket.AF_INET, socket.SOCK_DGRAM)


@pytest.mark.parametrize("send", [
    lambda s: s.sendto(b"x", REMOTE),
    lambda s: s.sendto(b"x", 0, REMOTE),
    lambda s: s.sendmsg([b"x"], [], 0, REMOTE),
    lambda s: s.connect(REMOTE),
], ids=["sendto", "sendto-flags", "sendmsg", "udp-connect"])
def test_udp_datagrams_to_a_remote_host_are_refused(guard, send):
    with _udp() as s, pytest.raises(netguard.NetworkBlockedError, match="203.0.113.7"):
        send(s)


@pytest.mark.parametrize("lookup", [
    lambda m: m.gethostbyname("download.pytorch.org"),
    lambda m: m.gethostbyname_ex("download.pytorch.org"),
    lambda m: m.gethostbyaddr("8.8.8.8"),
    lambda m: m.getaddrinfo("download.pytorch.org", 443),
    lambda m: m.getnameinfo(("8.8.8.8", 53), 0),
], ids=["gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getaddrinfo", "getnameinfo"])
@pytest.mark.parametrize("module", ["socket", "_socket"])
def test_every_name_lookup_is_refused_in_both_modules(guard, lookup, module):
    import importlib

    with pytest.raises(netguard.NetworkBlockedError, match="look up"):
        lookup(importlib.import_module(module))


@pytest.mark.parametrize("use", [
    lambda s: s.connect(("203.0.113.7", 80)),
    lambda s: s.connect_ex(("203.0.113.7", 80)),
], ids=["connect", "connect_ex"])
def test_the_raw_socket_module_is_guarded_too(guard, use):
    import _socket
    from contextlib import closing

    with closing(_socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)) as s, \
            pytest.raises(netguard.NetworkBlockedError, match="203.0.113.7"):
        use(s)
    with closing(_udp(_socket)) as s, pytest.raises(netguard.NetworkBlockedError, match="datagram"):
        s.sendto(b"x", REMOTE)


def test_raw_socket_type_checks_still_hold(guard):
    import _socket

    with socket.socket() as s:
        assert isinstance(s, _socket.socket) and issubclass(socket.socket, _socket.socket)


def test_loopback_datagrams_and_local_lookups_still_work(guard):
    with _udp() as server, _udp() as client:
        server.bind(("127.0.0.1", 0))
        client.sendto(b"a", server.getsockname())
        client.sendmsg([b"b"], [], 0, server.getsockname())
        assert server.recv(1) + server.recv(1) == b"ab"
    assert socket.gethostbyname("localhost") == "127.0.0.1"
    assert socket.getnameinfo(("127.0.0.1", 80), 0)


def test_uninstall_restores_every_path():
    import _socket

    before = (dict(socket.socket.__dict__), _socket.socket, socket.gethostbyname, _socket.getaddrinfo)
    netguard.install()
    netguard.uninstall()
    after = (dict(socket.socket.__dict__), _socket.socket, socket.gethostbyname, _socket.getaddrinfo)
    assert after == before


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

    from visrec_book import workbook

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

    from visrec_book import workbook

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


# --- scripts/offline.sh: the kernel, not a patch, keeps the notebook tests offline ------------

OFFLINE = str(Path(__file__).resolve().parents[1] / "scripts" / "offline.sh")
PROBE = """
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
socket.create_connection(srv.getsockname(), timeout=5).close()
try:
    socket.create_connection(("1.1.1.1", 80), timeout=5)
    print("CONNECTED")
except OSError as exc:
    print("refused", exc.errno)
"""


def _netns_available() -> bool:
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare -n (network namespaces)")
def test_offline_script_leaves_loopback_only():
    import errno
    import subprocess
    import sys

    out = subprocess.run([OFFLINE, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused", str(errno.ENETUNREACH)]  # no route: no interface but lo
    assert "network namespace" in out.stderr


def test_offline_script_runs_the_command_with_a_note_where_there_is_no_namespace():
    import subprocess

    out = subprocess.run(["/bin/sh", OFFLINE, "/bin/sh", "-c", "echo ran; exit 3"], capture_output=True,
                         text=True, env={"PATH": "/nonexistent"}, timeout=60)
    assert out.returncode == 3 and out.stdout == "ran\n"
    assert "no network namespace here" in out.stderr
