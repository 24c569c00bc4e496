"""phxpy: the Phoenix Channels protocol on aiohttp, for the unmodified phoenix.js client.

How the modules depend on each other: docs/architecture.md. What phxpy decided where
Phoenix versions differ: docs/phoenix-compatibility.md.
"""

from . import telemetry as telemetry  # the event classes: phxpy.telemetry.HandledIn
from .channel import Channel, ChannelContext, Error, Ok, Reply, ReplyRef, Stop
from .clock import SystemClock
from .collector import tune_collector
from .endpoint import Connection, Endpoint
from .errors import (
    ChannelError,
    ConnectRefused,
    EncodeError,
    InvalidMessage,
    PhxError,
    ProtocolError,
)
from .message import Frame, Message, RawJSON
from .options import SocketOptions
from .presence import Presence, PresenceStats, Tracked
from .presence_state import PresenceError, PresenceState
from .pubsub import Broadcast, LocalPubSub, PubSub
from .serializer import V1, V2, Serializer, V1JSONSerializer, V2JSONSerializer
from .socket import ConnectInfo, Socket
from .types import Clock, Payload
from .web import ENDPOINT, mount

__all__ = [
    "ENDPOINT",
    "V1",
    "V2",
    "Broadcast",
    "Channel",
    "ChannelContext",
    "ChannelError",
    "Clock",
    "ConnectInfo",
    "ConnectRefused",
    "Connection",
    "EncodeError",
    "Endpoint",
    "Error",
    "Frame",
    "InvalidMessage",
    "LocalPubSub",
    "Message",
    "Ok",
    "Payload",
    "PhxError",
    "Presence",
    "PresenceError",
    "PresenceState",
    "PresenceStats",
    "ProtocolError",
    "PubSub",
    "RawJSON",
    "Reply",
    "ReplyRef",
    "Serializer",
    "Socket",
    "SocketOptions",
    "Stop",
    "SystemClock",
    "Tracked",
    "V1JSONSerializer",
    "V2JSONSerializer",
    "mount",
    "tune_collector",
]
