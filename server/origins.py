"""Which web pages may use the socket: the Origin check.

A page can open a WebSocket (or LongPoll) to any server; its browser says where the page came
from in ``Origin``. With ALLOWED_ORIGINS unset, only pages of the service's own public URL
(PUBLIC_URL, by default ``http://HOST:PORT``) are let in, scheme, host and port all compared.
Comparing the Origin's host with the request's ``Host`` header instead would let DNS
rebinding through: a page of ``http://evil.example:4000`` whose name is made to resolve to
this server sends ``Host: evil.example:4000`` too.

Clients that are not browsers send no Origin and are not concerned: the token is what admits
them.
"""

from __future__ import annotations

from collections.abc import Callable

from server.config import Settings, url_origin

OriginCheck = bool | list[str] | Callable[[str], bool]

# Names of this machine: a page from one of them can only have been served here.
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def origin_of(header: str) -> str | None:
    """An ``Origin`` header as ``scheme://host:port``, or None (``null``, garbage)."""
    try:
        return url_origin(header)
    except ValueError:
        return None


def _loopback_aliases(origin: str) -> set[str]:
    """The same origin under each name of this machine, when it is one of them."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":")
    if host not in _LOOPBACK_HOSTS:
        return {origin}
    return {f"{scheme}://{alias}:{port}" for alias in _LOOPBACK_HOSTS}


def same_origin(public_origin: str) -> Callable[[str], bool]:
    """Admits exactly ``public_origin``, and when it names this machine (the development
    default), each name of it: ``http://localhost:4000`` and ``http://127.0.0.1:4000``."""
    allowed = frozenset(_loopback_aliases(public_origin))

    def check(origin: str) -> bool:
        return origin_of(origin) in allowed

    return check


def socket_origin_check(settings: Settings) -> OriginCheck:
    """The socket's ``check_origin``: ALLOWED_ORIGINS when set (``*``: any origin), else the
    public URL's origin."""
    allowed = settings.allowed_origins
    if "*" in allowed:
        return False
    if allowed:
        return list(allowed)
    return same_origin(settings.public_origin)
