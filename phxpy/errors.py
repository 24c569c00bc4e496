"""Exceptions raised by phxpy.

::

    PhxError
    ├── ProtocolError          the peer broke the wire protocol; the connection is closed
    │   ├── InvalidMessage     a frame that does not decode (bad JSON, wrong shape, bad binary)
    │   └── FrameTooLarge      a frame over a limit of the mount (close code 1009)
    ├── EncodeError            a message that cannot be put on the wire (e.g. binary on V1,
    │                          a binary header field over 255 bytes); a bug of the sender
    ├── ChannelError           a channel callback misbehaved (bad return value); the channel
    │                          crashes with phx_error, the socket lives on
    ├── ConnectRefused         raised by ``Socket.connect`` to refuse with a chosen HTTP status
    └── PresenceError          tracking a key twice, or updating what is not tracked
                               (defined in :mod:`phxpy.presence_state`, which owns the rule)
"""

from __future__ import annotations


class PhxError(Exception):
    """Base class of every phxpy error."""


class ProtocolError(PhxError):
    """The client sent something the protocol does not allow. Close code 1011."""

    close_code = 1011


class InvalidMessage(ProtocolError):
    """A frame that cannot be decoded into a :class:`~phxpy.message.Message`."""


class FrameTooLarge(ProtocolError):
    """A frame over one of the mount's limits (too many JSON containers, over LongPoll
    also too many bytes). Close code 1009, as for a frame over ``max_frame_size``."""

    close_code = 1009


class EncodeError(PhxError):
    """A message that this serializer cannot encode."""


class ChannelError(PhxError):
    """A channel callback returned something outside its contract."""


class ConnectRefused(PhxError):
    """Refuse a connection from ``Socket.connect`` with an HTTP status (default 403)."""

    def __init__(self, status: int = 403, reason: str = "") -> None:
        super().__init__(reason or f"connection refused ({status})")
        self.status = status
