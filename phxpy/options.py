"""Per-mount settings of a socket, shared by both transports."""

from __future__ import annotations

from dataclasses import dataclass

from .longpoll_relay import LongPollRelay
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
    """Bigger incoming frames close the WebSocket with 1009 (over LongPoll: HTTP 413)."""
    max_frame_containers: int | None = 10_000
    """Incoming JSON frames holding more arrays and objects than this close the connection
    with 1009, found by a cheap look before the frame is decoded: decoding costs per value,
    and a frame of empty arrays is a hundred times slower to decode than one of text.
    ``None``: no check."""
    inbound_frames_per_second: float | None = 100.0
    """Frames one connection may send per second, in bursts of up to two seconds' worth.
    Beyond it the connection's next frame waits until the budget has refilled, and the
    connection is not read meanwhile (backpressure: nothing is dropped). ``None``: no
    limit."""
    inbound_bytes_per_second: int | None = 1024 * 1024
    """Likewise for bytes (the bucket holds at least one frame of ``max_frame_size``)."""
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
    """Bigger LongPoll POST bodies are refused (HTTP 413) before they are read."""
    longpoll_max_posts: int = 2
    """POSTs one LongPoll session may have in progress at once; more are refused with HTTP
    429 before their body is read (phoenix.js sends one at a time)."""
    secret_key: bytes | None = None
    """Signs LongPoll session tokens; a random per-process key when ``None``. Every node
    of a cluster needs the same one."""
    longpoll_relay: LongPollRelay | None = None
    """Carries a LongPoll request to the node holding its session (several nodes behind a
    load balancer without sticky sessions; see :mod:`phxpy.longpoll_relay`)."""
