"""What the socket and its channels share: settings, clock, database, limits, room locks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phxpy import Endpoint
from server.chat.limits import ChatLimits, RateLimiter, Throttle
from server.chat.locks import RoomLocks
from server.clock import Clock
from server.config import Settings
from server.db.engine import DbEngine


@dataclass
class ChatContext:
    settings: Settings
    clock: Clock
    endpoint: Endpoint
    limits: ChatLimits = field(default_factory=ChatLimits)
    engine: DbEngine | None = None
    """Set when the app starts (the engine is made in the app's cleanup context)."""

    def __post_init__(self) -> None:
        self.room_locks = RoomLocks()
        self.message_limiter = RateLimiter(
            self.clock, rate=self.limits.messages_per_second, burst=self.limits.message_burst
        )
        self.history_limiter = RateLimiter(
            self.clock, rate=self.limits.history_per_second, burst=self.limits.history_burst
        )
        self.typing_throttle = Throttle(self.clock, interval=self.limits.typing_interval)

    @property
    def db(self) -> DbEngine:
        if self.engine is None:
            raise RuntimeError("the chat is not started: no database engine yet")
        return self.engine


def chat_of(socket: Any) -> ChatContext:
    """The chat context of a channel's socket (a class attribute of the app's UserSocket)."""
    chat = getattr(socket, "chat", None)
    if not isinstance(chat, ChatContext):
        raise TypeError(f"the chat channels need the app's UserSocket, got {type(socket).__name__}")
    return chat
