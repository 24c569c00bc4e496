"""Waiting for a moment on the service's clock (the rooms' schedule waits for hours).

:class:`server.clock.Clock` only tells the time. A clock that can also wait implements
:class:`AlarmClock`; :class:`SteppingClock` is the test one, whose ``advance`` wakes whoever
waits for a moment it passes, so tests move through hours without sleeping. Any other clock
(the system clock) is waited on with :func:`asyncio.sleep` in naps of at most ``MAX_NAP``
seconds, re-reading the time after each, so a changed wall clock is noticed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from server.clock import Clock, ManualClock

MAX_NAP = 60.0


@runtime_checkable
class AlarmClock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once ``now() >= moment``."""
        ...


async def sleep_until(clock: Clock, moment: datetime) -> None:
    """Wait until ``clock`` reads ``moment`` or later."""
    if isinstance(clock, AlarmClock):
        await clock.sleep_until(moment)
        return
    # Naps, not one long sleep: the wall clock may be adjusted while we wait.
    while (remaining := (moment - clock.now()).total_seconds()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(min(remaining, MAX_NAP))


async def sleep_until_woken(clock: Clock, due: datetime | None, wake: asyncio.Event) -> None:
    """Wait until ``due`` (None: no moment in view), until ``wake`` is set, or MAX_NAP
    seconds of ``clock`` time at most, whichever comes first: a loop that sleeps between
    passes looks again at least that often, for work queued where it has no hook (another
    node, say)."""
    cap = clock.now() + timedelta(seconds=MAX_NAP)
    due = cap if due is None else min(due, cap)
    timer = asyncio.ensure_future(sleep_until(clock, due))
    woken = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (timer, woken):
            waiter.cancel()
        await asyncio.gather(timer, woken, return_exceptions=True)


class SteppingClock(ManualClock):
    """A :class:`ManualClock` that can be waited on: ``set``/``advance`` wake the sleepers
    whose moment has come, in order."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def sleep_until(self, moment: datetime) -> None:
        if self.now() >= moment:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (moment, next(self._order), future))
        await future

    def set(self, when: datetime) -> None:
        super().set(when)
        self._wake()

    def advance(self, by: timedelta) -> None:
        super().advance(by)
        self._wake()

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def _wake(self) -> None:
        now = self.now()
        while self._sleepers and self._sleepers[0][0] <= now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
