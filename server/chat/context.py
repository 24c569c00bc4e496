"""What the socket and its channels share: settings, clock, database, writer, joins' queries,
limits.

``install_chat`` stores it in the app under :data:`CHAT_CONTEXT`; the socket and its channels
reach it as ``self.app[CHAT_CONTEXT]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from phxpy import Endpoint
from server.chat.guessing import ClaimGuard
from server.chat.joins import JoinQueries
from server.chat.limits import ChatLimits, RateLimiter, Throttle
from server.chat.message_limit import LocalMessageLimit, MessageLimit
from server.chat.moderation import Moderation
from server.chat.moderation_sync import ModerationSync
from server.chat.presence import RoomPresence
from server.chat.relay import MessageRelay
from server.chat.writer import MessageWriter
from server.clock import Clock
from server.config import Settings
from server.db.database import Database


@dataclass
class ChatContext:
    settings: Settings
    clock: Clock
    endpoint: Endpoint
    limits: ChatLimits = field(default_factory=ChatLimits)
    database: Database | None = None
    """Set when the app starts (the database is opened in the app's cleanup context)."""
    message_writer: MessageWriter | None = None
    """Likewise: the node's group-commit writer, started with the database."""
    join_queries: JoinQueries | None = None
    """Likewise: the joins' database work, batched."""
    relay: MessageRelay | None = None
    """Cluster mode: stored messages reach the rooms through it, in seq order."""
    moderation_sync: ModerationSync | None = None
    """Cluster mode: organisers' actions reach every node's memory and members."""

    def __post_init__(self) -> None:
        self.claim_guard = ClaimGuard(self.clock)
        self.moderation = Moderation(self.clock)
        self.presence = RoomPresence(
            self.endpoint,
            list_limit=self.limits.presence_list_limit,
            count_interval=self.limits.presence_count_interval,
        )
        self.message_limiter = RateLimiter(
            self.clock, rate=self.limits.messages_per_second, burst=self.limits.message_burst
        )
        self.history_limiter = RateLimiter(
            self.clock, rate=self.limits.history_per_second, burst=self.limits.history_burst
        )
        self.typing_throttle = Throttle(self.clock, interval=self.limits.typing_interval)
        self.message_limit: MessageLimit = LocalMessageLimit(self.message_limiter)
        """Cluster mode replaces it with the limit shared through Redis."""

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("the chat is not started: no database yet")
        return self.database

    @property
    def writer(self) -> MessageWriter:
        if self.message_writer is None:
            raise RuntimeError("the chat is not started: no message writer yet")
        return self.message_writer

    @property
    def joins(self) -> JoinQueries:
        if self.join_queries is None:
            raise RuntimeError("the chat is not started: no join queries yet")
        return self.join_queries


CHAT_CONTEXT = web.AppKey("chat_context", ChatContext)
