"""What one client may hold and send: connections (counted when they are accepted, before a
byte of them is read) and a live socket's inbound traffic.

:mod:`server.config` reads them from the environment; :mod:`server.serve` enforces the
connection limits, the chat's mount of phxpy the socket budget.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SOCKET_FRAMES_PER_SECOND = 20
"""phoenix.js sends a heartbeat every 30 s, and the page a few messages and typing
notices a second at most; a rejoin after a reconnect is a handful of joins."""
DEFAULT_SOCKET_BYTES_PER_SECOND = 64 * 1024
DEFAULT_CONNECTIONS_PER_IP = 10_000
"""Generous: the fans at a venue share its Wi-Fi's public address, each holding a socket
and now and then a request or two."""
DEFAULT_HEADER_TIMEOUT = 10
"""Seconds a connection has to send a request's headers, after it opened or after its
previous response (a kept-alive connection idle that long is closed too)."""
DESCRIPTOR_RESERVE = 128
"""Open files kept out of reach of connections, on top of the database pool: for the
database, logs, the checkpointer and whatever else the process opens, and for the
connections being refused (each holds a file from its accept until it is closed, a moment
later)."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    socket_frames_per_second: int = DEFAULT_SOCKET_FRAMES_PER_SECOND
    """Frames one socket (WebSocket or LongPoll session) may send per second, in bursts of
    two seconds' worth; beyond it the socket waits (backpressure)."""
    socket_bytes_per_second: int = DEFAULT_SOCKET_BYTES_PER_SECOND
    connections_per_ip: int = DEFAULT_CONNECTIONS_PER_IP
    """Open TCP connections from one client address (IPv6: one /64); trusted proxies are
    not counted, the clients behind them are the proxy's to limit."""
    max_connections: int | None = None
    """Open TCP connections in all; ``None``: the process's open-file limit less a reserve."""
    header_timeout: int = DEFAULT_HEADER_TIMEOUT
