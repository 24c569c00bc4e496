"""Work that one node of a cluster does at a time: PostgreSQL advisory locks.

The lock is a transaction's (``pg_advisory_xact_lock``): it is released when the holding
transaction ends, however it ends (a cancelled task, a dropped connection), so no pooled
connection can keep it by mistake. The block's own work runs on other connections of the
pool; the holding one only holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.db.database import Database
from server.db.sql import POSTGRESQL, Sql

ROOM_SCHEDULE = 0x7363686564
"""The rooms' schedule: one pass at a time in the whole cluster."""

_TRY = Sql("SELECT pg_try_advisory_xact_lock($1)")
_WAIT = Sql("SELECT pg_advisory_xact_lock($1) IS NULL")


@asynccontextmanager
async def exclusive(db: Database, key: int, *, wait: bool) -> AsyncIterator[bool]:
    """Hold the cluster-wide lock ``key`` for the block; yields whether it is held (with
    ``wait`` it always is, once the holder before let go). SQLite has one process: always
    held."""
    if db.dialect != POSTGRESQL:
        yield True
        return
    async with db.write() as conn:
        held = bool(await conn.fetchval(_WAIT if wait else _TRY, key))
        yield held
