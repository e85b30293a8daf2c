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


REMOTE_TCP = ("203.0.113.7", 80)


def _raw_tcp():
    import _socket

    return _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)


def _saved_connect():
    """``_socket.socket.connect`` as a reference taken before the guard went on."""
    import _socket

    return _socket.socket.connect


_SAVED_CONNECT = _saved_connect()


class _Sub(socket.socket):
    pass


def _raw_sub():
    import _socket

    class RawSub(_socket.socket):
        def connect(self, address):  # a subclass that goes straight to the C method
            return _socket.socket.connect(self, address)

    return RawSub(socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.parametrize("make, use", [
    (_raw_tcp, lambda s: s.connect(REMOTE_TCP)),
    (_raw_tcp, lambda s: s.connect_ex(REMOTE_TCP)),
    (lambda: socket.SocketType(socket.AF_INET, socket.SOCK_STREAM), lambda s: s.connect(REMOTE_TCP)),
    (lambda: _Sub(socket.AF_INET, socket.SOCK_STREAM), lambda s: s.connect(REMOTE_TCP)),
    (_raw_sub, lambda s: s.connect(REMOTE_TCP)),
    (socket.socket, lambda s: _SAVED_CONNECT(s, REMOTE_TCP)),
    (socket.socket, lambda s: socket.SocketType.connect(s, REMOTE_TCP)),
    (lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM), lambda s: s.connect(("2001:db8::1", 80))),
], ids=["_socket.socket", "_socket.socket-connect_ex", "SocketType", "socket-subclass", "_socket-subclass",
        "saved-C-method", "unbound-C-method", "ipv6"])
def test_the_c_socket_class_is_guarded_under_every_name(guard, make, use):
    """The audit hook sits in the C socket module: no other name for the class gets past it."""
    from contextlib import closing

    with closing(make()) as s, pytest.raises(netguard.NetworkBlockedError, match="connect to"):
        use(s)


def test_the_raw_socket_module_refuses_datagrams(guard):
    import _socket
    from contextlib import closing

    with closing(_udp(_socket)) as s, pytest.raises(netguard.NetworkBlockedError, match="datagram"):
        s.sendto(b"x", REMOTE)


