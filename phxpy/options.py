"""Per-mount settings of a socket, shared by both transports."""

from __future__ import annotations

from dataclasses import dataclass

from .origin import OriginCheck


@dataclass(frozen=True, slots=True)
class SocketOptions:
    check_origin: OriginCheck = True
    """``True`` (the Origin's host must be the request's host), ``False``, a list of
    allowed origins (``"https://app.example.com"``, ``"//*.example.com"``) or a callable."""
    websocket: bool = True
    longpoll: bool = False
    """LongPoll is off by default, as in Phoenix."""
    idle_timeout: float | None = 60.0
    """Close a WebSocket that sent nothing for this long (Phoenix's ``timeout``)."""
    idle_close_code: int = 1002
    """Not 1000: phoenix.js does not reconnect after 1000. 1002 is what Bandit sends."""
    max_frame_size: int = 1024 * 1024
    """Bigger incoming frames close the WebSocket with 1009."""
    max_outbound_bytes: int = 4 * 1024 * 1024
    """A client that lets this much pile up unread is disconnected: slow readers never
    stall a broadcast or grow the server's memory without bound."""
    max_channels: int | None = 100
    """Joins beyond this get ``{"reason": "too many channels joined"}``."""
    compress: bool = False
    """permessage-deflate. Off by default: it costs CPU per subscriber and defeats the
    shared encoding of broadcasts."""
    auth_token: bool = True
    """Accept phoenix.js 1.8's ``authToken`` (``Sec-WebSocket-Protocol`` /
    ``X-Phoenix-AuthToken``) and hand it to ``connect`` as ``connect_info.auth_token``."""
    longpoll_window: float = 10.0
    """How long a LongPoll GET is held open when there is nothing to deliver."""
    longpoll_max_lines: int = 100
    """Lines of a LongPoll POST beyond this are ignored, as in Phoenix."""
    longpoll_max_body: int = 8 * 1024 * 1024
    """Bigger LongPoll POST bodies are refused."""
    secret_key: bytes | None = None
    """Signs LongPoll session tokens; a random per-process key when ``None``."""
