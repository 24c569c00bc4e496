"""Closing connections at a given time: when a connection's credential expires, and in
batches while the server drains.

:class:`Deadlines` keeps every connection's deadline in one heap with one timer task for all
of them (not a task per connection: thousands of sockets whose tokens expire in a week
would each hold one for a week). :func:`close_gradually` spreads closes over a window.
Both wait on the endpoint's clock, so tests move through them with a fake clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Sequence
from typing import Protocol

from .types import Clock

DRAIN_TICK = 0.1
"""While draining, connections are closed at most this often (in batches)."""


class Closable(Protocol):
    def close(self, code: int, reason: str) -> None: ...


class _Entry:
    __slots__ = ("at", "code", "connection", "order", "reason")

    def __init__(self, at: float, order: int, connection: Closable | None, code: int, reason: str):
        self.at = at
        self.order = order
        self.connection = connection
        """``None`` once cancelled."""
        self.code = code
        self.reason = reason

    def __lt__(self, other: _Entry) -> bool:
        return (self.at, self.order) < (other.at, other.order)


class Deadlines:
    """Close each registered connection at its deadline, unless it went first."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[_Entry] = []
        self._entries: dict[Closable, _Entry] = {}
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._waking_at: float | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, connection: Closable, at: float, code: int, reason: str) -> None:
        """Close ``connection`` with ``code`` at ``at`` (the clock's time). Replaces an
        earlier deadline of the same connection."""
        self.discard(connection)
        entry = _Entry(at, next(self._order), connection, code, reason)
        self._entries[connection] = entry
        heapq.heappush(self._heap, entry)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif self._waking_at is not None and at < self._waking_at:
            # The timer sleeps past the new deadline: start it again.
            self._task.cancel()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, connection: Closable) -> None:
        """Forget ``connection``'s deadline (it closed)."""
        entry = self._entries.pop(connection, None)
        if entry is None:
            return
        entry.connection = None
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._entries):
            # Mostly cancelled entries: drop them, so memory follows live connections.
            self._heap = [e for e in self._heap if e.connection is not None]
            heapq.heapify(self._heap)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._heap.clear()
        self._entries.clear()

    async def _run(self) -> None:
        heap = self._heap
        try:
            while heap:
                entry = heap[0]
                if entry.connection is None:
                    heapq.heappop(heap)
                    continue
                now = self._clock.now()
                if entry.at > now:
                    self._waking_at = entry.at
                    await self._clock.sleep(entry.at - now)
                    self._waking_at = None
                    continue
                heapq.heappop(heap)
                connection = entry.connection
                del self._entries[connection]
                connection.close(entry.code, entry.reason)
        finally:
            if self._task is asyncio.current_task():
                self._task = None
                self._waking_at = None


async def close_gradually(
    connections: Sequence[Closable],
    window: float,
    clock: Clock,
    code: int,
    reason: str,
    *,
    tick: float = DRAIN_TICK,
) -> None:
    """Close ``connections`` in equal batches spread evenly over ``window`` seconds, the
    first at once, so that their clients do not all come back at the same moment. A batch
    at most every ``tick``; with no window, all at once."""
    total = len(connections)
    if total == 0:
        return
    batches = 1 if window <= 0 else min(total, max(1, math.ceil(window / tick)))
    interval = window / batches if window > 0 else 0.0
    start = clock.now()
    closed = 0
    for batch in range(batches):
        wait = start + batch * interval - clock.now()
        if wait > 0:
            await clock.sleep(wait)
        until = total if batch == batches - 1 else math.ceil(total * (batch + 1) / batches)
        for connection in connections[closed:until]:
            connection.close(code, reason)
        closed = until
