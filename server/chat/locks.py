"""One lock per room on this node, held while a message is stored and broadcast.

Storing is serialised per room anyway (the ``last_seq`` row lock on PostgreSQL, the write lock
on SQLite); holding a lock until the broadcast is out too means this node sends a room's
messages in ``seq`` order, so clients rarely have to reorder. (Across nodes, ``seq`` is the
order.) Locks are only kept while someone holds or waits for them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.domain import RoomId


class RoomLocks:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[RoomId, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @asynccontextmanager
    async def hold(self, room_id: RoomId) -> AsyncIterator[None]:
        lock = self._locks.get(room_id)
        if lock is None:
            lock = self._locks[room_id] = asyncio.Lock()
        async with lock:
            yield
