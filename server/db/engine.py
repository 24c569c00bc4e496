"""Engines for SQLite (aiosqlite) and PostgreSQL (asyncpg), and applying schema.sql."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.config import is_sqlite, sqlite_path
from server.db.schema import SCHEMA_VERSION, schema_version

log = logging.getLogger(__name__)

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "schema.sql"
# Any constant works; it only has to be the same for every node applying the schema.
_SCHEMA_LOCK_KEY = 0x7469636B


# The names the rest of the service uses for these types, so that only server/db imports
# sqlalchemy.
DbEngine = AsyncEngine
DbConnection = AsyncConnection


class SchemaVersionError(RuntimeError):
    """The database was made for another version of this service."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached at start."""


def make_engine(database_url: str) -> AsyncEngine:
    if is_sqlite(database_url):
        sqlite_path(database_url).parent.mkdir(parents=True, exist_ok=True)
        # How long a connection waits for another one's write lock before giving up.
        engine = create_async_engine(database_url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    url = make_url(database_url)
    connect_args: dict[str, Any] = {}
    search_path = url.query.get("search_path")
    if isinstance(search_path, str):
        # postgresql://…/db?search_path=name keeps the tables in one schema of a shared
        # database (the tests use a fresh schema each); asyncpg wants it as a server setting.
        connect_args["server_settings"] = {"search_path": search_path}
        url = url.difference_update_query(["search_path"])
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Enforce foreign keys, and make every transaction take the write lock when it begins.

    Python's sqlite3 module begins transactions lazily and as DEFERRED; two such transactions
    that read and then write deadlock, and SQLite fails one at once with "database is locked"
    instead of waiting. BEGIN IMMEDIATE makes them queue for the lock instead, which is what
    keeps races (two assigns of one ticket, two sign ups) clean on SQLite.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, emits BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection inside a transaction that commits on success and rolls back on error."""
    return engine.begin()


def schema_statements(sql: str | None = None) -> Iterator[str]:
    """The statements of schema.sql (full-line comments removed, split on ``;``)."""
    text = SCHEMA_SQL.read_text(encoding="utf-8") if sql is None else sql
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for statement in code.split(";"):
        if statement.strip():
            yield statement.strip()


async def apply_schema(engine: AsyncEngine) -> None:
    """Create the tables from schema.sql if they are missing, then check the schema version."""
    try:
        version = await _apply_schema(engine)
    except (OperationalError, InterfaceError, OSError) as error:
        raise DatabaseUnavailable(f"cannot reach the database: {error}") from error
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database has schema version {version}, this service needs {SCHEMA_VERSION}"
        )


async def _apply_schema(engine: AsyncEngine) -> int | None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several nodes starting at once: one creates the tables, the others wait and see.
            await conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        if not await conn.run_sync(lambda sync: inspect(sync).has_table("schema_version")):
            log.info("creating the database tables from %s", SCHEMA_SQL.name)
            for statement in schema_statements():
                await conn.exec_driver_sql(statement)
        version = (await conn.execute(select(func.max(schema_version.c.version)))).scalar()
    return None if version is None else int(version)


async def database_is_reachable(engine: AsyncEngine, *, timeout: float = 2.0) -> bool:
    """A round trip to the database that reads the service's own schema, for health checks."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(select(func.max(schema_version.c.version)))
    except (SQLAlchemyError, OSError, TimeoutError):
        log.warning("health check: the database is unreachable", exc_info=True)
        return False
    return True


def describe_database(database_url: str) -> str:
    """The URL with its password masked, for logs."""
    return make_url(database_url).render_as_string(hide_password=True)
