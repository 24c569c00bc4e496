"""The one wall clock of the service: naive UTC, injectable so tests can set the time.

JWT expiry, stored timestamps and (later) the chat room's schedule all read it, so a test moves
them together by moving one :class:`ManualClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time as a naive datetime in UTC."""
        ...


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utc_now()


class ManualClock:
    """A clock that moves only when told to (for tests and simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or utc_now()).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, by: timedelta) -> None:
        self._now += by
