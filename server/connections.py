"""Connections counted as they are accepted, before a byte of them is read.

A connection costs an open file from the moment it is accepted, whether or not it ever
sends a request, and a process has a fixed number of open files: once they are gone, the
service cannot accept anyone, nor open its database. So connections are capped per client
address (``CONNECTIONS_PER_IP``, generous: a venue's fans share its address) and in all
(``MAX_CONNECTIONS``, by default the open-file limit less a reserve); one over a cap is
answered at once (429 for an address over its share, 503 when the server is full) and
closed. A connection that sends no complete request headers within ``HTTP_HEADER_TIMEOUT``
is closed by aiohttp's keep-alive timer (see :mod:`server.serve`), so slow clients give
their files back.

Trusted proxies are not capped per address: every client behind them shares their address,
so limiting clients is the proxy's job (README: "Behind a reverse proxy").

:class:`GuardedConnection` stands between the event loop and aiohttp's protocol for one
connection. It answers only ``connection_made`` and ``connection_lost`` itself; the reads
and the flow control go straight to aiohttp's methods (bound onto it), so it costs nothing
per read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from server.client_ip import IPNetwork, address_key, client_address

log = logging.getLogger(__name__)

_BODY = b'{"errors": {"detail": "%s"}}'


def _refusal(status: int, reason: bytes) -> bytes:
    body = _BODY % reason
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Retry-After: 1\r\nConnection: close\r\n\r\n%s" % (status, reason, len(body), body)
    )


TOO_MANY_FROM_ADDRESS = _refusal(429, b"Too Many Requests")
SERVER_FULL = _refusal(503, b"Service Unavailable")


def _ignore(*_: Any) -> None:
    return None


class ConnectionGuard:
    """Open connections, per client address and in all."""

    def __init__(
        self,
        *,
        per_address: int,
        total: int,
        trusted_proxies: Sequence[IPNetwork] = (),
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.per_address = per_address
        self.total = total
        self._proxies = tuple(trusted_proxies)
        self._open: Counter[str] = Counter()
        self.open = 0
        self.on_refused = on_refused
        """Called with ``"connections_per_ip"`` or ``"max_connections"`` (metrics)."""

    def protocol_factory(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], Any]:
        """For ``loop.create_server``: every connection gets aiohttp's handler, guarded."""
        return lambda: GuardedConnection(make_handler(), self)

    def admit(self, peername: Any) -> str | None:
        """Count a new connection; its key (``""`` for a trusted proxy), or ``None`` when it
        is over a cap (it was answered and must be closed)."""
        peer = peername[0] if isinstance(peername, tuple) and peername else None
        address = client_address(peer, (), ())
        key = "" if address is None or self._trusted(address) else address_key(address)
        if self.open >= self.total:
            self._refused("max_connections", key)
            return None
        if key and self._open[key] >= self.per_address:
            self._refused("connections_per_ip", key)
            return None
        self.open += 1
        if key:
            self._open[key] += 1
        return key

    def release(self, key: str) -> None:
        self.open -= 1
        if key:
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]

    def _trusted(self, address: Any) -> bool:
        return any(address.version == net.version and address in net for net in self._proxies)

    def _refused(self, limit: str, key: str) -> None:
        if limit == "max_connections":
            log.warning("connection refused: %d open, the most the server takes", self.open)
        else:
            log.warning("connection refused: %s already has %d open", key, self._open[key])
        if self.on_refused is not None:
            self.on_refused(limit)


class GuardedConnection(asyncio.Protocol):
    __slots__ = (
        "_guard",
        "_handler",
        "_key",
        "data_received",
        "eof_received",
        "pause_writing",
        "resume_writing",
    )

    def __init__(self, handler: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._handler = handler
        self._guard = guard
        self._key: str | None = None
        self.data_received = handler.data_received  # type: ignore[method-assign]
        self.eof_received = handler.eof_received  # type: ignore[method-assign]
        self.pause_writing = handler.pause_writing  # type: ignore[method-assign]
        self.resume_writing = handler.resume_writing  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        key = guard.admit(transport.get_extra_info("peername"))
        if key is None:
            self.data_received = self.eof_received = _ignore  # type: ignore[method-assign,assignment]
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(SERVER_FULL if guard.open >= guard.total else TOO_MANY_FROM_ADDRESS)
            transport.close()
            return
        self._key = key
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        key = self._key
        if key is None:
            return
        self._key = None
        self._guard.release(key)
        self._handler.connection_lost(exc)
