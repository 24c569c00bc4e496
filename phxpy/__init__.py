"""phxpy: the Phoenix Channels protocol on aiohttp, for the unmodified phoenix.js client."""

from .channel import Channel, Error, Ok, Reply, ReplyRef, Stop
from .clock import SystemClock
from .endpoint import Endpoint
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
from .presence import Presence, PresenceStats
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
    "ChannelError",
    "Clock",
    "ConnectInfo",
    "ConnectRefused",
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
    "V1JSONSerializer",
    "V2JSONSerializer",
    "mount",
]
