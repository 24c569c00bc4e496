"""Ticket numbers cannot be guessed by trying them: failed claims cost more and more.

A join that names a ticket number the user may not claim is a failed claim. Each user may
fail a few times (a typo, a second try) for free; after that every further attempt must
wait, twice as long after each failure, up to a cap. Many accounts guessing at one event
trip the event's own, larger allowance: from then on whoever has already failed there
waits too, while a first attempt (a fan typing their number) still goes through. Failures
are forgotten after a quiet hour. Memory holds a small record per user and per event that
failed recently, nothing else; all of it in this node's memory (several nodes each hold
their own), checked before any database work.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock

FREE_FAILURES_PER_USER = 5
FREE_FAILURES_PER_EVENT = 100
FIRST_WAIT = timedelta(seconds=2)
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
_PRUNE_AT = 10_000


@dataclass(slots=True)
class _Record:
    failures: int
    last: datetime


class _Backoff:
    """Failures per key: after ``free`` of them, the next attempt waits FIRST_WAIT, doubled
    for each further failure (at most LONGEST_WAIT)."""

    def __init__(self, free: int) -> None:
        self.free = free
        self._records: dict[Hashable, _Record] = {}

    def wait(self, key: Hashable, now: datetime) -> timedelta | None:
        record = self._current(key, now)
        if record is None or record.failures < self.free:
            return None
        wait = min(LONGEST_WAIT, FIRST_WAIT * 2 ** (record.failures - self.free))
        remaining = record.last + wait - now
        return remaining if remaining > timedelta(0) else None

    def failed(self, key: Hashable, now: datetime) -> None:
        record = self._current(key, now)
        if record is None:
            if len(self._records) >= _PRUNE_AT:
                self._prune(now)
            self._records[key] = _Record(1, now)
        else:
            record.failures += 1
            record.last = now

    def has_failed(self, key: Hashable, now: datetime) -> bool:
        return self._current(key, now) is not None

    def _current(self, key: Hashable, now: datetime) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last >= FORGET_AFTER:
            del self._records[key]
            return None
        return record

    def _prune(self, now: datetime) -> None:
        stale = [k for k, r in self._records.items() if now - r.last >= FORGET_AFTER]
        for key in stale:
            del self._records[key]


class ClaimGuard:
    """Whether a user may try a ticket number now; told of every failed claim."""

    def __init__(
        self,
        clock: Clock,
        *,
        free_per_user: int = FREE_FAILURES_PER_USER,
        free_per_event: int = FREE_FAILURES_PER_EVENT,
    ) -> None:
        self._clock = clock
        self._users = _Backoff(free_per_user)
        self._events = _Backoff(free_per_event)
        self._tried: _Backoff = _Backoff(0)  # who failed at which event (keys only)

    def retry_after(self, user_id: str, event_id: str) -> int | None:
        """Seconds the user must wait before trying a number for this event, or None."""
        now = self._clock.now()
        waits = [self._users.wait(user_id, now)]
        if self._tried.has_failed((user_id, event_id), now):
            waits.append(self._events.wait(event_id, now))
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, round(longest.total_seconds() + 0.499))

    def failed(self, user_id: str, event_id: str) -> None:
        now = self._clock.now()
        self._users.failed(user_id, now)
        self._events.failed(event_id, now)
        self._tried.failed((user_id, event_id), now)
