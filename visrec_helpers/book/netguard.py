"""A socket guard that blocks every network connection except to this machine.

The notebook harness installs it at the start of every kernel, so a notebook that tries to
download weights or data fails loudly instead of passing on a machine that happens to be
online. Loopback (127.0.0.0/8, ::1) and Unix sockets stay allowed: the Jupyter kernel, Spark
in local mode and JupyterLab tests talk over them.
"""

from __future__ import annotations

import ipaddress
import socket

_ORIGINAL: dict = {}


class NetworkBlockedError(OSError):
    """Raised when code tries to reach a host other than this machine."""


def _is_local(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost


def _check(address) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local(host):
        raise NetworkBlockedError(f"network access is disabled in this run: tried to reach {address!r}")


def install() -> None:
    """Block non-loopback connections and name lookups in this process (idempotent)."""
    if _ORIGINAL:
        return
    _ORIGINAL["connect"] = socket.socket.connect
    _ORIGINAL["connect_ex"] = socket.socket.connect_ex
    _ORIGINAL["getaddrinfo"] = socket.getaddrinfo

    def connect(self, address):
        if self.family != socket.AF_UNIX:
            _check(address)
        return _ORIGINAL["connect"](self, address)

    def connect_ex(self, address):
        if self.family != socket.AF_UNIX:
            _check(address)
        return _ORIGINAL["connect_ex"](self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host.decode() if isinstance(host, bytes) else host):
            raise NetworkBlockedError(f"network access is disabled in this run: tried to look up {host!r}")
        return _ORIGINAL["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


def uninstall() -> None:
    """Restore the original socket functions."""
    if not _ORIGINAL:
        return
    socket.socket.connect = _ORIGINAL.pop("connect")
    socket.socket.connect_ex = _ORIGINAL.pop("connect_ex")
    socket.getaddrinfo = _ORIGINAL.pop("getaddrinfo")


def is_installed() -> bool:
    return bool(_ORIGINAL)
