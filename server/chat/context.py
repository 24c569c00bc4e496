"""What the socket and its channels share: settings, clock, database, writer, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phxpy import Endpoint
from server.chat.guessing import ClaimGuard
from server.chat.limits import ChatLimits, RateLimiter, Throttle
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

    def __post_init__(self) -> None:
        self.claim_guard = ClaimGuard(self.clock)
        self.message_limiter = RateLimiter(
            self.clock, rate=self.limits.messages_per_second, burst=self.limits.message_burst
        )
        self.history_limiter = RateLimiter(
            self.clock, rate=self.limits.history_per_second, burst=self.limits.history_burst
        )
        self.typing_throttle = Throttle(self.clock, interval=self.limits.typing_interval)

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


def chat_of(socket: Any) -> ChatContext:
    """The chat context of a channel's socket (a class attribute of the app's UserSocket)."""
    chat = getattr(socket, "chat", None)
    if not isinstance(chat, ChatContext):
        raise TypeError(f"the chat channels need the app's UserSocket, got {type(socket).__name__}")
    return chat
