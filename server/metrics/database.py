"""The database, timed: how long each read, transaction and single write held its
connection (waiting for it included: that is what a request waits)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from prometheus_client import Histogram

from server.db.database import Connection, Database, Health


class _Timed:
    """``async with`` around one of the database's context managers, observing its time."""

    __slots__ = ("_inner", "_observe", "_started")

    def __init__(self, inner: Any, observe: Any) -> None:
        self._inner = inner
        self._observe = observe
        self._started = 0.0

    async def __aenter__(self) -> Connection:
        self._started = time.perf_counter()
        conn: Connection = await self._inner.__aenter__()
        return conn

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        try:
            result: bool | None = await self._inner.__aexit__(kind, error, trace)
            return result
        finally:
            self._observe(time.perf_counter() - self._started)


class TimedDatabase:
    """A :class:`~server.db.database.Database` whose every use is timed."""

    def __init__(self, db: Database, seconds: Histogram) -> None:
        self.inner = db
        self.dialect = db.dialect
        self._read = seconds.labels("read").observe
        self._write = seconds.labels("transaction").observe
        self._autocommit = seconds.labels("write").observe

    def read(self) -> _Timed:
        return _Timed(self.inner.read(), self._read)

    def write(self) -> _Timed:
        return _Timed(self.inner.write(), self._write)

    def autocommit(self) -> _Timed:
        return _Timed(self.inner.autocommit(), self._autocommit)

    async def health(self, timeout: float = 2.0) -> Health:
        return await self.inner.health(timeout)

    async def close(self) -> None:
        await self.inner.close()
