"""What nodes send each other through Redis: one envelope per message, no I/O here.

An envelope is a JSON array header, a newline, and a body of raw bytes::

    [1, "<node>", <node_seq>, "<kind>", ...arguments]\\n<body>

``node`` names the sending process (a fresh random name per start, so a restarted node is a
new one), ``node_seq`` counts the envelopes it put on the shared channel, so a receiver that
sees a jump knows it missed some. Envelopes sent to one node's own channel carry 0. The
header never holds a raw newline (JSON escapes it), so the first one ends it.

A broadcast's body is its payload exactly as it goes to clients: JSON encoded once by the
sender for the whole cluster, spliced unchanged into the frames each node builds
(:class:`~phxpy.message.RawJSON`), or the raw bytes of a binary payload.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from ..errors import InvalidMessage
from ..serializer import json_dumps, json_loads

VERSION: Final = 1

# Kinds on the shared channel (numbered):
BROADCAST: Final = "b"
"""args: topic, event, binary (0 or 1); body: the payload."""
PRESENCE: Final = "p"
"""args: topic; body: JSON ``{"joins": …, "leaves": …}``, the sender's own coalesced presence
changes (only its replicas apply them: every node tells its own clients)."""
HEARTBEAT: Final = "h"
"""No args. Also how a node learns that another exists."""
GOODBYE: Final = "x"
"""A node stopping cleanly: its presences leave at once."""

# Kinds sent to one node's own channel (node_seq 0, or where the sender's count stands):
STATE_REQUEST: Final = "q"
"""Send me your presences (I missed some of your envelopes, or I do not know you)."""
STATE: Final = "s"
"""node_seq: the sender's count when it was taken; body: JSON ``[[topic, key, meta],...]``."""
LONGPOLL_REQUEST: Final = "l"
"""args: request id; body: JSON ``[path, method, session_id, token, content_type]``, a
newline, the request body."""
LONGPOLL_ACK: Final = "a"
"""args: request id, whether the session exists: the asking node waits on."""
LONGPOLL_ANSWER: Final = "r"
"""args: request id, HTTP status, content type; body: the response body."""

DIRECT_KINDS: Final = frozenset(
    {STATE_REQUEST, STATE, LONGPOLL_REQUEST, LONGPOLL_ACK, LONGPOLL_ANSWER}
)


class Envelope(NamedTuple):
    """(A tuple: made for every message a node receives.)"""

    node: str
    seq: int
    kind: str
    args: tuple[Any, ...]
    body: bytes


def encode(node: str, seq: int, kind: str, args: tuple[Any, ...] = (), body: bytes = b"") -> bytes:
    return b"".join((json_dumps([VERSION, node, seq, kind, *args]), b"\n", body))


def header_prefix(node: str) -> bytes:
    """How every envelope of ``node`` begins (``[1,"<node>",``): a node drops its own
    without decoding them."""
    return json_dumps([VERSION, node])[:-1] + b","


def decode(data: bytes) -> Envelope:
    """Raises :class:`~phxpy.errors.InvalidMessage` for anything that is not an envelope of
    this version."""
    head, newline, body = data.partition(b"\n")
    if not newline:
        raise InvalidMessage("an envelope needs a header line")
    try:
        header = json_loads(head.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidMessage("an envelope header is UTF-8 JSON") from None
    if (
        not isinstance(header, list)
        or len(header) < 4
        or header[0] != VERSION
        or not isinstance(header[1], str)
        or not isinstance(header[2], int)
        or not isinstance(header[3], str)
    ):
        raise InvalidMessage(f"not an envelope of version {VERSION}")
    return Envelope(header[1], header[2], header[3], tuple(header[4:]), body)
