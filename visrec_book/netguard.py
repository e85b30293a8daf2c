"""A socket guard that blocks every network connection except to this machine.

The notebook harness installs it at the start of every kernel, so a notebook that tries to
download weights or data fails loudly instead of passing on a machine that happens to be
online. Loopback (127.0.0.0/8, ::1) and Unix sockets stay allowed: the Jupyter kernel, Spark
in local mode and JupyterLab tests talk over them.

Closed paths: ``connect``/``connect_ex`` (TCP, and UDP "connected" sockets), ``sendto`` and
``sendmsg`` with an address (UDP datagrams), the name and address lookups
(``getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr``,
``getnameinfo``), both in ``socket`` and in the raw ``_socket`` module that ``socket`` is
built on (whose ``socket`` class is swapped for a guarded subclass). A patch inside the
process cannot stop everything (ctypes, a subprocess); ``scripts/offline.sh`` runs the
notebook tests in a network namespace without interfaces where the machine allows it, so
there the kernel itself proves that nothing leaves.
"""

from __future__ import annotations

import _socket
import ipaddress
import socket

_ORIGINAL: dict = {}

# name lookups that reach a resolver: (module, function name, index of the host argument)
_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr")


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


def _blocked(what: str, target) -> NetworkBlockedError:
    return NetworkBlockedError(f"network access is disabled in this run: tried to {what} {target!r}")


def _check(address, what: str = "reach") -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local(host):
        raise _blocked(what, address)


def _guard_methods(cls, originals: dict) -> None:
    """Replace connect/connect_ex/sendto/sendmsg of ``cls`` with checked versions."""
    # which of them the class defines itself (restored) rather than inherits (deleted again)
    originals["own"] = {n: n in cls.__dict__ for n in ("connect", "connect_ex", "sendto", "sendmsg")}
    originals["connect"] = cls.connect
    originals["connect_ex"] = cls.connect_ex
    originals["sendto"] = cls.sendto
    originals["sendmsg"] = getattr(cls, "sendmsg", None)

    def connect(self, address):
        if self.family != socket.AF_UNIX:
            _check(address)
        return originals["connect"](self, address)

    def connect_ex(self, address):
        if self.family != socket.AF_UNIX:
            _check(address)
        return originals["connect_ex"](self, address)

    def sendto(self, data, *args):
        # sendto(data, address) or sendto(data, flags, address)
        if self.family != socket.AF_UNIX and args:
            _check(args[-1], "send a datagram to")
        return originals["sendto"](self, data, *args)

    cls.connect, cls.connect_ex, cls.sendto = connect, connect_ex, sendto
    if originals["sendmsg"] is not None:
        def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
            if self.family != socket.AF_UNIX and address is not None:
                _check(address, "send a message to")
            if address is None:
                return originals["sendmsg"](self, buffers, ancdata, flags)
            return originals["sendmsg"](self, buffers, ancdata, flags, address)

        cls.sendmsg = sendmsg


def _is_this_machine(host) -> bool:
    """Loopback, or this machine's own host name (``socket.getfqdn()`` and Jupyter look it up)."""
    if _is_local(host):
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode(errors="replace")
    return isinstance(host, str) and host.lower() == socket.gethostname().lower()


def _guarded_lookup(name: str, original):
    def lookup(host, *args, **kwargs):
        if not _is_this_machine(host):
            raise _blocked("look up", host)
        return original(host, *args, **kwargs)

    lookup.__name__ = name
    return lookup


def _guarded_getnameinfo(original):
    def getnameinfo(sockaddr, flags):
        _check(sockaddr, "look up")
        return original(sockaddr, flags)

    return getnameinfo


def install() -> None:
    """Block non-loopback connections, datagrams and name lookups in this process (idempotent)."""
    if _ORIGINAL:
        return
    methods: dict = {}
    _guard_methods(socket.socket, methods)
    _ORIGINAL["methods"] = methods

    # The raw module: `_socket.socket` is the C base class of socket.socket, whose methods
    # cannot be patched; code that uses it directly gets a guarded subclass instead.
    raw_class = _socket.socket

    class _SameInstances(type):
        # sockets made before (or through socket.socket) still count as _socket.socket
        def __instancecheck__(cls, obj):
            return isinstance(obj, raw_class)

        def __subclasscheck__(cls, sub):
            return issubclass(sub, raw_class)

    class GuardedRawSocket(raw_class, metaclass=_SameInstances):
        __slots__ = ()

    raw_methods: dict = {}
    _guard_methods(GuardedRawSocket, raw_methods)
    _ORIGINAL["raw_socket"] = (_socket.socket, getattr(_socket, "SocketType", None))
    _socket.socket = GuardedRawSocket
    if hasattr(_socket, "SocketType"):
        _socket.SocketType = GuardedRawSocket

    lookups = {}
    for module in (socket, _socket):
        for name in _LOOKUPS:
            if hasattr(module, name):
                lookups[(module, name)] = getattr(module, name)
                setattr(module, name, _guarded_lookup(name, getattr(module, name)))
        lookups[(module, "getnameinfo")] = module.getnameinfo
        module.getnameinfo = _guarded_getnameinfo(module.getnameinfo)
    _ORIGINAL["lookups"] = lookups


def uninstall() -> None:
    """Restore the original socket functions."""
    if not _ORIGINAL:
        return
    methods = _ORIGINAL.pop("methods")
    for name, own in methods["own"].items():
        if own:
            setattr(socket.socket, name, methods[name])
        elif name in socket.socket.__dict__:
            delattr(socket.socket, name)
    raw, raw_type = _ORIGINAL.pop("raw_socket")
    _socket.socket = raw
    if raw_type is not None:
        _socket.SocketType = raw_type
    for (module, name), fn in _ORIGINAL.pop("lookups").items():
        setattr(module, name, fn)


def is_installed() -> bool:
    return bool(_ORIGINAL)
