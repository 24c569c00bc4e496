"""Per-user rate limits and throttles, driven by the service's injectable clock.

Both live in memory on one node and are checked before any database work, so a flood costs
the flooder an error reply and costs the room nothing. (With several nodes each node limits
what reaches it; a user's tabs spread over nodes get a proportionally larger budget.)
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from server.clock import Clock
from server.config import (
    DEFAULT_CHAT_MESSAGE_BURST,
    DEFAULT_CHAT_MESSAGES_PER_SECOND,
    DEFAULT_CHAT_SOCKETS_PER_USER,
    DEFAULT_PRESENCE_LIST_LIMIT,
    Settings,
)

_EPOCH = datetime(1970, 1, 1)
# Forget idle keys once a table grows past this, so memory stays bounded by active users.
_PRUNE_AT = 10_000


def _seconds(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``rate`` per second on average, bursts of up to ``burst``."""

    def __init__(self, clock: Clock, *, rate: float, burst: int) -> None:
        self._clock = clock
        self.rate = rate
        self.burst = burst
        self._buckets: dict[Hashable, _Bucket] = {}

    def allow(self, key: Hashable) -> bool:
        """Take one token for ``key`` if there is one."""
        now = _seconds(self._clock.now())
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        # max(): a clock set backwards must not mint tokens or go negative.
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.updated = max(bucket.updated, now)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled: they behave exactly like a fresh one."""
        refill = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]


class Throttle:
    """At most one event per key per ``interval`` seconds (later ones are dropped)."""

    def __init__(self, clock: Clock, *, interval: float) -> None:
        self._clock = clock
        self.interval = interval
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable) -> bool:
        now = _seconds(self._clock.now())
        last = self._last.get(key)
        if last is not None and 0.0 <= now - last < self.interval:
            return False
        if len(self._last) >= _PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """The numbers, so tests and operators can change them in one place."""

    messages_per_second: float = DEFAULT_CHAT_MESSAGES_PER_SECOND
    message_burst: int = DEFAULT_CHAT_MESSAGE_BURST
    typing_interval: float = 1.0
    history_per_second: float = 5.0
    history_burst: int = 20
    sockets_per_user: int = DEFAULT_CHAT_SOCKETS_PER_USER
    presence_list_limit: int = DEFAULT_PRESENCE_LIST_LIMIT
    """Above this many members online, a room's members get counts instead of the list;
    back to the list at half of it."""
    presence_count_interval: float = 1.0
    """Seconds between two ``presence_count`` broadcasts of one room (the first change of a
    quiet room goes out at once)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatLimits:
        return cls(
            messages_per_second=settings.chat_messages_per_second,
            message_burst=settings.chat_message_burst,
            sockets_per_user=settings.chat_sockets_per_user,
            presence_list_limit=settings.presence_list_limit,
        )
