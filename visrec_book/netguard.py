"""A socket guard that blocks every network connection except to this machine.

The notebook harness installs it at the start of every kernel, so a notebook that tries to
download weights or data fails loudly instead of passing on a machine that happens to be
online. Loopback (127.0.0.0/8, ::1), this machine's own host name and Unix sockets stay
allowed: the Jupyter kernel, Spark in local mode and JupyterLab tests talk over them.

How: a Python audit hook (``sys.addaudithook``, PEP 578). CPython raises the audit events
``socket.connect`` (``connect`` and ``connect_ex``), ``socket.sendto``, ``socket.sendmsg``,
``socket.getaddrinfo``, ``socket.gethostbyname`` (also ``gethostbyname_ex``),
``socket.gethostbyaddr`` and ``socket.getnameinfo`` inside the C socket module itself, before
the system call. So the guard sits under every name the socket class can be reached by:
``socket.socket``, the raw ``_socket.socket``, ``socket.SocketType``, subclasses of any of them,
and method references saved before ``install()``. Nothing in ``socket`` is patched.

An audit hook cannot be removed, so ``uninstall()`` switches it off rather than out. What the
hook cannot see (ctypes calling libc, a subprocess) ``scripts/offline.sh`` covers: it runs
the notebook tests in a network namespace without interfaces where the machine allows it, so
there the kernel itself proves that nothing leaves.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

_STATE = {"hooked": False, "active": False, "hostname": None}

#: audit event -> what the message says was tried
_EVENTS = {
    "socket.connect": "connect to",
    "socket.sendto": "send a datagram to",
    "socket.sendmsg": "send a message to",
    "socket.getaddrinfo": "look up",
    "socket.gethostbyname": "look up",
    "socket.gethostbyaddr": "look up",
    "socket.getnameinfo": "look up",
}
# Families whose addresses are not network hosts: Unix sockets (paths) and netlink (the kernel).
_LOCAL_FAMILIES = {getattr(socket, n) for n in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, n)}
_IP_FAMILIES = {getattr(socket, n) for n in ("AF_INET", "AF_INET6") if hasattr(socket, n)}


class NetworkBlockedError(OSError):
    """Raised when code tries to reach a host other than this machine."""


def _is_local(host) -> bool:
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode(errors="replace")
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost


def _is_this_machine(host) -> bool:
    """Loopback, or this machine's own host name (``socket.getfqdn()`` and Jupyter look it up)."""
    if _is_local(host):
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode(errors="replace")
    return isinstance(host, str) and host.lower() == _STATE["hostname"]


def _blocked(what: str, target, note: str = "") -> NetworkBlockedError:
    return NetworkBlockedError(f"network access is disabled in this run: tried to {what} {target!r}{note}")


def _check_address(sock, address, what: str) -> None:
    family = getattr(sock, "family", None)
    if family in _LOCAL_FAMILIES or address is None:  # a Unix path; sendmsg on a connected socket
        return
    if family not in _IP_FAMILIES and family is not None:
        raise _blocked(what, address, f" over address family {family!r}")
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local(host):
        raise _blocked(what, address)


def _audit(event: str, args: tuple) -> None:
    """The audit hook: refuse, before the system call, any socket event that would leave this machine."""
    if not _STATE["active"] or not event.startswith("socket."):
        return
    what = _EVENTS.get(event)
    if what is None:  # socket.__new__, bind, gethostname, ...: nothing leaves the machine
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        _check_address(args[0], args[1], what)
    elif event == "socket.getnameinfo":
        sockaddr = args[0]
        host = sockaddr[0] if isinstance(sockaddr, tuple) and sockaddr else sockaddr
        if not _is_local(host):
            raise _blocked(what, sockaddr)
    elif not _is_this_machine(args[0]):  # getaddrinfo, gethostbyname(_ex), gethostbyaddr: the host comes first
        raise _blocked(what, args[0])


def install() -> None:
    """Block non-loopback connections, datagrams and name lookups in this process (idempotent)."""
    if _STATE["hostname"] is None:
        _STATE["hostname"] = socket.gethostname().lower()
    if not _STATE["hooked"]:
        sys.addaudithook(_audit)
        _STATE["hooked"] = True
    _STATE["active"] = True


def uninstall() -> None:
    """Switch the guard off (the audit hook stays registered, inactive: Python cannot remove one)."""
    _STATE["active"] = False


def is_installed() -> bool:
    return _STATE["active"]
