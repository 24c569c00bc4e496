"""The service's two databases behind one small interface: :class:`Database`.

``async with db.read() as conn`` reads; ``async with db.write() as conn`` is a transaction
(committed when the block ends, rolled back when it raises). Both hand out a
:class:`Connection` whose ``fetch``/``fetchrow``/``fetchval``/``execute``/``executemany`` take
an :class:`~server.db.sql.Sql` statement and its parameters.

**SQLite** (the default: a file, nothing to start). One connection writes and one reads,
both used right on the event loop (see :class:`SqliteDatabase` for why no thread); write
transactions take turns, so no statement ever waits in SQLite's busy handler for another
connection of this process, and in WAL mode the reader never takes the write lock nor
waits for a writer. Statements cannot be cancelled halfway: they run to their end before
the loop does anything else, and a transaction whose block fails (or is cancelled at an
``await``) is rolled back before the next one begins. ``synchronous=NORMAL`` in WAL mode: a
committed transaction survives the server being killed (the operating system holds it
once ``COMMIT`` returns); a power cut or an operating-system crash can lose what was
committed since the last checkpoint (at most about a second: a thread checkpoints every
``checkpoint_interval``), and never corrupts the file.

**PostgreSQL**: an asyncpg pool of a fixed size (``DATABASE_POOL_SIZE``), opened at start and
never shrunk, so nothing connects under load; asyncpg prepares each statement once per
connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from server.db.sql import POSTGRESQL, SQLITE, Sql, as_datetime, sqlite_timestamp

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT = 1.0
"""Seconds the writer waits for a write lock held by another program (this process has one
writer, so only an outside program writing the same file can make it wait)."""
DEFAULT_POOL_SIZE = 10
SQLITE_MINIMUM = (3, 38)
SQLITE_CACHE_KIB = 64 * 1024
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
"""RETURNING (3.35) and the JSON operators (3.38)."""


class Row(Protocol):
    """A result row, read by column name (or position)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class IntegrityError(Exception):
    """A constraint said no. ``constraint`` is its name where the database tells it
    (PostgreSQL always; SQLite for CHECK constraints), ``detail`` the database's message."""

    def __init__(self, detail: str, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.constraint = constraint

    def violates(self, constraint: str, sqlite_columns: str | None = None) -> bool:
        """Whether this is about ``constraint``. SQLite names a UNIQUE constraint by its
        columns (``UNIQUE constraint failed: users.email``), so callers pass that form too."""
        if self.constraint == constraint or constraint in self.detail:
            return True
        return sqlite_columns is not None and sqlite_columns in self.detail

    @property
    def foreign_key(self) -> bool:
        return "foreign key" in self.detail.lower() or (self.constraint or "").startswith("fk_")


class TransactionConflict(Exception):
    """The transaction lost a race with another one (a deadlock, a serialization failure):
    it was rolled back, and running it again may well succeed."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached."""


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` is the database's as a whole (unreachable, closed, its connection
    lost, its file locked by another program) rather than one statement's: the same work
    asked again, in parts, would fail the same way."""
    if isinstance(error, DatabaseUnavailable | OSError | TimeoutError):
        return True
    if isinstance(error, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(error, asyncpg.CannotConnectNowError | asyncpg.AdminShutdownError):
        return True
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class Connection(Protocol):
    dialect: str

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: Sql, *args: Any) -> Any: ...

    async def execute(self, sql: Sql, *args: Any) -> int:
        """Run a statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: Sql, args: Sequence[Sequence[Any]]) -> None: ...


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str


class Database(Protocol):
    dialect: str

    def read(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads, outside any transaction."""
        ...

    def write(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[Connection]:
        """A connection that writes with each statement its own transaction: for a write
        that is one statement (a conditional UPDATE, say), without the round trips of
        BEGIN and COMMIT."""
        ...

    async def health(self, timeout: float = 2.0) -> Health: ...

    async def close(self) -> None: ...


# ================================================================================== SQLite

sqlite3.register_adapter(datetime, sqlite_timestamp)
sqlite3.register_converter("TIMESTAMP", lambda raw: as_datetime(raw))


def _open_sqlite(path: Path, *, writer: bool, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=SQLITE_BUSY_TIMEOUT,
        detect_types=sqlite3.PARSE_DECLTYPES,
        isolation_level=None,  # autocommit: transactions are begun explicitly
        check_same_thread=check_same_thread,
        cached_statements=256,
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    # Pages the loop reads come from memory rather than from a system call each: a larger
    # page cache, and the database file mapped (reads of a mapped page cost no call at all).
    conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    if writer:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints are the checkpointer thread's job, never a commit's (they fsync).
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
    else:
        conn.execute("PRAGMA query_only=ON")
    return conn


def _translate(error: sqlite3.Error) -> Exception:
    if isinstance(error, sqlite3.IntegrityError):
        detail = str(error)
        constraint = None
        if detail.startswith("CHECK constraint failed: "):
            constraint = detail.removeprefix("CHECK constraint failed: ")
        return IntegrityError(detail, constraint)
    return error


class SqliteConnection:
    """Statements run at once, on the calling thread (see :class:`SqliteDatabase`)."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        try:
            return self._conn.execute(sql.sqlite, args).fetchall()
        except sqlite3.Error as error:
            raise _translate(error) from None

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None:
        try:
            row: Row | None = self._conn.execute(sql.sqlite, args).fetchone()
        except sqlite3.Error as error:
            raise _translate(error) from None
        return row

    async def fetchval(self, sql: Sql, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: Sql, *args: Any) -> int:
        try:
            return self._conn.execute(sql.sqlite, args).rowcount
        except sqlite3.Error as error:
            raise _translate(error) from None

    async def executemany(self, sql: Sql, args: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql.sqlite, args)
        except sqlite3.Error as error:
            raise _translate(error) from None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(sqlite3_connection, *args)``: many statements in one go, for code that is
        written for SQLite alone. ``sqlite3.IntegrityError`` comes back as IntegrityError."""
        try:
            return fn(self._conn, *args)
        except sqlite3.Error as error:
            raise _translate(error) from None


class _Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own, on its
    own connection, so that no commit ever waits for the fsyncs a checkpoint does."""

    def __init__(self, path: Path, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = _open_sqlite(self._path, writer=False)
        try:
            while not self._stop.wait(self._interval):
                self._checkpoint(conn, "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")  # on close: leave a small file behind
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            self.last_error = None
        except sqlite3.Error as error:
            self.last_error = str(error)
            log.warning("SQLite checkpoint failed: %s", error)


class SqliteDatabase:
    """SQLite: one connection writes, another reads, both used right on the event loop.

    SQLite is a library doing in-memory work on the caller's thread: a worker thread would
    not run it in parallel with the event loop (the GIL), only hand the GIL back and forth
    once per statement, each time at the cost of a context switch, and at worst a whole
    switch interval when the loop is busy. Measured on the chat's ingest, that doubled the
    CPU per message and multiplied the ack latency. So statements run inline (short ones:
    every query of this service is bounded and indexed), the transactions of the writer
    connection one after the other (an ``asyncio.Lock``), and the one thing that waits for
    the disk, the checkpoint with its fsyncs, runs in a thread of its own. Nothing ever
    waits in SQLite's busy handler for a lock held by this process; only another program
    writing the same file can make the writer wait (``SQLITE_BUSY_TIMEOUT``).
    """

    dialect = SQLITE

    def __init__(self, path: Path, *, checkpoint_interval: float = 1.0) -> None:
        self.path = path
        self._checkpoint_interval = checkpoint_interval
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self._write_lock = asyncio.Lock()
        self._transaction_since: float | None = None
        self._locked_since: float | None = None
        """When writes started failing because another program holds the write lock."""

    async def open(self) -> None:
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            wanted = ".".join(map(str, SQLITE_MINIMUM))
            raise DatabaseUnavailable(
                f"SQLite {sqlite3.sqlite_version} is too old: this service needs {wanted} or newer"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = _open_sqlite(self.path, writer=True)
            self._reader = _open_sqlite(self.path, writer=False)
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open {self.path}: {error}") from error
        self._checkpointer = _Checkpointer(self.path, self._checkpoint_interval)
        self._checkpointer.start()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteConnection]:
        if self._reader is None:
            raise DatabaseUnavailable("the database is not open")
        yield SqliteConnection(self._reader)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteConnection]:
        writer = self._writer
        if writer is None:
            raise DatabaseUnavailable("the database is not open")
        async with self._write_lock:
            self._transaction_since = time.monotonic()
            try:
                self._begin(writer)
                try:
                    yield SqliteConnection(writer)
                except BaseException:
                    if writer.in_transaction:
                        writer.execute("ROLLBACK")
                    raise
                try:
                    writer.execute("COMMIT")
                except sqlite3.Error as error:
                    if writer.in_transaction:
                        writer.execute("ROLLBACK")
                    raise _translate(error) from None
            finally:
                self._transaction_since = None

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[SqliteConnection]:
        writer = self._writer
        if writer is None:
            raise DatabaseUnavailable("the database is not open")
        # The writer's turn all the same: outside a transaction, a statement is its own.
        async with self._write_lock:
            yield SqliteConnection(writer)

    def _begin(self, writer: sqlite3.Connection) -> None:
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            if self._locked_since is None:
                self._locked_since = time.monotonic()
            raise
        self._locked_since = None

    async def health(self, timeout: float = 2.0) -> Health:
        now = time.monotonic()
        if self._locked_since is not None:
            return Health(False, "another program holds the database's write lock")
        if self._transaction_since is not None and now - self._transaction_since > 30:
            return Health(False, "a write transaction has been open for over 30 s")
        try:
            async with self.read() as conn:
                await conn.fetchval(_SCHEMA_VERSION_QUERY)
        except sqlite3.Error as error:
            return Health(False, f"read failed: {error}")
        return Health(True, "ok")

    async def close(self) -> None:
        async with self._write_lock:
            if self._checkpointer is not None:
                await asyncio.to_thread(self._checkpointer.stop)
                self._checkpointer = None
            for conn in (self._reader, self._writer):
                if conn is not None:
                    conn.close()
            self._reader = self._writer = None


# ============================================================================== PostgreSQL


class PostgresConnection:
    dialect = POSTGRESQL

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw
        self.unsettled = False
        """A statement failed on it: see :func:`_translated`."""

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        with _translated(self):
            return list(await self.raw.fetch(sql.postgresql, *args))

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None:
        with _translated(self):
            row: Row | None = await self.raw.fetchrow(sql.postgresql, *args)
            return row

    async def fetchval(self, sql: Sql, *args: Any) -> Any:
        with _translated(self):
            return await self.raw.fetchval(sql.postgresql, *args)

    async def execute(self, sql: Sql, *args: Any) -> int:
        with _translated(self):
            status = await self.raw.execute(sql.postgresql, *args)
        # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word.
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: Sql, args: Sequence[Sequence[Any]]) -> None:
        with _translated(self):
            await self.raw.executemany(sql.postgresql, args)


@contextmanager
def _translated(conn: PostgresConnection) -> Iterator[None]:
    """asyncpg's errors in the terms of this module."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        detail = str(error)
        if isinstance(error, asyncpg.ForeignKeyViolationError):
            detail = f"FOREIGN KEY constraint failed: {detail}"
        raise IntegrityError(detail, getattr(error, "constraint_name", None)) from None
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as error:
        raise TransactionConflict(str(error)) from None
    except BaseException:
        # Some of these come from the server, which is then ready for the next command;
        # others from the driver, with the server maybe not: asyncpg raises its DataError
        # for a parameter it cannot encode after the statement was prepared, and the server
        # holds that statement's locks until the next command ends its implicit
        # transaction. Failures are rare: settle the connection whatever it was.
        conn.unsettled = True
        raise


class PostgresDatabase:
    dialect = POSTGRESQL

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        dsn, search_path = _split_search_path(self.url)
        settings = {"search_path": search_path} if search_path else {}
        try:
            self._pool = await asyncpg.create_pool(
                dsn,
                min_size=self.pool_size,
                max_size=self.pool_size,
                # Connections stay open however idle or old: nothing connects under load.
                max_inactive_connection_lifetime=0,
                max_queries=2**31,
                statement_cache_size=512,
                server_settings=settings,
                # The service never changes a connection's session state (no SET, no LISTEN,
                # no session advisory lock, no cursor left open), so a connection coming
                # back to the pool needs no RESET round trip; an open transaction is still
                # rolled back by asyncpg itself, and a connection on which a statement
                # failed is settled before it goes back (see _translated).
                reset=_keep_session,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise DatabaseUnavailable(f"cannot reach the database: {error}") from error

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseUnavailable("the database is not open")
        return self._pool

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PostgresConnection]:
        async with self.pool.acquire() as raw:
            conn = PostgresConnection(raw)
            try:
                yield conn
            finally:
                if conn.unsettled:
                    await _settle(raw)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[PostgresConnection]:
        async with self.pool.acquire() as raw, raw.transaction():
            yield PostgresConnection(raw)

    def autocommit(self) -> AbstractAsyncContextManager[PostgresConnection]:
        return self.read()

    async def health(self, timeout: float = 2.0) -> Health:
        try:
            async with asyncio.timeout(timeout), self.read() as conn:
                await conn.fetchval(_SCHEMA_VERSION_QUERY)
        except TimeoutError:
            return Health(False, f"no answer within {timeout} s")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            return Health(False, f"read failed: {error}")
        return Health(True, "ok")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


async def _settle(raw: asyncpg.Connection) -> None:
    """End whatever a failed statement left open on the server, before the connection goes
    back to the pool (a transaction's rollback does this by itself)."""
    try:
        await raw.execute("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.CancelledError):
        # Unreachable, or cancelled again: terminating it is the safe way to settle it.
        raw.terminate()


def _split_search_path(url: str) -> tuple[str, str | None]:
    """``postgresql://…/db?search_path=name`` keeps the tables in one schema of a shared
    database (the tests use a fresh schema each); asyncpg wants it as a server setting."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    search_path = next((value for key, value in query if key == "search_path"), None)
    rest = [(key, value) for key, value in query if key != "search_path"]
    return urlunsplit(parts._replace(query=urlencode(rest))), search_path


_SCHEMA_VERSION_QUERY = Sql("SELECT max(version) FROM schema_version")
