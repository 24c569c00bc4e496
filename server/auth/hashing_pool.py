"""A bounded pool for password hashing: a fixed number of hashes at a time, a short queue.

bcrypt is deliberately slow (a quarter of a second of CPU at the default cost), so a few
hundred requests are enough to queue minutes of work. Here at most ``workers`` hashes run at a
time, on threads of their own; at most ``queue`` more requests wait for one, in order; anyone
beyond that is told at once to come back later (:class:`PoolBusy`, with an estimate of when).
A request that waited is asked whether its client is still there before its hash starts: work
for a client that gave up is never done (:class:`ClientGone`), and such requests are also
dropped from the queue whenever it is full, so abandoned requests cannot fill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
StillWanted = Callable[[], bool]

# Before the first hash is timed: bcrypt's default cost on a typical core.
_INITIAL_SECONDS_PER_HASH = 0.25


def _always() -> bool:
    return True


class PoolBusy(Exception):
    """Every worker is busy and the queue is full."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"password hashing busy; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class ClientGone(Exception):
    """The request waited for a worker, and its client left meanwhile."""


@dataclass(eq=False, slots=True)
class _Waiter:
    still_wanted: StillWanted
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Turn:
    """A worker held for one request; see :meth:`HashingPool.turn`."""

    def __init__(self, pool: HashingPool, still_wanted: StillWanted) -> None:
        self._pool = pool
        self._still_wanted = still_wanted
        self._busy: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> Turn:
        await self._pool._admit(self._still_wanted)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        busy = self._busy
        if busy is not None and not busy.done():
            # Cancelled while its thread works: the worker is taken until the thread is done.
            busy.add_done_callback(lambda _: self._pool._release())
        else:
            self._pool._release()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the worker; raises ClientGone if the client has left."""
        if not self._still_wanted():
            raise ClientGone()
        pool = self._pool
        pool.hashed += 1
        started = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(pool._executor, fn, *args)
        future.add_done_callback(lambda _: pool._learn(time.perf_counter() - started))
        self._busy = future
        return await asyncio.shield(future)


class HashingPool:
    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a hashing pool needs at least one worker and a queue of >= 0")
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="password-hash")
        self._running = 0
        self._waiting: deque[_Waiter] = deque()
        self.hashed = 0
        """Jobs started so far."""
        self._seconds_per_hash = _INITIAL_SECONDS_PER_HASH

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def turn(self, still_wanted: StillWanted = _always) -> Turn:
        """``async with pool.turn(...) as turn:`` waits for a worker (or raises PoolBusy or
        ClientGone) and holds it for the block, for one or several ``turn.run(...)``.

        Taking the turn first lets a request do its other work (a database lookup) only once
        it is sure to be served: in a flood, the requests beyond the queue are refused before
        they cost anything else."""
        return Turn(self, still_wanted)

    async def run(
        self, fn: Callable[..., T], *args: object, still_wanted: StillWanted = _always
    ) -> T:
        """``fn(*args)`` on a worker thread, in a turn of its own."""
        async with self.turn(still_wanted) as turn:
            return await turn.run(fn, *args)

    def retry_after(self) -> float:
        """Seconds until the work ahead of a newcomer should be done."""
        ahead = self._running + len(self._waiting)
        return max(1.0, math.ceil(ahead / self.workers) * self._seconds_per_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.granted.done():
                waiter.granted.set_exception(ClientGone())

    async def _admit(self, still_wanted: StillWanted) -> None:
        if not still_wanted():
            raise ClientGone()
        if self._running < self.workers and not self._waiting:
            self._running += 1
            return
        if len(self._waiting) >= self.queue:
            self._drop_gone()
        if len(self._waiting) >= self.queue:
            raise PoolBusy(self.retry_after())
        waiter = _Waiter(still_wanted)
        self._waiting.append(waiter)
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._release()  # granted just before the cancellation: pass it on
            else:
                self._discard(waiter)
            raise

    def _release(self) -> None:
        self._running -= 1
        while self._waiting:
            waiter = self._waiting.popleft()
            if waiter.granted.done():
                continue
            if not waiter.still_wanted():
                waiter.granted.set_exception(ClientGone())
                continue
            self._running += 1
            waiter.granted.set_result(None)
            return

    def _drop_gone(self) -> None:
        kept: deque[_Waiter] = deque()
        for waiter in self._waiting:
            if waiter.granted.done():
                continue
            if waiter.still_wanted():
                kept.append(waiter)
            else:
                waiter.granted.set_exception(ClientGone())
        self._waiting = kept

    def _discard(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(waiter)

    def _learn(self, seconds: float) -> None:
        # A moving average is enough for a Retry-After estimate.
        self._seconds_per_hash = 0.8 * self._seconds_per_hash + 0.2 * seconds