def test_the_guard_runs_before_the_system_call_in_a_fresh_interpreter():
    """A new process: install, then a saved C method, a subclass and the raw module are all refused."""
    import subprocess
    import sys

    code = """
import _socket, socket
raw_connect = _socket.socket.connect
from visrec_book import netguard
netguard.install()
class S(_socket.socket):
    pass
for make, use in [(lambda: _socket.socket(2, 1), lambda s: s.connect(("203.0.113.7", 80))),
                  (lambda: S(2, 1), lambda s: s.connect(("203.0.113.7", 80))),
                  (lambda: socket.socket(), lambda s: raw_connect(s, ("203.0.113.7", 80)))]:
    s = make()
    try:
        use(s)
        print("CONNECTED")
    except netguard.NetworkBlockedError:
        print("blocked")
    finally:
        s.close()
a, b = socket.socketpair()  # Unix sockets stay allowed
a.sendall(b"u"); print(b.recv(1).decode())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["blocked", "blocked", "blocked", "u"]


def test_other_address_families_are_refused(guard):
    """sys.audit raises the same event the C module does: a family that is neither IP nor local is refused."""
    import sys

    class FakeSocket:
        family = 31  # AF_BLUETOOTH

    with pytest.raises(netguard.NetworkBlockedError, match="address family"):
        sys.audit("socket.connect", FakeSocket(), ("00:11:22:33:44:55", 1))


def test_raw_socket_type_checks_still_hold(guard):
    import _socket

    with socket.socket() as s:
        assert isinstance(s, _socket.socket) and issubclass(socket.socket, _socket.socket)
    assert socket.SocketType is _socket.socket  # nothing is swapped


def test_loopback_datagrams_and_local_lookups_still_work(guard):
    with _udp() as server, _udp() as client:
        server.bind(("127.0.0.1", 0))
        client.sendto(b"a", server.getsockname())
        client.sendmsg([b"b"], [], 0, server.getsockname())
        assert server.recv(1) + server.recv(1) == b"ab"
    assert socket.gethostbyname("localhost") == "127.0.0.1"
    assert socket.getnameinfo(("127.0.0.1", 80), 0)
    import sys

    sys.audit("socket.getaddrinfo", socket.gethostname(), None, 0, 0, 0)  # this machine's own name: allowed


def test_loopback_through_the_raw_class_and_unix_sockets_still_work(guard):
    import _socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    raw = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        assert raw.connect_ex(server.getsockname()) == 0
    finally:
        raw.close()
        server.close()
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"u")
        assert b.recv(1) == b"u"


def test_uninstall_switches_every_path_off():
    import _socket
    import sys

    class Sock:
        family = socket.AF_INET

    before = (dict(socket.socket.__dict__), _socket.socket, socket.gethostbyname, _socket.getaddrinfo)
    netguard.install()
    with pytest.raises(netguard.NetworkBlockedError):
        sys.audit("socket.connect", Sock(), REMOTE_TCP)
    netguard.uninstall()
    sys.audit("socket.connect", Sock(), REMOTE_TCP)  # the hook stays registered but lets it through
    sys.audit("socket.getaddrinfo", "download.pytorch.org", 443, 0, 0, 0)
    after = (dict(socket.socket.__dict__), _socket.socket, socket.gethostbyname, _socket.getaddrinfo)
    assert after == before  # nothing in the socket modules was patched


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


def test_offline_script_runs_the_command_with_a_loud_warning_where_there_is_no_namespace():
    import subprocess

    out = subprocess.run(["/bin/sh", OFFLINE, "/bin/sh", "-c", "echo ran; exit 3"], capture_output=True,
                         text=True, env={"PATH": "/nonexistent"}, timeout=60)
    assert out.returncode == 3 and out.stdout == "ran\n"
    if _only_loopback_here():  # a sandbox without network: then the script says so instead
        assert "loopback only" in out.stderr
    else:
        assert "NOT ISOLATED" in out.stderr and "No network namespace here" in out.stderr


def _only_loopback_here() -> bool:
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [ln.split(":")[0].strip() for ln in lines] == ["lo"]


@pytest.mark.parametrize("marker", ["VISREC_OFFLINE_NETNS", "VISREC_OFFLINE", "OFFLINE_NETNS"])
def test_offline_script_ignores_an_inherited_marker_variable(marker):
    """An old version ran the command directly when VISREC_OFFLINE_NETNS=1 was inherited; now it checks."""
    import subprocess

    if _only_loopback_here():
        pytest.skip("this machine has no interface but loopback: nothing to fake")
    env = {"PATH": "/nonexistent", marker: "1"}
    out = subprocess.run(["/bin/sh", OFFLINE, "/bin/sh", "-c", "echo ran"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.stdout == "ran\n"
    assert "NOT ISOLATED" in out.stderr  # the marker did not silence the warning


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare -n (network namespaces)")
def test_offline_script_isolates_even_with_the_marker_set():
    import errno
    import os
    import subprocess
    import sys

    env = dict(os.environ, VISREC_OFFLINE_NETNS="1")
    out = subprocess.run([OFFLINE, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused", str(errno.ENETUNREACH)]
    assert "unshare -n" in out.stderr


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare -n (network namespaces)")
def test_offline_script_sees_that_it_is_already_isolated():
    import subprocess
    import sys

    cmd = ["unshare", "-n", "/bin/sh", "-c", 'ip link set lo up && exec "$@"', "x", OFFLINE, sys.executable, "-c",
           PROBE]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "refused"
    assert "has loopback only" in out.stderr
